"""Cost of the ``hybrid`` proxies (v3 ``hybrid``, ``hybrid_v2`` and ``hybrid_v1``) relative to one
forward+backward of the same net.

For each net, in one run and on the same machine, measures the median wall time of
(a) one training-style forward+backward (task loss, train mode, gradients w.r.t. all weights)
and (b) ``nascore.proxies.score(proxy, ...)`` (including the harness's copy and re-init),
and reports the ratio b/a per proxy (target <= 2). ``snip`` is timed beside them: it is
``hybrid_v2``'s task-data pass alone (one forward+backward of the task loss), so ``hybrid_v2``
minus ``snip`` is what its noise passes and fixed per-call work cost; v3 ``hybrid`` is those
noise passes and fixed work without the SNIP pass.

Two sets of nets (defined in :mod:`nascore.experiments.hybrid_protocol.cost`, whose measured
cost check times candidate rules on the same nets):

* ``nets`` (batch 16, as first published): an NB201 cell network (C=16, N=5) on (16, 3, 32, 32);
  the hybrid U-shaped segmentation net of ``example_arch("hybrid", 128)`` at 128x128, 1 output
  channel (BCE); an AutoFormer-Ti-sized ViT (embed 192, depth 12, 3 heads, MLP ratio 4), 32x32.
* ``as_used``: the settings the proxy is scored at in this project: NB201 at the live search's
  batch 16 (notebook 03) and at notebook 02's full-profile batch 64, the ViT at notebook 02's
  batch 32, and hybrid segmentation nets at the hybrid-space search's setting (64x64, 8 slices):
  ``example_arch("hybrid", 64)`` and three candidates drawn uniformly from the searched space
  (``HybridSegSpace(resolutions=(128,))``, seed 0). Small nets and small batches make the fixed
  per-call work a larger share, hence a larger ratio.

Beside each ratio, the two fixed parts a value-preserving trim could remove are timed on their
own: ``copy_s`` (the harness's ``copy.deepcopy`` of the net) and ``discovery_s`` (the batch-1
structure pass of :func:`nascore.proxies.layers.discover`); ``<proxy>_without_fixed_ratio`` is
the ratio of ``hybrid`` and ``hybrid_v2`` with both taken off.

Writes ``reports/benchmarks/hybrid_cost.json`` (with provenance) and prints a table.
Usage: ``python perf/bench_hybrid_cost.py [--batch 16] [--repeats 5] [--threads 1]
[--proxies hybrid hybrid_v2 hybrid_v1 snip]``.
One thread by default: on the shared 2-core machine, 2 OpenMP threads competing with other
processes made every op 3-5x slower and the small eigen-solves 50x slower (noise, not cost).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from nascore.experiments.hybrid_protocol.cost import AS_USED, N_CANDIDATES, fwd_bwd, nets, nets_as_used
from nascore.paths import repo_root
from nascore.provenance import write_metrics
from nascore.proxies import score
from nascore.proxies.layers import discover


def _median_s(fn, repeats: int) -> float:
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def measure(model, batch, proxies, repeats: int) -> dict:
    """Median seconds of one forward+backward and of each proxy, their ratios, and the fixed
    parts ``copy_s`` and ``discovery_s`` (see the module docstring)."""
    fwd_bwd(model, batch)  # warm-up
    for p in proxies:
        score(p, model, batch, seed=0)
    fb, t = [], {p: [] for p in proxies}
    for r in range(repeats):  # interleaved, so machine noise hits all alike
        fb.append(fwd_bwd(model, batch))
        for p in proxies:
            out = score(p, model, batch, seed=r)
            if not out.ok:
                raise RuntimeError(f"{p} failed: {out.error}")
            t[p].append(out.time_s)
    m_fb = statistics.median(fb)
    res = {"fwd_bwd_s": m_fb, "params": sum(q.numel() for q in model.parameters()),
           "input_shape": list(batch[0].shape)}
    for p in proxies:
        res[f"{p}_s"] = statistics.median(t[p])
        res[f"{p}_ratio"] = res[f"{p}_s"] / m_fb
    res["copy_s"] = _median_s(lambda: copy.deepcopy(model), repeats)
    res["discovery_s"] = _median_s(lambda: discover(model, batch[0]), repeats)
    for p in ("hybrid", "hybrid_v2"):
        if p in proxies:
            res[f"{p}_without_fixed_ratio"] = (res[f"{p}_s"] - res["copy_s"]
                                               - res["discovery_s"]) / m_fb
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--proxies", nargs="+", default=["hybrid", "hybrid_v2", "hybrid_v1", "snip"])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    out = {"target_ratio": 2.0}
    for key, gen in (("nets", nets(a.batch)), ("as_used", nets_as_used())):
        res = {}
        for name, model, batch in gen:
            res[name] = measure(model, batch, a.proxies, a.repeats)
            print(f"{name:16s} fwd+bwd {res[name]['fwd_bwd_s']:7.3f}s  " + "  ".join(
                f"{p} {res[name][p + '_s']:7.3f}s ({res[name][p + '_ratio']:4.2f}x)"
                for p in a.proxies), flush=True)
        out[key] = res
        out[f"max_ratio_{key}"] = {p: max(v[f"{p}_ratio"] for v in res.values()) for p in a.proxies}
    out["max_ratio"] = {p: max(out["max_ratio_nets"][p], out["max_ratio_as_used"][p])
                        for p in a.proxies}
    path = write_metrics(repo_root() / "reports" / "benchmarks" / "hybrid_cost.json", out,
                         config={"batch": a.batch, "repeats": a.repeats, "threads": a.threads,
                                 "proxies": a.proxies, "as_used": [list(x) for x in AS_USED],
                                 "space_candidates": {"n": N_CANDIDATES, "seed": 0,
                                                      "resolutions": [128], "proxy_px": 64,
                                                      "batch": 8},
                                 "device": "cpu"}, seed=0)
    print(f"max ratio (batch {a.batch}) {out['max_ratio_nets']}; as used "
          f"{out['max_ratio_as_used']} -> {path}")


if __name__ == "__main__":
    main()
