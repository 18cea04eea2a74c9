"""At which input size can the live proxy score hybrid-space candidates?

Scores every architecture of the hybrid LGG mini-benchmark (``reports/benchmarks/hybrid_lgg.csv``,
trained at 64 px) with a proxy at every setting of ``--resolutions`` x ``--batches`` (tumour
slices of the training patients, proxy seed 0, :func:`nascore.experiments.hybrid_lgg.proxy_batch`
at that resolution and batch size), and reports per setting: the median seconds per candidate,
the Kendall τ (95% bootstrap CI) between the proxy at that setting and at the full one (the
largest resolution and batch), and the Kendall τ of each against the trained validation tumour
Dice.

Choice rule, fixed before the run: the smallest setting (input pixels x slices, ties to the
smaller batch; the cost order, so the choice does not depend on machine load) whose τ with the full
setting's score is at least ``--min-tau`` (0.9) *and* whose τ against the trained Dice is not
lower than the full setting's by more than 0.05; else the full setting. (The first run varied
the resolution only, at batch 8; the batch size was added with the same rule.)

Writes ``reports/benchmarks/proxy_resolution.json`` (with provenance) and
``proxy_resolution.csv`` (every score). Usage::

    python perf/proxy_resolution.py [--proxy hybrid] [--resolutions 32,48,64] [--batches 2,4,8] [--n 122]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import pandas as pd
import torch

from nascore.arch import HybridSegArch
from nascore.bench.hybrid_seg.analysis import truth_frame
from nascore.bench.hybrid_seg.recipe import Recipe
from nascore.bench.hybrid_seg.table import BenchTable, read_table
from nascore.corr import correlate
from nascore.experiments.hybrid_lgg import proxy_batch
from nascore.paths import repo_root
from nascore.provenance import write_csv, write_metrics
from nascore.proxies import score
from nascore.search.objectives import HybridSegBuilder


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--proxy", default="hybrid")
    ap.add_argument("--resolutions", default="32,48,64")
    ap.add_argument("--batches", default="2,4,8", help="proxy batch sizes (tumour slices)")
    ap.add_argument("--n", type=int, default=None, help="first n architectures (default: all)")
    ap.add_argument("--min-tau", type=float, default=0.9)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--out", default=None, help="output folder (default reports/benchmarks; a run "
                    "with --n writes nothing there unless --out is given)")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    res = sorted(int(r) for r in a.resolutions.split(","))
    bs = sorted(int(b) for b in a.batches.split(","))
    settings = [(r, b) for r in res for b in bs]
    full = (res[-1], bs[-1])
    key = lambda rb: f"r{rb[0]}_b{rb[1]}"  # noqa: E731
    tp = repo_root() / "reports" / "benchmarks" / "hybrid_lgg.csv"
    df = read_table(tp)
    recipe = Recipe.from_dict(BenchTable(tp).header_config()["recipe"])
    truth = truth_frame(df).set_index("arch_id")["val_dice_tumor"]
    rows = df[df["seed"] == 0].drop_duplicates("arch_id")
    if a.n:
        rows = rows.iloc[: a.n]
    archs = [HybridSegArch.from_json(j) for j in rows["arch_json"]]
    out = []
    for r, b in settings:
        batch = proxy_batch(dataclasses.replace(recipe, resolution=r), b, 0)
        build = HybridSegBuilder(int(batch[0].shape[1]), 1)
        for arch in archs:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                model = build(dataclasses.replace(arch, resolution=r))
            t0 = time.perf_counter()
            s = score(a.proxy, model, batch, seed=0)
            out.append({"arch_id": arch.arch_id, "resolution": r, "batch": b,
                        "value": s.value if s.ok else np.nan, "status": s.status,
                        "time_s": time.perf_counter() - t0})
        print(f"{r} px, batch {b} done", flush=True)
    d = pd.DataFrame(out)
    d["setting"] = [key(rb) for rb in zip(d["resolution"], d["batch"])]
    wide = d.pivot_table(index="arch_id", columns="setting", values="value")
    t = truth.reindex(wide.index).to_numpy(float)
    per = {}
    for rb in settings:
        k = key(rb)
        c_full = correlate(wide[k].to_numpy(float), wide[key(full)].to_numpy(float), n_boot=a.n_boot)
        c_dice = correlate(wide[k].to_numpy(float), t, n_boot=a.n_boot)
        sel = d["setting"] == k
        per[k] = {"resolution": rb[0], "batch": rb[1], "median_s": float(d[sel]["time_s"].median()),
                  "kendall_vs_full": c_full["kendall"], "ci95_vs_full": list(c_full["ci95_kendall"]),
                  "kendall_vs_dice": c_dice["kendall"], "ci95_vs_dice": list(c_dice["ci95_kendall"]),
                  "n_failed": int((sel & (d["status"] != "ok")).sum())}
    chosen = full
    for rb in sorted(settings, key=lambda rb: (rb[0] ** 2 * rb[1], rb[1])):
        p = per[key(rb)]
        if p["kendall_vs_full"] >= a.min_tau and \
                p["kendall_vs_dice"] >= per[key(full)]["kendall_vs_dice"] - 0.05:
            chosen = rb
            break
    cfg = {"proxy": a.proxy, "resolutions": res, "batches": bs, "n": len(archs),
           "min_tau": a.min_tau, "batch": "tumour slices of the training patients",
           "table": "reports/benchmarks/hybrid_lgg.csv"}
    result = {"per_setting": per, "full_setting": key(full), "chosen_setting": key(chosen),
              "chosen_resolution": chosen[0], "chosen_batch": chosen[1],
              "speedup_chosen": per[key(full)]["median_s"] / per[key(chosen)]["median_s"],
              "rule": f"smallest setting (pixels x slices) with tau vs the full setting >= {a.min_tau} "
                      "and tau vs Dice within 0.05 of the full setting's"}
    from pathlib import Path

    if a.out is None and a.n:
        print("--n without --out: a trial, nothing written")
        bench = None
    else:
        bench = Path(a.out) if a.out else repo_root() / "reports" / "benchmarks"
    if bench is not None:
        write_csv(bench / "proxy_resolution.csv", d, cfg, 0)
        write_metrics(bench / "proxy_resolution.json", result, cfg, 0)
    for rb in settings:
        p = per[key(rb)]
        print(f"{rb[0]:4d} px batch {rb[1]:2d}  {p['median_s']:.3f} s  tau vs {key(full)} "
              f"{p['kendall_vs_full']:.3f}  tau vs Dice {p['kendall_vs_dice']:.3f}")
    print(f"chosen: {key(chosen)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
