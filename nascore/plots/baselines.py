"""Figures of notebook 01 (survey of baselines): DARTS skip share over epochs, rank disorder,
cost against quality. Each returns a matplotlib ``Figure``; save it with
:func:`nascore.provenance.save_figure`."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd


def skip_share_plot(epochs: pd.DataFrame, title: str = ""):
    """Share of skip connections in the derived DARTS cell after each epoch, one line per seed
    (and the true 200-epoch accuracy of that cell on a second axis).

    Args:
        epochs: ``run_darts(...)["epochs"]`` (seed, epoch, skip_share, true_acc).
    """
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    for sd, g in epochs.groupby("seed"):
        a1.plot(g["epoch"], g["skip_share"], marker="o", ms=3, label=f"seed {sd}")
        a2.plot(g["epoch"], g["true_acc"], marker="o", ms=3, label=f"seed {sd}")
    a1.set(xlabel="supernet epoch", ylabel="skip_connect share of derived cell", ylim=(-0.05, 1.05))
    a2.set(xlabel="supernet epoch", ylabel="true NB201 accuracy of derived cell (%)")
    from matplotlib.ticker import MaxNLocator

    for a in (a1, a2):
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    a1.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def rank_disorder_plot(cells: pd.DataFrame, rank: Mapping[str, Any], title: str = ""):
    """Supernet-inherited accuracy against true NB201 accuracy of the sampled cells, with
    Kendall tau and its 95% CI in the title."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 3.8))
    ax.scatter(cells["true_acc"], cells["inherited_acc"], s=10, alpha=0.7)
    lo, hi = rank["ci95_kendall"]
    ax.set(xlabel="true NB201 accuracy (%, 200 epochs)", ylabel="supernet-inherited accuracy (%)",
           title=(title + "\n" if title else "") + f"Kendall tau = {rank['kendall']:.2f} "
           f"[{lo:.2f}, {hi:.2f}], n = {rank['n']}")
    ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig


def cost_quality_plot(cost: pd.DataFrame, cost_column: str = "est_cpu_s"):
    """Quality found against CPU cost (log x), one panel per ground; methods without a known
    cost are listed at the left edge with their measured search CPU seconds instead."""
    import matplotlib.pyplot as plt

    grounds = list(dict.fromkeys(cost["ground"]))
    fig, axes = plt.subplots(1, len(grounds), figsize=(5.2 * len(grounds), 4), squeeze=False)
    for ax, gname in zip(axes[0], grounds):
        g = cost[cost["ground"] == gname]
        x = g[cost_column].where(np.isfinite(g[cost_column]), g["search_cpu_s"]).clip(lower=1e-4)
        for fam, gg in g.groupby("family", sort=False):
            xx = x.loc[gg.index]
            ax.errorbar(xx, gg["quality_mean"], yerr=gg["quality_sd"].fillna(0), fmt="o", ms=4,
                        capsize=2, label=fam)
            for xi, yi, m in zip(xx, gg["quality_mean"], gg["method"]):
                ax.annotate(m, (xi, yi), fontsize=6, xytext=(3, 2), textcoords="offset points")
        ax.set(xscale="log", xlabel="CPU seconds (estimated for real evaluations; search only "
               "where unknown)", ylabel=str(g["quality_metric"].iloc[0]), title=gname)
        ax.xaxis.label.set_fontsize(7)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
