"""Search throughput of the zero-shot hybrid-space search, end to end.

One command measures, in one run on one machine:

1. **Modes.** A real ``--n``-candidate search in ``HybridSegSpace`` at notebook 03's setting
   (:mod:`nascore.experiments.search_hybrid`: regularized evolution, population 20,
   tournament 5, FLOPs budget 0.5 x HCT-Net-like at 128 px, live ``hybrid`` proxy at 64 px,
   batch 8 of tumour slices; no score cache, so every candidate is really scored), with
   ``batch_size`` 2 children per cycle in every mode so that the histories are identical,
   on each of ``--modes``:

   * ``serial``: one process, one torch thread;
   * ``pool2``: a warm process pool of 2 workers, one torch thread each
     (:func:`nascore.search.workers.search_executor`);
   * ``dask2``: a Dask ``LocalCluster`` of 2 worker processes (``--dask ADDRESS`` or
     ``$NASCORE_DASK_SCHEDULER`` sends ``dask2`` to a running cluster instead).

   Each mode runs in a fresh child process and records wall time (of the search;
   ``startup_s``: starting the workers and their imports, before it; ``wall_total_s``: both
   and the shutdown), CPU time (this process plus every worker process, startup included),
   peak RSS (the largest sum over the process tree, sampled every
   0.25 s, and the main process's own peak), and the history's counts: evaluations actually
   spent, proposals, cache hits, rejections (over the FLOPs budget) and failures.
2. **Profile.** A serial run of ``--profile-n`` candidates under ``cProfile``; the top costs
   (cumulative time) go to ``<out stem>_profile.txt`` and into the JSON.
3. **Proxy vs training.** For ``--epoch-nets`` of the evaluated networks: the proxy's cost
   (one call, one thread) and one training epoch of the same network at the same resolution
   (the proxy's, ``--epoch-resolution`` to change it) on the same data with the notebook-04
   training loop (:func:`nascore.seg.train.train_model`, batch 16, the train split); the
   ratio epoch / proxy per network and epoch / (search wall per candidate) per mode.
   ``--epoch-steps`` times only that many steps and scales them to the epoch (recorded).
4. **Scaling.** Wall time, CPU and memory against the number of candidates
   (``--scaling``, default 100, 1,000, 10,000) with a cheap proxy (``--scaling-proxy``,
   default ``params``) on ``--scaling-modes``.

The cost tables (FLOPs and params per piece, :class:`nascore.seg.cost.SegCostFn`)
are filled once first for every piece of the space (timed; ``--no-prefill`` fills them
lazily instead), then shared by the runs, so every run costs its candidates by table sums.

Writes ``reports/benchmarks/search_throughput.json`` (``--out``; with provenance: config,
seed, git SHA, time, machine, load average), ``search_throughput.png`` beside it (wall time
against candidates and per mode) and the profile text. Usage::

    python perf/search_throughput.py                      # the full measurement
    python perf/search_throughput.py --n 10 --scaling 10,20 --epoch-steps 2 \\
        --no-prefill --data synthetic --out scratch/search_throughput.json   # a quick check

Run it on an idle machine: wall times on a loaded machine measure the load.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

MODES = {"serial": (1, None), "pool2": (2, None), "dask2": (2, "local")}
DEFAULT_OUT = Path("reports") / "benchmarks" / "search_throughput.json"


# ----------------------------------------------------------------------------- measuring
class TreeMonitor(threading.Thread):
    """Samples the RSS and CPU time of this process and all its descendants (psutil)."""

    def __init__(self, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        import psutil

        self.proc, self.interval = psutil.Process(), interval
        self.peak_rss = 0
        self.child_cpu: Dict[int, float] = {}  # pid -> last seen user + sys seconds
        self._halt = threading.Event()

    def sample(self) -> None:
        import psutil

        rss = 0
        procs = [self.proc]
        try:
            procs += self.proc.children(recursive=True)
        except psutil.Error:
            pass
        for p in procs:
            try:
                rss += p.memory_info().rss
                if p.pid != self.proc.pid:
                    t = p.cpu_times()
                    self.child_cpu[p.pid] = t.user + t.system
            except psutil.Error:
                continue
        self.peak_rss = max(self.peak_rss, rss)

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self.sample()
        self._halt.set()
        self.join()


def _cpu(who) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _mb(kib_or_bytes: float, bytes_: bool = False) -> float:
    return kib_or_bytes / 2 ** 20 if bytes_ else kib_or_bytes / 1024


# ----------------------------------------------------------------------------- one search
def setup(spec: Dict[str, Any], n: int, proxy: str):
    """(cfg, objective, cost_fn, data info) of notebook 03's hybrid search."""
    from nascore.experiments import search_hybrid as SH
    from nascore.search.objectives import HybridSegBuilder, ProxyObjective

    cfg = SH.HybridSearchConfig(strategy="evolution", settings=dict(spec["settings"]),
                                budget=int(n), seed=spec["seed"], proxy=proxy,
                                proxy_resolution=spec["proxy_resolution"],
                                batch_size=spec["proxy_batch"], data=spec["data"])
    batch, info = SH.load_tumour_batch(cfg.batch_size, cfg.proxy_resolution, cfg.seed, cfg.data)
    cfg.in_channels = int(info["channels"])
    obj = ProxyObjective(proxy, HybridSegBuilder(cfg.in_channels, cfg.out_channels), batch,
                         seed=cfg.seed, resize=False)  # no score cache: every candidate scored
    cost = SH.SegCostFn(cfg.in_channels, cfg.out_channels, spec["lut_path"])
    return cfg, obj, cost, info


