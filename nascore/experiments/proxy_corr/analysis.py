"""Correlation of proxy scores with ground truth (Spearman, Kendall, bootstrap CIs, top-k),
proxy-vs-proxy matrices, timing, and the notebook's ``metrics.json`` body.
"""

from __future__ import annotations

import math
import warnings
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ... import corr
from .scoring import POPULATION_AGGREGATES

#: The AutoFormer ground truth is CIFAR-100 (KD accuracy); metrics key ``c100``.
AUTOFORMER_KEY = "c100"


def _key_col(scores: pd.DataFrame) -> str:
    for k in ("arch_str", "arch_key"):
        if k in scores.columns and scores[k].notna().any():
            return k
    raise ValueError("scores need an 'arch_str' or 'arch_key' column")


def higher_is_better(proxy: str) -> bool:
    """From the proxy's registry metadata; True for aggregates and unknown names."""
    try:
        from ...proxies import PROXIES

        return bool(PROXIES.get(proxy).higher_is_better)
    except KeyError:
        return True


def correlation_table(scores: pd.DataFrame, truth: Union[pd.Series, Mapping[str, pd.Series]],
                      n_boot: int = 1000, seed: int = 0, nan_policy: str = "worst",
                      degenerate_worst: bool = True, topk: Sequence[float] = (10,)) -> pd.DataFrame:
    """Correlation of every proxy with ground truth, per (benchmark, dataset, proxy).

    Args:
        scores: long frame from :func:`score_nb201` / :func:`score_autoformer` (possibly
            concatenated, possibly with :func:`add_rank_aggregates` rows).
        truth: accuracy indexed by arch key (``arch_str`` / ``arch_key``), or
            ``{dataset: Series}`` when ``scores`` holds several datasets.
        nan_policy: failures (NaN/inf/error) -- ``worst`` ranks them below every finite score
            (see :mod:`nascore.corr`).
        degenerate_worst: treat degenerate NB201 cells' scores as failures (ranked worst).

    Returns:
        One row per (benchmark, dataset, proxy): ``spearman``, ``kendall``,
        ``ci95_spearman_lo/hi``, ``ci95_kendall_lo/hi``, ``pearson``, ``n``, ``n_failed``
        (failures incl. degenerate cells), ``n_degenerate``, ``top<k>`` (top-k% precision),
        ``higher_is_better``, ``median_time_s``, ``surrogate``, ``nan_policy``, ``n_boot``.
    """
    key = _key_col(scores)
    rows = []
    for (bench, ds, proxy), sub in scores.groupby(["benchmark", "dataset", "proxy"], sort=False):
        tr = truth.get(ds) if isinstance(truth, Mapping) else truth
        if tr is None:
            raise ValueError(f"no ground truth given for dataset {ds!r}")
        t = sub[key].map(tr).to_numpy(float)
        if np.isnan(t).all():
            raise ValueError(f"ground truth for {bench}/{ds} shares no {key} with the scores")
        v = sub["value"].to_numpy(float).copy()
        v[(sub["status"] != "ok").to_numpy()] = np.nan
        deg = sub["degenerate"].to_numpy(bool) if "degenerate" in sub else np.zeros(len(sub), bool)
        if degenerate_worst:
            v[deg] = np.nan
        hib = higher_is_better(proxy)
        with warnings.catch_warnings():  # scipy warns on degenerate resamples of tiny samples
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", UserWarning)
            c = corr.correlate(v, t, n_boot=n_boot, seed=seed, higher_is_better=hib,
                               nan_policy=nan_policy, topk=topk)
        times = sub["time_s"].to_numpy(float)
        rows.append({
            "benchmark": bench, "dataset": ds, "proxy": proxy,
            "spearman": c["spearman"], "kendall": c["kendall"],
            "ci95_spearman_lo": c["ci95_spearman"][0], "ci95_spearman_hi": c["ci95_spearman"][1],
            "ci95_kendall_lo": c["ci95_kendall"][0], "ci95_kendall_hi": c["ci95_kendall"][1],
            "pearson": c["pearson"], "n": c["n"], "n_failed": c["n_failed"],
            "n_degenerate": int(deg.sum()),
            **{f"top{k:g}": c[f"top{k:g}_precision"] for k in topk},
            "higher_is_better": hib,
            "median_time_s": float(np.nanmedian(times)) if np.isfinite(times).any() else float("nan"),
            "surrogate": bool(sub["surrogate"].any()) if "surrogate" in sub else False,
            "nan_policy": nan_policy, "n_boot": n_boot,
        })
    return pd.DataFrame(rows)


