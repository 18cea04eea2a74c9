"""Correlation statistics, bootstrap CIs and NaN handling."""

import math

import numpy as np
import pytest
from scipy import stats

from nascore import corr


def test_perfect_ranking_is_one_with_ci():
    x = np.arange(50.0)
    r = corr.correlate(x, x ** 3, n_boot=200, seed=0)
    assert r["spearman"] == pytest.approx(1.0) and r["kendall"] == pytest.approx(1.0)
    lo, hi = r["ci95_spearman"]
    assert lo == pytest.approx(1.0) and hi == pytest.approx(1.0)
    assert r["ci95_kendall"][0] == pytest.approx(1.0)
    assert r["n"] == 50 and r["n_failed"] == 0 and r["top10_precision"] == 1.0
    rev = corr.correlate(x, -x, n_boot=0)
    assert rev["spearman"] == pytest.approx(-1.0) and math.isnan(rev["ci95_spearman"][0])
    assert corr.correlate(-x, -x, higher_is_better=False, n_boot=0)["spearman"] == pytest.approx(-1.0)


def test_matches_scipy_and_ci_contains_estimate():
    rng = np.random.default_rng(1)
    t = rng.normal(size=300)
    s = t + rng.normal(size=300)
    r = corr.correlate(s, t, n_boot=300, seed=0)
    assert r["spearman"] == pytest.approx(stats.spearmanr(s, t)[0])
    assert r["kendall"] == pytest.approx(stats.kendalltau(s, t)[0])
    assert r["pearson"] == pytest.approx(stats.pearsonr(s, t)[0])
    lo, hi = r["ci95_spearman"]
    assert lo < r["spearman"] < hi and hi - lo < 0.2
    assert corr.correlate(s, t, n_boot=300, seed=0)["ci95_kendall"] == r["ci95_kendall"]  # seeded


def test_nan_policy_drop_counts_failures():
    t = np.arange(20.0)
    s = t.copy()
    s[[3, 7]] = np.nan
    s[11] = -np.inf
    t2 = t.copy()
    t2[0] = np.nan
    r = corr.correlate(s, t2, n_boot=50)
    assert r["n"] == 16 and r["n_failed"] == 3 and r["n_truth_missing"] == 1
    assert r["spearman"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="3 of 19"):
        corr.correlate(s, t2, nan_policy="raise")


def test_nan_policy_worst_ranks_failures_last():
    t = np.arange(10.0)
    s = t.copy()
    s[[0, 1]] = [np.nan, np.inf]  # the two worst nets fail: ranked worst, tied with each other
    r = corr.correlate(s, t, nan_policy="worst", n_boot=0)
    tied = np.r_[-5.0, -5.0, t[2:]]
    assert r["n"] == 10 and r["n_failed"] == 2
    assert r["spearman"] == pytest.approx(stats.spearmanr(tied, t)[0])
    assert r["kendall"] == pytest.approx(stats.kendalltau(tied, t)[0]) and r["spearman"] > 0.99
    s2 = t.copy()
    s2[9] = np.nan  # the best net fails: ranked worst, correlation drops
    assert corr.spearman(s2, t, nan_policy="worst") < 0.9
    assert corr.spearman(s2, t, nan_policy="drop") == pytest.approx(1.0)
    # with higher_is_better=False failures still rank worst
    assert corr.kendall(-s, t, nan_policy="worst", higher_is_better=False) == pytest.approx(r["kendall"])


def test_topk_precision():
    t = np.arange(100.0)
    s = t.copy()
    s[99], s[0] = s[0], s[99]  # best truth scored lowest
    assert corr.topk_precision(s, t, 10) == pytest.approx(0.9)
    assert corr.topk_precision(t, t, 5) == 1.0
    assert corr.topk_precision(-t, t, 10) == 0.0
    with pytest.raises(ValueError):
        corr.topk_precision(s, t, 0)


def test_degenerate_inputs_give_nan_not_crash():
    r = corr.correlate([1.0, 1.0, 1.0, 1.0], [1, 2, 3, 4], n_boot=20)
    assert math.isnan(r["spearman"]) and r["n"] == 4
    r = corr.correlate([np.nan, 1.0], [1.0, 2.0], n_boot=20)
    assert math.isnan(r["kendall"]) and r["n"] == 1 and r["n_failed"] == 1
    with pytest.raises(ValueError, match="length"):
        corr.spearman([1, 2, 3], [1, 2])
