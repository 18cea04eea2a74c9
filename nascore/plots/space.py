"""Figures of notebook 00 (search-space survey); each returns a matplotlib ``Figure``."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd


def survey_histograms(df: pd.DataFrame, label: Optional[str] = None):
    """Histograms of params, FLOPs, CPU latency and attention share; returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
    for ax, (col, scale, xl) in zip(axes, [("params", 1e6, "params (M)"), ("flops", 1e9, "GFLOPs"),
                                           ("latency_ms", 1, "CPU latency, batch 1 (ms)")]):
        v = df[col].to_numpy(dtype=float) / scale
        v = v[np.isfinite(v)]
        if v.size:
            ax.hist(v, bins=np.logspace(np.log10(v.min()), np.log10(v.max()), 30), color="#4C72B0")
            ax.set_xscale("log")
        ax.set_xlabel(xl)
        ax.set_ylabel("architectures")
    axes[3].hist(df["attn_share"], bins=np.linspace(0, 1, 11), color="#C44E52")
    axes[3].set_xlabel("share of attention blocks")
    fig.suptitle(label or f"{len(df)} sampled architectures", fontsize=10)
    fig.tight_layout()
    return fig


def params_vs_flops(df: pd.DataFrame):
    """Params (M) vs GFLOPs, log-log, coloured by the share of attention blocks."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    sc = ax.scatter(df.params / 1e6, df.flops / 1e9, c=df.attn_share, cmap="coolwarm", s=14,
                    vmin=0, vmax=1)
    ax.set(xscale="log", yscale="log", xlabel="params (M)", ylabel="GFLOPs")
    fig.colorbar(sc, label="share of attention blocks")
    return fig
