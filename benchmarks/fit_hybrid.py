"""Computes proxy components on NB201 cells, fits the ``hybrid`` constants, and checks them.

Splits (disclosed; the fit split is never used to report):

* fit:  ``np.unique(np.random.default_rng(12345).choice(15625, 200))``
* eval: ``np.random.RandomState(0).choice(15625, 300, replace=False)`` minus the fit cells.

Phases (each resumable; components are appended to CSVs under ``reports/benchmarks/hybrid_fit/``):

    python benchmarks/fit_hybrid.py compute --split fit
    python benchmarks/fit_hybrid.py compute --split eval
    python benchmarks/fit_hybrid.py check --n 50      # classic proxies on a real CIFAR-10 batch
    python benchmarks/fit_hybrid.py fit               # prints the constants for hybrid.py

Hybrid components use Gaussian-noise inputs of shape (16, 3, 32, 32), seed 0; the check uses a
real CIFAR-10 batch of 32 from ``cifar10_train_balanced1000.npz`` normalised with NB201's
mean/std (``nascore.bench.images.load_minibatch``). Ground truth: 200-epoch test accuracy.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr
from tqdm import tqdm

from nascore.bench.nb201 import build_nb201_net
from nascore.bench.tables import load_nb201_accuracy
from nascore.io import repo_root
from nascore.proxies import score
from nascore.proxies import hybrid as H

OUT = repo_root() / "reports" / "benchmarks" / "hybrid_fit"


def split_indices(split: str) -> np.ndarray:
    fit = np.unique(np.random.default_rng(12345).choice(15625, 200))
    if split == "fit":
        return fit
    ev = np.random.RandomState(0).choice(15625, 300, replace=False)
    return np.array([i for i in ev if i not in set(fit)])


def _append(path: Path, row: dict) -> None:
    df = pd.DataFrame([row])
    df.to_csv(path, mode="a", header=not path.exists(), index=False)


def _build(arch_str: str):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return build_nb201_net(arch_str)


def refresh_dss(split: str, batch: int) -> None:
    """Recomputes the ``log_dss`` column (DSS on each net's default init, built with seed 0)."""
    path = OUT / f"components_{split}.csv"
    df = pd.read_csv(path)
    acc = load_nb201_accuracy()
    x = torch.zeros(batch, 3, 32, 32)
    y = torch.zeros(batch, dtype=torch.long)
    df["log_dss"] = [score("dss", _build(acc.loc[int(i), "arch_str"]), (x, y)).value
                     for i in tqdm(df["nb201_index"], desc="dss " + split)]
    df.to_csv(path, index=False)


def compute(split: str, batch: int) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"components_{split}.csv"
    done = set(pd.read_csv(path)["nb201_index"]) if path.exists() else set()
    acc = load_nb201_accuracy()
    x = torch.zeros(batch, 3, 32, 32)
    y = torch.zeros(batch, dtype=torch.long)
    for i in tqdm([int(i) for i in split_indices(split) if int(i) not in done], desc=split):
        net = _build(acc.loc[i, "arch_str"])
        r = score("hybrid", net, (x, y), seed=0)
        a = score("az_nas", net, (x, y), seed=0)
        row = {"nb201_index": i, "cifar10": acc.loc[i, "cifar10"], "cifar100": acc.loc[i, "cifar100"],
               "hybrid_status": r.status, "hybrid_time_s": r.time_s,
               **{k: r.extra.get(k, float("nan")) for k in H.COMPONENTS},
               **{"az_" + k: v for k, v in a.extra.items()}, "az_time_s": a.time_s}
        _append(path, row)


def compute_vit(batch: int, n: int) -> None:
    """Hybrid components and single proxies on the 200 AutoFormer ViTs (fit: the first json
    file ``autoprox_gt_autoformer.json``; report: the second)."""
    from nascore.bench.tables import load_autoformer_gt
    from nascore.bench.vit import vit_from_gt_row

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "components_vit.csv"
    done = set(pd.read_csv(path)["vit_index"]) if path.exists() else set()
    gt = load_autoformer_gt()
    x = torch.zeros(batch, 3, 32, 32)
    y = torch.zeros(batch, dtype=torch.long)
    todo = [int(i) for i in np.linspace(0, len(gt) - 1, n).round().astype(int)]
    for i in tqdm([i for i in todo if i not in done], desc="vit"):
        row = gt.loc[i]
        with torch.random.fork_rng():
            torch.manual_seed(0)
            net = vit_from_gt_row(row)
        out = {"vit_index": i, "source": row["source"], "c100_kd_acc": row["c100_kd_acc"]}
        r = score("hybrid", net, (x, y), seed=0)
        out.update({k: r.extra.get(k, float("nan")) for k in H.COMPONENTS})
        out["hybrid_time_s"] = r.time_s
        d = score("dss", net, (x, y), seed=0)
        out.update({"dss": d.value, "log_attn_diversity": d.extra["log_attn_diversity"],
                    "log_mlp_saliency": d.extra["log_mlp_saliency"]})
        for nm in ("synflow", "params"):
            out[nm] = score(nm, net, (x, y), seed=0).value
        out["flops"] = math.exp(out["log_flops"])
        _append(path, out)


def check(n: int) -> None:
    from nascore.bench.images import load_minibatch

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "check_classic.csv"
    done = set(pd.read_csv(path)["nb201_index"]) if path.exists() else set()
    acc = load_nb201_accuracy()
    batch = load_minibatch("cifar10", 32, seed=0)
    names = ["synflow", "naswot", "jacob_cov", "snip", "grad_norm", "az_expressivity",
             "az_progressivity", "az_trainability"]
    for i in tqdm([int(i) for i in split_indices("eval")[:n] if int(i) not in done], desc="check"):
        net = _build(acc.loc[i, "arch_str"])
        row = {"nb201_index": i, "cifar10": acc.loc[i, "cifar10"]}
        for nm in names:
            r = score(nm, net, batch, seed=0)
            row[nm] = r.value
            row[nm + "_s"] = r.time_s
        _append(path, row)
    df = pd.read_csv(path)
    for nm in names:
        v = df[nm].replace([np.inf, -np.inf], np.nan).fillna(-1e300)
        print(f"{nm:18s} spearman {spearmanr(v, df['cifar10'])[0]:+.3f}  n={len(df)}  "
              f"median {df[nm + '_s'].median():.2f}s")


def _z(df, center, scale):
    out = {}
    for k in H.COMPONENTS:
        v = df[k].to_numpy(float)
        z = (v - center[k]) / scale[k]
        out[k] = np.where(np.isfinite(z), np.maximum(z, -5.0), -5.0)
    return pd.DataFrame(out, index=df.index)


def fit() -> None:
    f = pd.read_csv(OUT / "components_fit.csv")
    e = pd.read_csv(OUT / "components_eval.csv") if (OUT / "components_eval.csv").exists() else None
    center = {k: float(np.nanmedian(f[k].replace([np.inf, -np.inf], np.nan))) for k in H.COMPONENTS}
    scale = {}
    for k in H.COMPONENTS:
        v = f[k].replace([np.inf, -np.inf], np.nan).dropna()
        q = np.subtract(*np.percentile(v, [75, 25]))
        scale[k] = float(q / 1.349) if q > 0 else float(v.std() or 1.0)
    zf = _z(f, center, scale)
    print("per-component Spearman on the FIT split (for design only):")
    for k in H.COMPONENTS:
        print(f"  {k:18s} {spearmanr(zf[k], f['cifar10'])[0]:+.3f}")

    def obj(w):
        return -spearmanr(zf.to_numpy() @ w, f["cifar10"])[0]

    from scipy.optimize import minimize

    best = None
    rng = np.random.default_rng(0)
    for start in [np.ones(len(H.COMPONENTS))] + [rng.uniform(0, 1, len(H.COMPONENTS)) for _ in range(7)]:
        res = minimize(obj, start, method="Nelder-Mead", options={"maxiter": 3000, "xatol": 1e-3, "fatol": 1e-5})
        if best is None or res.fun < best.fun:
            best = res
    w = best.x / np.abs(best.x).sum() * len(H.COMPONENTS)
    print(f"fit-split Spearman {-best.fun:.4f}")
    print("CENTER =", {k: round(v, 5) for k, v in center.items()})
    print("SCALE =", {k: round(v, 5) for k, v in scale.items()})
    print("WEIGHTS =", {k: round(float(x), 4) for k, x in zip(H.COMPONENTS, w)})
    if e is not None:
        ze = _z(e, center, scale)
        print(f"EVAL split (n={len(e)}): hybrid Spearman "
              f"c10 {spearmanr(ze.to_numpy() @ w, e['cifar10'])[0]:.4f} "
              f"c100 {spearmanr(ze.to_numpy() @ w, e['cifar100'])[0]:.4f}")
        from nascore.proxies import rank_aggregate

        cols = ["az_expressivity", "az_progressivity", "az_trainability", "az_complexity"]
        if all(c in e for c in cols):
            ra = rank_aggregate(e, cols)
            print(f"EVAL AZ-NAS rank aggregation c10 {spearmanr(ra, e['cifar10'])[0]:.4f}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("phase", choices=["compute", "compute_vit", "refresh_dss", "check", "fit"])
    ap.add_argument("--split", choices=["fit", "eval"], default="fit")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--n", type=int, default=50)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    if a.phase == "compute":
        compute(a.split, a.batch)
    elif a.phase == "refresh_dss":
        refresh_dss(a.split, a.batch)
    elif a.phase == "compute_vit":
        compute_vit(a.batch, a.n)
    elif a.phase == "check":
        check(a.n)
    else:
        fit()


if __name__ == "__main__":
    main(sys.argv[1:])
