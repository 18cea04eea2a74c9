"""Pareto fronts by non-dominated sorting on a hand-made set."""

import numpy as np
import pytest

from nascore.search import nondominated_sort, pareto_front

# (accuracy up, latency down)
POINTS = np.array([
    [90.0, 10.0],   # 0 front 1
    [92.0, 20.0],   # 1 front 1
    [91.0, 30.0],   # 2 dominated by 1 -> front 2
    [89.0, 5.0],    # 3 front 1
    [88.0, 6.0],    # 4 dominated by 3 -> front 2
    [92.0, 20.0],   # 5 equal to 1 -> front 1
    [85.0, 40.0],   # 6 dominated by 2 and 4 -> front 3
    [np.nan, 1.0],  # 7 NaN: left out
    [93.0, 50.0],   # 8 front 1 (best accuracy)
    [90.0, 12.0],   # 9 dominated by 0 -> front 2
])


def brute_front(p, maximize):
    f = p * np.where(maximize, -1, 1)
    ok = [i for i in range(len(p)) if not np.isnan(p[i]).any()]
    return [i for i in ok if not any(np.all(f[j] <= f[i]) and np.any(f[j] < f[i]) for j in ok)]


def test_front_of_hand_made_set():
    assert pareto_front(POINTS, (True, False)).tolist() == [0, 1, 3, 5, 8]


def test_all_fronts():
    fronts = [f.tolist() for f in nondominated_sort(POINTS, (True, False))]
    assert fronts == [[0, 1, 3, 5, 8], [2, 4, 9], [6]]


def test_direction_matters():
    # maximising both: the high-latency points become good
    assert pareto_front(POINTS, (True, True)).tolist() == [8]
    assert pareto_front(POINTS, (False, False)).tolist() == [3, 4, 6]


def test_matches_brute_force_on_random_points():
    rng = np.random.default_rng(0)
    for _ in range(5):
        p = rng.integers(0, 8, size=(40, 3)).astype(float)
        for mx in [(True, False, False), (True, True, False)]:
            assert pareto_front(p, mx).tolist() == brute_front(p, np.array(mx))


def test_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        pareto_front([1, 2, 3])
    with pytest.raises(ValueError, match="maximize"):
        pareto_front(POINTS, (True,))
    assert pareto_front(np.full((2, 2), np.nan)).tolist() == []


def test_numpy_fallback_matches(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_pymoo(name, *a, **k):
        if name.startswith("pymoo"):
            raise ImportError("no pymoo")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_pymoo)
    fronts = [f.tolist() for f in nondominated_sort(POINTS, (True, False))]
    assert fronts == [[0, 1, 3, 5, 8], [2, 4, 9], [6]]
