"""Cost of the ``hybrid`` proxies (v2 ``hybrid`` and ``hybrid_v1``) relative to one
forward+backward of the same net.

For each net, in one run and on the same machine, measures the median wall time of
(a) one training-style forward+backward (task loss, train mode, gradients w.r.t. all weights)
and (b) ``nascore.proxies.score(proxy, ...)`` (including the harness's copy and re-init),
and reports the ratio b/a per proxy (target <= 2). Nets:

* ``nb201``: an NB201 cell network (C=16, N=5), CIFAR-shaped batch (B, 3, 32, 32);
* ``hybrid_seg_128``: the hybrid U-shaped segmentation net of ``example_arch("hybrid", 128)``
  at 128x128, 1 output channel (BCE);
* ``vit``: an AutoFormer-Ti-sized ViT (embed 192, depth 12, 3 heads, MLP ratio 4), 32x32 input.

Writes ``reports/benchmarks/hybrid_cost.json`` (with provenance) and prints a table.
Usage: ``python perf/bench_hybrid_cost.py [--batch 16] [--repeats 3] [--threads 1]
[--proxies hybrid hybrid_v1]``.
One thread by default: on the shared 2-core machine, 2 OpenMP threads competing with other
processes made every op 3-5x slower and the small eigen-solves 50x slower (noise, not cost).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from nascore.arch import example_arch
from nascore.bench.nb201 import build_nb201_net
from nascore.bench.vit import build_autoformer_vit
from nascore.build import build_model
from nascore.paths import repo_root
from nascore.provenance import write_metrics
from nascore.proxies import score
from nascore.proxies.losses import as_logits, task_loss

NB201_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def nets(batch: int):
    g = torch.Generator().manual_seed(0)
    x32 = torch.randn(batch, 3, 32, 32, generator=g)
    yield "nb201", build_nb201_net(NB201_CELL), (x32, torch.randint(0, 10, (batch,), generator=g))
    x128 = torch.randn(batch, 3, 128, 128, generator=g)
    yield ("hybrid_seg_128", build_model(example_arch("hybrid", 128), 3, 1),
           (x128, torch.randint(0, 2, (batch, 1, 128, 128), generator=g)))
    yield ("vit", build_autoformer_vit(192, 12, 4.0, 3, num_classes=100),
           (x32, torch.randint(0, 100, (batch,), generator=g)))


def fwd_bwd(model, batch) -> float:
    x, y = batch
    model.train()
    t0 = time.perf_counter()
    loss = task_loss(as_logits(model(x)), y)
    torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad], allow_unused=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--proxies", nargs="+", default=["hybrid", "hybrid_v1"])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    res = {}
    for name, model, batch in nets(a.batch):
        fwd_bwd(model, batch)  # warm-up
        for p in a.proxies:
            score(p, model, batch, seed=0)
        fb, t = [], {p: [] for p in a.proxies}
        for r in range(a.repeats):  # interleaved, so machine noise hits all alike
            fb.append(fwd_bwd(model, batch))
            for p in a.proxies:
                out = score(p, model, batch, seed=r)
                if not out.ok:
                    raise RuntimeError(f"{p} failed on {name}: {out.error}")
                t[p].append(out.time_s)
        m_fb = statistics.median(fb)
        res[name] = {"fwd_bwd_s": m_fb, "params": sum(q.numel() for q in model.parameters()),
                     "input_shape": list(batch[0].shape)}
        for p in a.proxies:
            m = statistics.median(t[p])
            res[name][f"{p}_s"] = m
            res[name][f"{p}_ratio"] = m / m_fb
        print(f"{name:16s} fwd+bwd {m_fb:7.3f}s  " + "  ".join(
            f"{p} {res[name][p + '_s']:7.3f}s ({res[name][p + '_ratio']:4.2f}x)" for p in a.proxies),
            flush=True)
    out = {"nets": res, "target_ratio": 2.0,
           "max_ratio": {p: max(v[f"{p}_ratio"] for v in res.values()) for p in a.proxies}}
    path = write_metrics(repo_root() / "reports" / "benchmarks" / "hybrid_cost.json", out,
                         config={"batch": a.batch, "repeats": a.repeats, "threads": a.threads,
                                 "proxies": a.proxies, "device": "cpu"}, seed=0)
    print(f"max ratio {out['max_ratio']} -> {path}")


if __name__ == "__main__":
    main()
