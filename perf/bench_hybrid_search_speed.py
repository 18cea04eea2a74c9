"""Speed of the zero-shot search in HybridSegSpace (target: 1,000 candidates scored
in <= 15 min on 2 cores).

Uses exactly the notebook-03 setting (:mod:`nascore.experiments.search_hybrid`): the live
``hybrid`` proxy at the reduced proxy resolution (default 64 px, batch 8, 3 channels, tumour
slices: LGG when present, else SYNTHETIC) and the FLOPs cost function (per-piece FLOPs table,
budget 0.5 x HCT-Net-like), resolution fixed at 128. No score cache, so every candidate is
really scored.

1. **serial** (one process, ``--threads`` torch threads): samples architectures until ``--n``
   are within the FLOPs budget; times the cost function on every proposal and the proxy on
   every feasible one.
2. **pool** (``--workers`` processes, 1 torch thread each; skipped with ``--workers 0``): a
   random search of ``--n`` evaluations with a ``ProcessPoolExecutor``, wall time end to end
   (costs are computed in the main process, proxies on the workers).

The FLOPs of every piece of the space are counted once first (``SegCostFn.prefill``; the
notebook keeps this table in its cache folder), so each cost call only sums table entries and
builds the model on the ``meta`` device for params.

Extrapolation to 1,000 scored candidates: serial = prefill + 1000 x (proxy time + cost time x
proposals per scored candidate); pool = prefill + 1000 x pool wall / n. The 2-core figure is
the pool with 2 workers.
The machine's load average is recorded: on a shared machine the pool cannot beat serial.
Writes ``reports/benchmarks/hybrid_search_speed.json`` (with provenance) and prints a summary.
Usage: ``python perf/bench_hybrid_search_speed.py [--n 20] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from nascore.experiments import search_hybrid as SH
from nascore.paths import repo_root
from nascore.provenance import write_metrics
from nascore.search import STRATEGIES
from nascore.search.objectives import HybridSegBuilder, ProxyObjective

TARGET_S = 15 * 60


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20, help="scored candidates per mode")
    ap.add_argument("--workers", type=int, default=2, help="process-pool workers (0: skip)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the serial run")
    ap.add_argument("--resolution", type=int, default=64, help="proxy resolution (px)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    batch, info = SH.load_tumour_batch(args.batch, args.resolution, args.seed, "auto")
    cfg = SH.HybridSearchConfig(strategy="random", settings={"batch_size": 2 * max(args.workers, 1)},
                                budget=args.n, seed=args.seed, proxy_resolution=args.resolution,
                                batch_size=args.batch, in_channels=info["channels"])
    obj = ProxyObjective(cfg.proxy, HybridSegBuilder(cfg.in_channels, cfg.out_channels), batch,
                         seed=cfg.seed, resize=False)
    cons = cfg.constraints()
    space = cfg.space()

    # --- one-off: count the FLOPs of every piece of the space (kept on disk by the notebook)
    cost_fn = SH.SegCostFn(cfg.in_channels, cfg.out_channels)
    t0 = time.perf_counter()
    n_pieces = cost_fn.prefill(space)
    for r in space.resolutions:
        cost_fn.baseline_flops(r)
    prefill_s = time.perf_counter() - t0
    print(f"FLOPs table: {n_pieces} pieces counted once in {prefill_s:.1f} s")

    # --- serial -----------------------------------------------------------------------
    rng = np.random.default_rng(args.seed)
    cost_t, proxy_t, n_prop, failed = [], [], 0, 0
    t0 = time.perf_counter()
    while len(proxy_t) < args.n:
        arch = space.sample(rng)
        n_prop += 1
        t = time.perf_counter()
        c = cost_fn(arch)
        cost_t.append(time.perf_counter() - t)
        if not cons.feasible(c):
            continue
        t = time.perf_counter()
        try:
            obj(arch)
        except RuntimeError:
            failed += 1
        proxy_t.append(time.perf_counter() - t)
    serial_wall = time.perf_counter() - t0
    per_scored = n_prop / args.n
    serial_est = prefill_s + 1000 * (statistics.fmean(proxy_t) + statistics.fmean(cost_t) * per_scored)
    out = {"n": args.n, "data": info["source"], "synthetic": info["synthetic"],
           "proxy_resolution": args.resolution, "batch": args.batch,
           "flops_table": {"pieces": n_pieces, "prefill_s": prefill_s},
           "serial": {"threads": args.threads, "wall_s": serial_wall, "proposals": n_prop,
                      "proposals_per_scored": per_scored, "failed": failed,
                      "proxy_s_median": statistics.median(proxy_t),
                      "proxy_s_mean": statistics.fmean(proxy_t),
                      "cost_s_mean": statistics.fmean(cost_t),
                      "est_1000_s": serial_est},
           "target_s": TARGET_S}
    print(f"serial ({args.threads} thread): {args.n} scored / {n_prop} proposals in {serial_wall:.1f} s; "
          f"proxy {statistics.fmean(proxy_t):.2f} s, cost {statistics.fmean(cost_t):.2f} s per call "
          f"-> 1,000 scored ~ {serial_est / 60:.1f} min")

    # --- process pool -----------------------------------------------------------------
    if args.workers > 0:
        with ProcessPoolExecutor(args.workers, initializer=torch.set_num_threads, initargs=(1,)) as ex:
            t0 = time.perf_counter()
            h = STRATEGIES.get("random")(**cfg.settings).run(
                space, obj, args.n, np.random.default_rng(args.seed + 1), executor=ex,
                constraints=cons, cost_fn=cost_fn)
            wall = time.perf_counter() - t0
        n_ok = len(h.records)
        est = prefill_s + 1000 * wall / max(n_ok, 1)
        out["pool"] = {"workers": args.workers, "wall_s": wall, "scored": n_ok,
                       "rejected": h.n_rejected, "failed": h.n_failed, "est_1000_s": est}
        print(f"pool ({args.workers} workers): {n_ok} scored, {h.n_rejected} rejected in {wall:.1f} s "
              f"-> 1,000 scored ~ {est / 60:.1f} min")
    out["loadavg_1m_5m_15m"] = list(os.getloadavg())
    out["cpu_count"] = os.cpu_count()
    key = "pool" if "pool" in out and args.workers == 2 else "serial"
    out["est_1000_s_2cores"] = out[key]["est_1000_s"] if key == "pool" else None
    out["meets_target"] = (out["est_1000_s_2cores"] is not None
                           and out["est_1000_s_2cores"] <= TARGET_S)
    path = repo_root() / "reports" / "benchmarks" / "hybrid_search_speed.json"
    write_metrics(path, out, vars(args), args.seed)
    print(f"2-core estimate: {out['est_1000_s_2cores'] and out['est_1000_s_2cores'] / 60:.1f} min "
          f"(target {TARGET_S / 60:.0f} min) -> {path.relative_to(repo_root())}")


if __name__ == "__main__":
    main()
