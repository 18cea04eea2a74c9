"""Rank correlations between proxy scores and ground truth, with bootstrap CIs and NaN policy.

Failures (NaN / +-inf scores, e.g. naswot's -inf or jacob_cov's NaN on degenerate NB201 cells)
are handled explicitly by ``nan_policy``:

* ``"drop"`` (default): drop the pair and count it in ``n_failed``;
* ``"worst"``: keep the pair and rank the failure below every finite score (ties among
  failures) -- the convention of the published NB201 evaluations, where degenerate cells count
  and rank worst; rank statistics then use all pairs (Pearson still uses finite pairs only);
* ``"raise"``: raise ``ValueError``.

Pairs whose ground truth is not finite are always dropped and counted in ``n_truth_missing``.
Scores are oriented first: with ``higher_is_better=False`` they are negated, so failures still
rank worst.
"""

from __future__ import annotations

from typing import Iterable, Optional

import numpy as np
from scipy import stats

NAN_POLICIES = ("drop", "worst", "raise")


def _prepare(scores, truth, nan_policy: str = "drop", higher_is_better: bool = True):
    """Aligned float arrays with failures handled; returns (s, t, n_failed, n_truth_missing, finite_mask)."""
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {nan_policy!r}")
    s = np.asarray(scores, dtype=np.float64).ravel()
    t = np.asarray(truth, dtype=np.float64).ravel()
    if s.shape != t.shape:
        raise ValueError(f"scores and truth differ in length: {s.size} vs {t.size}")
    if not higher_is_better:
        s = -s
    tok = np.isfinite(t)
    s, t = s[tok], t[tok]
    bad = ~np.isfinite(s)
    n_failed = int(bad.sum())
    if n_failed and nan_policy == "raise":
        raise ValueError(f"{n_failed} of {s.size} scores are NaN or infinite")
    if nan_policy == "drop":
        s, t = s[~bad], t[~bad]
        finite = np.ones(s.size, bool)
    else:
        finite = ~bad
        if n_failed:
            s = s.copy()
            lo = s[finite].min() if finite.any() else 0.0
            s[bad] = lo - 1.0 - abs(lo)  # strictly below every finite score
    return s, t, n_failed, int((~tok).sum()), finite


def _safe(v) -> float:
    v = float(v)
    return v if np.isfinite(v) else float("nan")


def _spearman(s, t) -> float:
    if s.size < 3 or np.ptp(s) == 0 or np.ptp(t) == 0:
        return float("nan")
    return _safe(stats.spearmanr(s, t)[0])


def _kendall(s, t) -> float:
    if s.size < 3 or np.ptp(s) == 0 or np.ptp(t) == 0:
        return float("nan")
    return _safe(stats.kendalltau(s, t)[0])  # tau-b (ties corrected)


def _pearson(s, t) -> float:
    if s.size < 3 or np.ptp(s) == 0 or np.ptp(t) == 0:
        return float("nan")
    return _safe(stats.pearsonr(s, t)[0])


def spearman(scores, truth, nan_policy: str = "drop", higher_is_better: bool = True) -> float:
    """Spearman's rho (NaN when fewer than 3 pairs or a constant input)."""
    s, t, *_ = _prepare(scores, truth, nan_policy, higher_is_better)
    return _spearman(s, t)


def kendall(scores, truth, nan_policy: str = "drop", higher_is_better: bool = True) -> float:
    """Kendall's tau-b (NaN when fewer than 3 pairs or a constant input)."""
    s, t, *_ = _prepare(scores, truth, nan_policy, higher_is_better)
    return _kendall(s, t)


def pearson(scores, truth, nan_policy: str = "drop", higher_is_better: bool = True) -> float:
    """Pearson's r on the finite pairs (``nan_policy="worst"`` behaves like ``"drop"`` here)."""
    s, t, _, _, finite = _prepare(scores, truth, nan_policy, higher_is_better)
    return _pearson(s[finite], t[finite])


def _topk(s, t, k_percent: float) -> float:
    n = s.size
    if n == 0:
        return float("nan")
    k = max(1, int(round(n * k_percent / 100.0)))
    top_s = np.argsort(-s, kind="stable")[:k]
    top_t = np.argsort(-t, kind="stable")[:k]
    return len(np.intersect1d(top_s, top_t)) / k


def topk_precision(scores, truth, k_percent: float = 10.0, nan_policy: str = "drop",
                   higher_is_better: bool = True) -> float:
    """Fraction of the top-``k_percent``% by score that are also in the top-``k_percent``% by truth.

    ``k = max(1, round(n * k_percent / 100))``; ties are broken by position (stable sort).
    """
    if not 0 < k_percent <= 100:
        raise ValueError(f"k_percent must be in (0, 100], got {k_percent}")
    s, t, *_ = _prepare(scores, truth, nan_policy, higher_is_better)
    return _topk(s, t, k_percent)


def correlate(scores, truth, n_boot: int = 1000, seed: int = 0, higher_is_better: bool = True,
              nan_policy: str = "drop", ci: float = 0.95,
              topk: Iterable[float] = (10,)) -> dict:
    """All correlation statistics for one proxy against ground truth.

    Confidence intervals are paired percentile bootstraps (``scipy.stats.bootstrap``, resampling
    (score, truth) pairs, ``n_boot`` resamples, seeded). A perfectly ranked list gives 1 with
    CI (1, 1).

    Returns:
        dict with ``spearman``, ``kendall``, ``pearson``, ``ci95_spearman`` and ``ci95_kendall``
        (``(lo, hi)``; the key keeps the ``ci95`` name whatever ``ci`` is), ``n`` (pairs used),
        ``n_failed`` (non-finite scores: dropped under "drop", ranked worst under "worst"),
        ``n_truth_missing``, ``top<k>_precision`` for each ``k`` in ``topk``, ``nan_policy``,
        ``n_boot``.
    """
    s, t, n_failed, n_missing, finite = _prepare(scores, truth, nan_policy, higher_is_better)
    out = {
        "spearman": _spearman(s, t), "kendall": _kendall(s, t),
        "pearson": _pearson(s[finite], t[finite]),
        "n": int(s.size), "n_failed": n_failed, "n_truth_missing": n_missing,
        "nan_policy": nan_policy, "n_boot": int(n_boot),
    }
    for k in topk:
        out[f"top{k:g}_precision"] = _topk(s, t, k)
    nan_ci = (float("nan"), float("nan"))
    out["ci95_spearman"], out["ci95_kendall"] = nan_ci, nan_ci
    if n_boot > 0 and s.size >= 3 and np.isfinite(out["spearman"]):
        def stat(a, b):
            return np.array([_spearman(a, b), _kendall(a, b)])

        res = stats.bootstrap((s, t), stat, paired=True, vectorized=False, n_resamples=int(n_boot),
                              confidence_level=ci, method="percentile",
                              rng=np.random.default_rng(seed))
        lo, hi = res.confidence_interval.low, res.confidence_interval.high
        out["ci95_spearman"] = (_safe(lo[0]), _safe(hi[0]))
        out["ci95_kendall"] = (_safe(lo[1]), _safe(hi[1]))
    return out