def proxy_matrix(scores: pd.DataFrame, benchmark: str = "nb201", dataset: str = "cifar10",
                 method: str = "spearman") -> pd.DataFrame:
    """Proxy-vs-proxy rank correlation (pairwise over nets where both are finite)."""
    sub = scores[(scores["benchmark"] == benchmark) & (scores["dataset"] == dataset)]
    w = wide_scores(sub)
    return w.replace([np.inf, -np.inf], np.nan).corr(method=method)


def wide_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Scores as a (net x proxy) table (non-ok statuses -> NaN); one benchmark/dataset only."""
    key = _key_col(scores)
    s = scores.copy()
    s.loc[s["status"] != "ok", "value"] = np.nan
    order = list(dict.fromkeys(s["proxy"]))
    return s.pivot_table(index=key, columns="proxy", values="value", aggfunc="first",
                         dropna=False)[order]


def timing_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Median / mean / max seconds per net for each (benchmark, dataset, proxy), errors excluded."""
    s = scores[scores["status"] != "error"]
    g = s.groupby(["benchmark", "dataset", "proxy"], sort=False)["time_s"]
    return g.agg(median_s="median", mean_s="mean", max_s="max", n="count").reset_index()


def _entry(r) -> dict:
    return {"spearman": r["spearman"], "kendall": r["kendall"],
            "ci95_spearman": [r["ci95_spearman_lo"], r["ci95_spearman_hi"]],
            "n": int(r["n"]), "n_failed": int(r["n_failed"])}


def metrics_json(corr_table: pd.DataFrame, scores: Optional[pd.DataFrame] = None,
                 transnas: Optional[dict] = None, notes: Sequence[str] = (),
                 reproduction: Optional[pd.DataFrame] = None) -> dict:
    """The notebook's metrics in the issue's shape.

    Returns:
        ``{"nb201": {"cifar10": {proxy: {spearman, kendall, ci95_spearman, n, n_failed}}, ...},
        "autoformer": {"c100": {...}}, "timing_s": {proxy: median seconds per net},
        "transnas_meta": {...}, "notes": [...]}`` plus ``"reproduction"`` when given.
        ``timing_s`` is the median over NB201 nets (all datasets) where NB201 was scored, else
        over every scored net; aggregates (``*_rank``) reuse their base proxy's time and are left
        out. Write it with :func:`nascore.provenance.write_metrics` (adds provenance).
    """
    out: dict = {"nb201": {}, "autoformer": {}, "timing_s": {}, "transnas_meta": transnas or {},
                 "notes": list(notes)}
    for _, r in corr_table.iterrows():
        if r["benchmark"] == "nb201":
            out["nb201"].setdefault(r["dataset"], {})[r["proxy"]] = _entry(r)
        elif r["benchmark"] == "autoformer":
            out["autoformer"].setdefault(AUTOFORMER_KEY, {})[r["proxy"]] = _entry(r)
    if scores is not None and len(scores):
        s = scores[(scores["status"] != "error") & ~scores["proxy"].isin(list(POPULATION_AGGREGATES))]
        if (s["benchmark"] == "nb201").any():
            s = s[s["benchmark"] == "nb201"]
        med = s.groupby("proxy", sort=False)["time_s"].median()
        out["timing_s"] = {p: float(v) for p, v in med.items() if math.isfinite(v)}
    if reproduction is not None and len(reproduction):
        out["reproduction"] = {r["proxy"]: {k: r[k] for k in reproduction.columns if k != "proxy"}
                               for _, r in reproduction.iterrows()}
    return out


def scores_for_csv(scores: pd.DataFrame) -> pd.DataFrame:
    """``scores`` with ``extra`` as a JSON string (for :func:`nascore.provenance.write_csv`)."""
    import json

    s = scores.copy()
    if "extra" in s:
        s["extra"] = [json.dumps(e or {}, sort_keys=True, default=float) for e in s["extra"]]
    return s