def run_search(spec: Dict[str, Any]) -> Dict[str, Any]:
    """One search in this (fresh) process: ``spec`` = mode, n, proxy, profile, ... ."""
    import torch

    from nascore.experiments import search_hybrid as SH
    from nascore.search.workers import search_executor, warm_up

    torch.set_num_threads(1)
    cfg, obj, cost, info = setup(spec, spec["n"], spec["proxy"])
    pieces0 = len(cost.lut().entries) + len(cost.params_lut().entries)
    workers, dask = MODES[spec["mode"]]
    dask = (spec.get("dask_address") or dask) if dask else ""  # "": never Dask
    mon = TreeMonitor()
    mon.start()
    prof = cProfile.Profile() if spec.get("profile") else None
    c_self, c_child = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with search_executor(workers, dask) as ex:
        n_warm = warm_up(ex, workers, threads=1)
        startup = time.perf_counter() - t0
        w0 = time.perf_counter()
        if prof:
            prof.enable()
        h = SH.run_hybrid_search(cfg, obj, cost, None, executor=ex, dask="")
        if prof:
            prof.disable()
        wall = time.perf_counter() - w0
    wall_total = time.perf_counter() - t0
    cpu_self = _cpu(resource.RUSAGE_SELF) - c_self
    cpu_reaped = _cpu(resource.RUSAGE_CHILDREN) - c_child
    mon.stop()
    cpu_children = max(cpu_reaped, sum(mon.child_cpu.values()))
    walls = [r.wall_s for r in h.records if r.ok]
    s = h.summary()
    out = {"mode": spec["mode"], "workers": workers, "dask": dask, "proxy": spec["proxy"],
           "n_target": spec["n"], "wall_s": wall, "startup_s": startup,
           "wall_total_s": wall_total, "workers_started": n_warm,
           "cpu_s": cpu_self + cpu_children,
           "cpu_main_s": cpu_self, "cpu_workers_s": cpu_children,
           "peak_rss_tree_mb": _mb(mon.peak_rss, bytes_=True),
           "peak_rss_main_mb": _mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
           "wall_per_eval_s": wall / max(s["n_evals"], 1),
           "objective_s_median": statistics.median(walls) if walls else None,
           "objective_s_mean": statistics.fmean(walls) if walls else None,
           "cost_table_pieces": {"at_start": pieces0, "counted_during_search": len(
               cost.lut().entries) + len(cost.params_lut().entries) - pieces0},
           "data": info["source"], "synthetic": bool(info["synthetic"]), **s}
    out["history_sha1"] = hashlib.sha1("\n".join(
        f"{r.arch_id} {r.status}" for r in h.records).encode()).hexdigest()
    out["archs"] = [r.arch_json for r in h.records if r.ok][: spec.get("keep_archs", 0)]
    if prof:
        buf = io.StringIO()
        st = pstats.Stats(prof, stream=buf).sort_stats("cumulative")
        st.print_stats(40)
        out["profile_text"] = buf.getvalue()
        rows = []
        for (fn, line, name), (cc, nc, tt, ct, _) in st.stats.items():
            rows.append({"function": f"{Path(fn).name}:{line}({name})", "calls": nc,
                         "tottime_s": tt, "cumtime_s": ct})
        rows.sort(key=lambda r: -r["cumtime_s"])
        out["profile_top"] = rows[:25]
        out["profile_top_tottime"] = sorted(rows, key=lambda r: -r["tottime_s"])[:15]
    return out


