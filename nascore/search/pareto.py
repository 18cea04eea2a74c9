"""Pareto fronts by non-dominated sorting (pymoo's ``NonDominatedSorting`` when installed,
else a plain numpy implementation).

Example:
    >>> pts = [[90, 10], [92, 20], [91, 30], [89, 5]]     # (accuracy, latency)
    >>> pareto_front(pts, maximize=(True, False)).tolist()
    [0, 1, 3]
"""

from __future__ import annotations

from typing import List, Sequence

import numpy as np


def _as_minimization(points, maximize: Sequence[bool]) -> np.ndarray:
    f = np.asarray(points, dtype=float)
    if f.ndim != 2:
        raise ValueError(f"points must be a 2-D array (n_points, n_objectives), got shape {f.shape}")
    if len(maximize) != f.shape[1]:
        raise ValueError(f"maximize has {len(maximize)} entries for {f.shape[1]} objectives")
    return f * np.where(np.asarray(maximize, dtype=bool), -1.0, 1.0)


def nondominated_sort(points, maximize: Sequence[bool] = (True, False)) -> List[np.ndarray]:
    """Non-dominated fronts, best first.

    A point dominates another when it is at least as good in every objective and strictly
    better in one. Rows with a NaN are left out of every front. Equal points share a front.

    Args:
        points: ``(n, m)`` objective values.
        maximize: per objective, whether higher is better (default: score up, cost down).

    Returns:
        One sorted index array per front (indices into ``points``).
    """
    f = _as_minimization(points, maximize)
    ok = np.flatnonzero(~np.isnan(f).any(axis=1))
    if ok.size == 0:
        return []
    try:
        from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting
    except ImportError:  # pymoo is optional: plain O(n^2) peeling
        fronts = _peel(f[ok])
    else:
        fronts = NonDominatedSorting().do(f[ok])
    return [np.sort(ok[np.asarray(fr, dtype=int)]) for fr in fronts]


def _peel(f: np.ndarray) -> List[np.ndarray]:
    """Fronts of a minimisation problem by repeatedly removing the non-dominated points."""
    left = np.arange(len(f))
    fronts = []
    while left.size:
        g = f[left]
        dominated = np.array([np.any(np.all(g <= g[i], axis=1) & np.any(g < g[i], axis=1))
                              for i in range(len(g))])
        fronts.append(left[~dominated])
        left = left[dominated]
    return fronts


def pareto_front(points, maximize: Sequence[bool] = (True, False)) -> np.ndarray:
    """Indices of the non-dominated points (the first front), sorted."""
    fronts = nondominated_sort(points, maximize)
    return fronts[0] if fronts else np.zeros(0, dtype=int)
