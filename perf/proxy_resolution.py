"""At which input resolution can the live proxy score hybrid-space candidates (issue 14)?

Scores every architecture of the hybrid LGG mini-benchmark (``reports/benchmarks/hybrid_lgg.csv``,
trained at 64 px) with a proxy at each of ``--resolutions`` (the same 8 tumour slices of the
training patients, proxy seed 0, :func:`nascore.experiments.hybrid_lgg.proxy_batch` at that
resolution), and reports per resolution: the median seconds per candidate, the Kendall τ (95%
bootstrap CI) between the proxy at that resolution and at the full one, and the Kendall τ of each
against the trained validation tumour Dice.

Choice rule, fixed before the run: the smallest resolution whose τ with the full-resolution
score is at least ``--min-tau`` (0.9) *and* whose τ against the trained Dice is not lower than
the full resolution's by more than 0.05; else the full resolution.

Writes ``reports/benchmarks/proxy_resolution.json`` (with provenance) and
``proxy_resolution.csv`` (every score). Usage::

    python perf/proxy_resolution.py [--proxy hybrid] [--resolutions 32,48,64] [--n 122]
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
    ap.add_argument("--n", type=int, default=None, help="first n architectures (default: all)")
    ap.add_argument("--min-tau", type=float, default=0.9)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--out", default=None, help="output folder (default reports/benchmarks; a run "
                    "with --n writes nothing there unless --out is given)")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    res = sorted(int(r) for r in a.resolutions.split(","))
    full = res[-1]
    tp = repo_root() / "reports" / "benchmarks" / "hybrid_lgg.csv"
    df = read_table(tp)
    recipe = Recipe.from_dict(BenchTable(tp).header_config()["recipe"])
    truth = truth_frame(df).set_index("arch_id")["val_dice_tumor"]
    rows = df[df["seed"] == 0].drop_duplicates("arch_id")
    if a.n:
        rows = rows.iloc[: a.n]
    archs = [HybridSegArch.from_json(j) for j in rows["arch_json"]]
    out = []
    for r in res:
        batch = proxy_batch(dataclasses.replace(recipe, resolution=r), 8, 0)
        build = HybridSegBuilder(int(batch[0].shape[1]), 1)
        for arch in archs:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                model = build(dataclasses.replace(arch, resolution=r))
            t0 = time.perf_counter()
            s = score(a.proxy, model, batch, seed=0)
            out.append({"arch_id": arch.arch_id, "resolution": r, "value": s.value if s.ok else np.nan,
                        "status": s.status, "time_s": time.perf_counter() - t0})
        print(f"{r} px done", flush=True)
    d = pd.DataFrame(out)
    wide = d.pivot_table(index="arch_id", columns="resolution", values="value")
    t = truth.reindex(wide.index).to_numpy(float)
    per = {}
    for r in res:
        c_full = correlate(wide[r].to_numpy(float), wide[full].to_numpy(float), n_boot=a.n_boot)
        c_dice = correlate(wide[r].to_numpy(float), t, n_boot=a.n_boot)
        per[str(r)] = {"median_s": float(d[d["resolution"] == r]["time_s"].median()),
                       "kendall_vs_full": c_full["kendall"], "ci95_vs_full": list(c_full["ci95_kendall"]),
                       "kendall_vs_dice": c_dice["kendall"], "ci95_vs_dice": list(c_dice["ci95_kendall"]),
                       "n_failed": int(d[(d["resolution"] == r) & (d["status"] != "ok")].shape[0])}
    chosen = full
    for r in res:
        p = per[str(r)]
        if p["kendall_vs_full"] >= a.min_tau and p["kendall_vs_dice"] >= per[str(full)]["kendall_vs_dice"] - 0.05:
            chosen = r
            break
    cfg = {"proxy": a.proxy, "resolutions": res, "n": len(archs), "min_tau": a.min_tau,
           "batch": "8 tumour slices of the training patients", "table": "reports/benchmarks/hybrid_lgg.csv"}
    result = {"per_resolution": per, "chosen_resolution": chosen, "full_resolution": full,
              "speedup_chosen": per[str(full)]["median_s"] / per[str(chosen)]["median_s"],
              "rule": f"smallest resolution with tau vs full >= {a.min_tau} and tau vs Dice within "
                      "0.05 of the full resolution's"}
    from pathlib import Path

    if a.out is None and a.n:
        print("--n without --out: a trial, nothing written")
        bench = None
    else:
        bench = Path(a.out) if a.out else repo_root() / "reports" / "benchmarks"
    if bench is not None:
        write_csv(bench / "proxy_resolution.csv", d, cfg, 0)
        write_metrics(bench / "proxy_resolution.json", result, cfg, 0)
    for r in res:
        p = per[str(r)]
        print(f"{r:4d} px  {p['median_s']:.3f} s  tau vs {full} px {p['kendall_vs_full']:.3f}  "
              f"tau vs Dice {p['kendall_vs_dice']:.3f}")
    print(f"chosen: {chosen} px")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