def prefill(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Counts the FLOPs and params of every piece of the space once (one-off; notebook 03
    keeps this table in its cache folder) and saves the tables for the runs."""
    import torch

    torch.set_num_threads(1)
    cfg, _, cost, _ = setup(spec, 1, "params")
    t0 = time.perf_counter()
    n = cost.prefill(cfg.space())
    for r in cfg.space().resolutions:
        cost.baseline_flops(r)
    cost.save()
    return {"flops_pieces": n, "params_pieces": len(cost.params_lut().entries),
            "wall_s": time.perf_counter() - t0}


# ----------------------------------------------------------------------------- proxy vs epoch
def proxy_vs_epoch(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Proxy cost and one training epoch of the same networks at the same resolution."""
    import torch

    from nascore.arch import HybridSegArch
    from nascore.build import build_model
    from nascore.seg.data import make_loaders
    from nascore.seg.datasets import load_dataset
    from nascore.seg.train import train_model

    torch.set_num_threads(1)
    cfg, obj, _, info = setup(spec, 1, "hybrid")
    res = int(spec["epoch_resolution"] or cfg.proxy_resolution)
    recs, di = load_dataset(cfg.data, resolution=res,
                            synthetic={"n_patients": 6, "slices_per_patient": 8,
                                       "seed": cfg.seed})
    loaders = make_loaders(recs, res, batch_size=spec["epoch_batch"], seed=cfg.seed)
    train = loaders["train"]
    steps_per_epoch = len(train)
    rows = []
    for aj in spec["archs"][: spec["epoch_nets"]]:
        arch = HybridSegArch.from_json(aj)
        obj(arch)  # warm-up (imports, allocator)
        t = time.perf_counter()
        obj(arch)
        proxy_s = time.perf_counter() - t
        torch.manual_seed(cfg.seed)
        net = build_model(arch, cfg.in_channels, cfg.out_channels)
        steps = spec["epoch_steps"] or steps_per_epoch
        t = time.perf_counter()
        train_model(net, train, None, steps=min(steps, steps_per_epoch), progress=False,
                    restore_best=False, device="cpu", seed=cfg.seed)
        measured = time.perf_counter() - t
        n_meas = min(steps, steps_per_epoch)
        epoch_s = measured * steps_per_epoch / n_meas
        rows.append({"arch_id": arch.arch_id, "proxy_s": proxy_s, "epoch_s": epoch_s,
                     "epoch_steps_measured": n_meas, "ratio_epoch_over_proxy": epoch_s / proxy_s})
    return {"resolution": res, "proxy_resolution": cfg.proxy_resolution,
            "proxy_batch": cfg.batch_size, "train_batch": spec["epoch_batch"],
            "train_records": len(loaders["splits"]["train"]), "steps_per_epoch": steps_per_epoch,
            "data": di["label"], "synthetic": bool(di["synthetic"]), "nets": rows,
            "ratio_median": statistics.median([r["ratio_epoch_over_proxy"] for r in rows])
            if rows else None,
            "epoch_s_median": statistics.median([r["epoch_s"] for r in rows]) if rows else None}


# ----------------------------------------------------------------------------- driver
def child(kind: str, spec: Dict[str, Any], timeout: Optional[float] = None) -> Dict[str, Any]:
    """Runs ``kind`` (``search`` or ``epoch``) in a fresh Python process; returns its JSON."""
    with tempfile.TemporaryDirectory() as td:
        out = Path(td) / "out.json"
        env = dict(os.environ, OMP_NUM_THREADS="1")
        root = str(Path(__file__).resolve().parents[1])  # the checkout's nascore first
        env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
        cmd = [sys.executable, __file__, "--child", kind, json.dumps(spec), str(out)]
        subprocess.run(cmd, check=True, env=env, timeout=timeout)
        return json.loads(out.read_text())


def figure(result: Dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nascore.provenance import save_figure

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    by_mode: Dict[str, List] = {}
    for r in result.get("scaling", []):
        by_mode.setdefault(r["mode"], []).append(r)
    for mode, rs in by_mode.items():
        rs = sorted(rs, key=lambda r: r["n_evals"])
        a.plot([r["n_evals"] for r in rs], [r["wall_s"] for r in rs], "o-",
               label=f"{mode} ({rs[0]['proxy']})")
    a.set(xscale="log", yscale="log", xlabel="candidates scored", ylabel="wall time (s)",
          title="scaling (cheap proxy)")
    if by_mode:
        a.legend()
    modes = result.get("modes", [])
    if modes:
        x = range(len(modes))
        b.bar(x, [m["wall_s"] for m in modes], color="C0", label="wall")
        b.bar(x, [m["cpu_s"] for m in modes], color="none", edgecolor="C3", label="CPU")
        b.set_xticks(list(x), [f"{m['mode']}\n{m['peak_rss_tree_mb']:.0f} MB" for m in modes])
        b.set(ylabel="seconds", title=f"{modes[0]['n_evals']} candidates, {modes[0]['proxy']}")
        b.legend()
    fig.suptitle("zero-shot hybrid-space search throughput")
    save_figure(fig, path)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="candidates scored per mode")
    ap.add_argument("--modes", default="serial,pool2,dask2")
    ap.add_argument("--dask", default=None, help="scheduler address for dask2 (default: "
                    "$NASCORE_DASK_SCHEDULER, else a LocalCluster)")
    ap.add_argument("--proxy", default="hybrid")
    ap.add_argument("--proxy-resolution", type=int, default=64)
    ap.add_argument("--proxy-batch", type=int, default=8)
    ap.add_argument("--population", type=int, default=20)
    ap.add_argument("--sample", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=2, help="evolution children per cycle")
    ap.add_argument("--data", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile-n", type=int, default=100, help="candidates of the profiled "
                    "serial run (0: skip)")
    ap.add_argument("--epoch-nets", type=int, default=3, help="networks timed for proxy vs "
                    "epoch (0: skip)")
    ap.add_argument("--epoch-resolution", type=int, default=None,
                    help="training resolution (default: the proxy resolution)")
    ap.add_argument("--epoch-batch", type=int, default=16)
    ap.add_argument("--epoch-steps", type=int, default=None,
                    help="time only this many steps and scale to the epoch (default: all)")
    ap.add_argument("--scaling", default="100,1000,10000", help="candidate counts ('' skips)")
    ap.add_argument("--scaling-proxy", default="params")
    ap.add_argument("--scaling-modes", default="serial,pool2")
    ap.add_argument("--no-prefill", action="store_true", help="fill the cost tables lazily "
                    "(the first run pays for the pieces it meets) instead of counting every "
                    "piece of the space once first")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--child", nargs=3, metavar=("KIND", "SPEC", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        kind, spec, out = args.child
        fn = {"search": run_search, "epoch": proxy_vs_epoch, "prefill": prefill}[kind]
        Path(out).write_text(json.dumps(fn(json.loads(spec))))
        return {}

    from nascore.paths import repo_root
    from nascore.provenance import write_metrics

    out = args.out or repo_root() / DEFAULT_OUT
    modes = [m for m in args.modes.split(",") if m]
    scaling_modes = [m for m in args.scaling_modes.split(",") if m]
    for m in modes + scaling_modes:
        if m not in MODES:
            raise SystemExit(f"unknown mode {m!r}; choose from {sorted(MODES)}")
    dask_address = args.dask or os.environ.get("NASCORE_DASK_SCHEDULER")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.TemporaryDirectory()  # the cost tables, shared by the runs, then removed
    lut = Path(tmp.name) / "flops_lut.json"
    base = {"settings": {"population": args.population, "sample": args.sample,
                         "batch_size": args.batch_size},
            "seed": args.seed, "proxy_resolution": args.proxy_resolution,
            "proxy_batch": args.proxy_batch, "data": args.data, "lut_path": str(lut),
            "dask_address": dask_address}
    t_all = time.perf_counter()
    result: Dict[str, Any] = {"modes": [], "scaling": []}
    if not args.no_prefill:
        print("[search_throughput] cost tables: every piece of the space, once", flush=True)
        result["cost_table_prefill"] = child("prefill", base)
    for m in modes:
        print(f"[search_throughput] {m}: {args.n} candidates, proxy {args.proxy}", flush=True)
        r = child("search", dict(base, mode=m, n=args.n, proxy=args.proxy,
                                 keep_archs=args.epoch_nets))
        result["modes"].append(r)
        print(f"  wall {r['wall_s']:.1f} s, cpu {r['cpu_s']:.1f} s, peak RSS "
              f"{r['peak_rss_tree_mb']:.0f} MB, {r['n_evals']} evals / {r['n_proposed']} "
              f"proposals ({r['n_rejected']} rejected, {r['n_cached']} cached, "
              f"{r['n_failed']} failed), stop: {r['stop_reason']}", flush=True)
    result["same_history_in_every_mode"] = len({r["history_sha1"] for r in result["modes"]}) <= 1
    if not result["same_history_in_every_mode"]:
        print("  WARNING: modes evaluated different architectures", flush=True)
    if args.profile_n > 0:
        print(f"[search_throughput] profile: serial, {args.profile_n} candidates", flush=True)
        p = child("search", dict(base, mode="serial", n=args.profile_n, proxy=args.proxy,
                                 profile=True))
        text = p.pop("profile_text")
        prof_path = out.with_name(f"{out.stem}_profile.txt")
        from nascore.provenance import atomic_write_text

        atomic_write_text(prof_path, f"# cProfile of a serial {args.profile_n}-candidate search "
                          f"(proxy {args.proxy}); wall {p['wall_s']:.1f} s\n" + text)
        result["profile"] = {"file": prof_path.name, "n": args.profile_n, "wall_s": p["wall_s"],
                             "top_cumulative": p["profile_top"],
                             "top_tottime": p["profile_top_tottime"]}
    archs = next((r["archs"] for r in result["modes"] if r["archs"]), [])
    if args.epoch_nets > 0 and archs:
        print(f"[search_throughput] proxy vs one training epoch: {args.epoch_nets} nets",
              flush=True)
        e = child("epoch", dict(base, archs=archs, epoch_nets=args.epoch_nets,
                                epoch_resolution=args.epoch_resolution,
                                epoch_batch=args.epoch_batch, epoch_steps=args.epoch_steps))
        for r in result["modes"]:
            r["ratio_epoch_over_wall_per_eval"] = (e["epoch_s_median"] / r["wall_per_eval_s"]
                                                   if e["epoch_s_median"] else None)
        result["proxy_vs_epoch"] = e
        print(f"  epoch / proxy (median over nets): {e['ratio_median']:.1f}", flush=True)
    for n in [int(v) for v in args.scaling.split(",") if v.strip()]:
        for m in scaling_modes:
            print(f"[search_throughput] scaling: {m}, {n} candidates, proxy "
                  f"{args.scaling_proxy}", flush=True)
            r = child("search", dict(base, mode=m, n=n, proxy=args.scaling_proxy))
            r.pop("archs", None)
            result["scaling"].append(r)
            print(f"  wall {r['wall_s']:.1f} s, peak RSS {r['peak_rss_tree_mb']:.0f} MB",
                  flush=True)
    for r in result["modes"]:
        r.pop("archs", None)
    result["total_wall_s"] = time.perf_counter() - t_all
    result["machine"] = {"cpu_count": os.cpu_count(), "loadavg_1m_5m_15m": list(os.getloadavg())}
    result["command"] = "python perf/search_throughput.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    cfg = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
           if k != "child"}
    write_metrics(out, result, cfg, args.seed)
    figure(result, out.with_suffix(".png"))
    tmp.cleanup()
    print(f"[search_throughput] wrote {out} and {out.with_suffix('.png').name}", flush=True)
    return result


if __name__ == "__main__":
    main()
