"""Generic plots for correlation studies: heatmap, score-vs-truth scatter grid, timing bars.

Every function returns a matplotlib ``Figure`` (save it with :func:`nascore.provenance.save_figure`) and
imports matplotlib lazily.
"""

from __future__ import annotations

import math
from typing import Mapping, Optional

import numpy as np
import pandas as pd


def heatmap(matrix: pd.DataFrame, title: str = "", vmin: float = -1.0, vmax: float = 1.0,
            annotate: bool = True, cmap: str = "RdBu_r", fmt: str = "{:.2f}"):
    """A labelled heatmap of ``matrix`` (e.g. proxy-vs-proxy Spearman); NaN cells are grey."""
    import matplotlib.pyplot as plt

    m = matrix.to_numpy(float)
    h, w = m.shape
    fig, ax = plt.subplots(figsize=(max(4.0, 0.55 * w + 2.5), max(3.0, 0.45 * h + 1.5)))
    cm = plt.get_cmap(cmap).copy()
    cm.set_bad("#dddddd")
    im = ax.imshow(np.ma.masked_invalid(m), cmap=cm, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(w), [str(c) for c in matrix.columns], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(h), [str(i) for i in matrix.index], fontsize=8)
    if annotate and h * w <= 900:
        for i in range(h):
            for j in range(w):
                if np.isfinite(m[i, j]):
                    dark = abs(m[i, j] - (vmin + vmax) / 2) > 0.35 * (vmax - vmin)
                    ax.text(j, i, fmt.format(m[i, j]), ha="center", va="center", fontsize=6,
                            color="white" if dark else "black")
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def _use_log(v: np.ndarray) -> bool:
    v = v[np.isfinite(v)]
    return v.size > 1 and (v > 0).all() and v.max() / v.min() > 100


def scatter_grid(wide: pd.DataFrame, truth: pd.Series, ncols: int = 4, title: str = "",
                 stats: Optional[Mapping[str, float]] = None, ylabel: str = "accuracy (%)",
                 highlight: Optional[pd.Series] = None):
    """One scatter per column of ``wide`` (proxy score vs ``truth``, aligned on the index).

    Non-finite scores are drawn in red at the left edge (they rank worst). Positive scores that
    span more than two decades use a log x axis.

    Args:
        wide: nets x proxies (:func:`nascore.experiments.proxy_corr.wide_scores`).
        truth: accuracy indexed like ``wide``.
        stats: optional ``{proxy: spearman}`` printed in each title.
        highlight: optional boolean Series (e.g. degenerate cells) drawn in orange.
    """
    import matplotlib.pyplot as plt

    cols = list(wide.columns)
    n = max(1, len(cols))
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.7 * nrows), squeeze=False)
    t = truth.reindex(wide.index).to_numpy(float)
    hl = (highlight.reindex(wide.index).fillna(False).to_numpy(bool) if highlight is not None
          else np.zeros(len(wide), bool))
    for ax, c in zip(axes.flat, cols):
        v = wide[c].to_numpy(float)
        ok = np.isfinite(v)
        if _use_log(v):
            ax.set_xscale("log")
        ax.scatter(v[ok & ~hl], t[ok & ~hl], s=6, alpha=0.6, color="#4C72B0", linewidths=0)
        if (ok & hl).any():
            ax.scatter(v[ok & hl], t[ok & hl], s=8, color="#DD8452", linewidths=0, label="degenerate")
        if (~ok).any() and ok.any():
            x0 = np.nanmin(v[ok])
            ax.scatter(np.full((~ok).sum(), x0), t[~ok], s=8, marker="x", color="#C44E52",
                       linewidths=0.8, label="failed")
        lab = c if not stats or c not in stats else f"{c}  ρ={stats[c]:.2f}"
        ax.set_title(lab, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_ylabel(ylabel, fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def timing_bars(times: pd.Series, title: str = "median seconds per net", log: bool = True):
    """Horizontal bars of ``times`` (index: proxy), sorted, with the values written beside them."""
    import matplotlib.pyplot as plt

    s = times.dropna().sort_values()
    fig, ax = plt.subplots(figsize=(6, max(2.0, 0.28 * len(s) + 1)))
    ax.barh(range(len(s)), s.to_numpy(), color="#55A868")
    ax.set_yticks(range(len(s)), [str(i) for i in s.index], fontsize=8)
    if log and len(s) and (s > 0).all():
        ax.set_xscale("log")
    for i, v in enumerate(s.to_numpy()):
        ax.text(v, i, f" {v:.3g}s", va="center", fontsize=7)
    ax.set_xlabel("seconds", fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
