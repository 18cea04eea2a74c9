"""Test-set metrics as the segmentation field reports them, with bootstrap CIs over patients.

From a per-case table (:func:`nascore.seg.evaluate.evaluate`; one row per 2D slice, possibly
several seeds) with columns ``group`` (patient), ``has_tumor``, ``pred_empty``, ``dice``,
``dice_conv``, ``hd95``, ``tp``, ``n_pred``, ``n_gt``:

* ``dice_tumor`` (headline): mean Dice over slices that contain tumour;
* ``dice_patient`` (headline): per test patient, Dice of the pixels pooled over all its
  slices (``2 TP / (|pred| + |gt|)``), averaged over patients with tumour pixels (over
  seeds first when there are several);
* ``fp_rate_empty``: the share of tumour-free slices with a non-empty prediction;
* ``hd95``: mean HD95 (pixels) over slices where it is defined (tumour and prediction non-empty);
* ``dice_all``: mean Dice over all slices, an empty slice scoring 1 when the prediction is
  empty and 0 otherwise (dominated by tumour-free slices; not a headline).

Each comes with ``<name>_ci95``: a 95% percentile bootstrap interval obtained by resampling
**test patients** with replacement (slices of one patient are not independent), seeded, so the
same table gives the same interval. :func:`paired_difference` gives the CI of a difference
between two models on the same patients (paired resampling).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

#: The headline and secondary metric names (keys of :func:`patient_metrics`).
METRICS = ("dice_tumor", "dice_patient", "fp_rate_empty", "hd95", "dice_all")
N_BOOT = 2000


def _per_patient(df: pd.DataFrame) -> Tuple[List[str], np.ndarray]:
    """Per patient: sums and counts from which every metric is a ratio (columns below)."""
    need = {"group", "has_tumor", "pred_empty", "dice", "dice_conv", "hd95", "tp", "n_pred", "n_gt"}
    miss = need - set(df.columns)
    if miss:
        raise ValueError(f"per-case table lacks column(s) {sorted(miss)}")
    d = df.copy()
    d["group"] = d["group"].astype(str)
    if "seed" not in d.columns:
        d["seed"] = 0
    tum = d["has_tumor"].astype(bool)
    d["_dt"] = np.where(tum, d["dice"], 0.0)
    d["_nt"] = tum.astype(float)
    d["_fp"] = np.where(~tum, ~d["pred_empty"].astype(bool), False).astype(float)
    d["_ne"] = (~tum).astype(float)
    h = d["hd95"].astype(float)
    d["_hd"], d["_nh"] = np.nan_to_num(h, nan=0.0), np.isfinite(h).astype(float)
    ps = d.groupby(["group", "seed"]).agg(tp=("tp", "sum"), n_pred=("n_pred", "sum"),
                                          n_gt=("n_gt", "sum"))
    den = ps["n_pred"] + ps["n_gt"]
    ps["pd"] = np.where(ps["n_gt"] > 0, 2 * ps["tp"] / den.where(den > 0, 1), np.nan)
    pdice = ps["pd"].groupby(level="group").mean()
    g = d.groupby("group").agg(dt=("_dt", "sum"), nt=("_nt", "sum"), fp=("_fp", "sum"),
                               ne=("_ne", "sum"), hd=("_hd", "sum"), nh=("_nh", "sum"),
                               dc=("dice_conv", "sum"), n=("dice_conv", "count"))
    g["pd"] = pdice.reindex(g.index)
    cols = ["dt", "nt", "fp", "ne", "hd", "nh", "dc", "n", "pd"]
    return list(g.index), g[cols].to_numpy(float)


def _stats(a: np.ndarray) -> np.ndarray:
    """Metrics from summed per-patient columns; ``a`` is ``(..., patients, 9)``."""
    s = a.sum(-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        pdv = a[..., 8]
        ok = np.isfinite(pdv)
        dp = np.where(ok, pdv, 0).sum(-1) / ok.sum(-1)
        return np.stack([s[..., 0] / s[..., 1], dp, s[..., 2] / s[..., 3],
                         s[..., 4] / s[..., 5], s[..., 6] / s[..., 7]], -1)


def _boot_idx(n: int, n_boot: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _ci(boot: np.ndarray) -> List[Optional[float]]:
    b = boot[np.isfinite(boot)]
    if len(b) < 2:
        return [None, None]
    lo, hi = np.percentile(b, [2.5, 97.5])
    return [float(lo), float(hi)]


def patient_metrics(per_case: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0) -> Dict[str, object]:
    """The :data:`METRICS` of ``per_case`` with patient-bootstrap CIs (see the module docstring).

    Args:
        per_case: per-slice rows (one or several seeds of one model).
        n_boot: bootstrap resamples. seed: the resampling seed.

    Returns:
        ``{name: float (NaN when undefined), name + "_ci95": [lo, hi] or [None, None],
        "n_patients": int, "n_slices": int, "n_tumor_slices": int}``.

    Raises:
        ValueError: when a needed column is missing.
    """
    groups, a = _per_patient(per_case)
    point = _stats(a)
    boot = _stats(a[_boot_idx(len(groups), n_boot, seed)]) if groups else np.full((1, 5), np.nan)
    out: Dict[str, object] = {"n_patients": len(groups), "n_slices": int(len(per_case)),
                              "n_tumor_slices": int(per_case["has_tumor"].astype(bool).sum())}
    for k, name in enumerate(METRICS):
        out[name] = float(point[k]) if groups else float("nan")
        out[name + "_ci95"] = _ci(boot[:, k])
    return out


def paired_difference(per_case_a: pd.DataFrame, per_case_b: pd.DataFrame, n_boot: int = N_BOOT,
                      seed: int = 0) -> Dict[str, object]:
    """``a - b`` of every metric with a paired patient-bootstrap CI (the same resampled
    patients for both models; only patients present in both tables are used).

    Returns:
        ``{name + "_diff": float, name + "_diff_ci95": [lo, hi], "n_patients": int}``.
    """
    ga, a = _per_patient(per_case_a)
    gb, b = _per_patient(per_case_b)
    common = sorted(set(ga) & set(gb))
    ia, ib = [ga.index(g) for g in common], [gb.index(g) for g in common]
    a, b = a[ia], b[ib]
    out: Dict[str, object] = {"n_patients": len(common)}
    if not common:
        for name in METRICS:
            out[name + "_diff"], out[name + "_diff_ci95"] = float("nan"), [None, None]
        return out
    idx = _boot_idx(len(common), n_boot, seed)
    point = _stats(a) - _stats(b)
    boot = _stats(a[idx]) - _stats(b[idx])
    for k, name in enumerate(METRICS):
        out[name + "_diff"] = float(point[k])
        out[name + "_diff_ci95"] = _ci(boot[:, k])
    return out
