"""Figures of the hybrid segmentation mini-benchmark."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import numpy as np
import pandas as pd


def proxy_vs_dice(scores: pd.DataFrame, truth: pd.DataFrame, corrs: Dict[str, Any],
                  proxies: Sequence[str], metric: str = "val_dice_tumor",
                  ceiling: Optional[Dict[str, Any]] = None):
    """Scatter of each proxy's score (x, rank within the benchmark) against the trained
    validation tumour Dice (y), one panel per proxy, points coloured by the attention share.

    Args:
        scores: long table ``arch_id, proxy, value`` (higher is better; NaN = failed).
        truth: one row per architecture with ``arch_id``, ``attn_share`` and ``metric``.
        corrs: :func:`nascore.bench.hybrid_seg.analysis.proxy_correlations` (titles: τ [CI]).
        proxies: the panels, in order.
        ceiling: the noise ceiling (shown in the figure title).

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    n = len(proxies)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), sharey=True, squeeze=False)
    t = truth.set_index("arch_id")
    sc = None
    for ax, p in zip(axes[0], proxies):
        s = scores[scores["proxy"] == p].set_index("arch_id")["value"]
        j = t.join(s.rename("score"), how="inner").dropna(subset=["score", metric])
        x = j["score"].rank(pct=True)
        sc = ax.scatter(x, j[metric], c=j["attn_share"], cmap="viridis", vmin=0, vmax=1, s=14,
                        edgecolors="none")
        c = corrs.get(p, {})
        lo, hi = c.get("ci95_kendall", [np.nan, np.nan])
        ax.set_title(f"{p}\nτ = {c.get('kendall', np.nan):.2f} [{lo:.2f}, {hi:.2f}], n={c.get('n', 0)}",
                     fontsize=9)
        ax.set_xlabel("proxy score (percentile rank)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation tumour Dice (trained)")
    if sc is not None:
        cb = fig.colorbar(sc, ax=axes[0].tolist(), fraction=0.02, pad=0.01)
        cb.set_label("attention share of encoder blocks")
    if ceiling is not None and np.isfinite(ceiling.get("kendall", np.nan)):
        lo, hi = ceiling["ci95_kendall"]
        fig.suptitle(f"Proxies vs trained Dice on the hybrid LGG mini-benchmark "
                     f"(seed-to-seed noise ceiling τ = {ceiling['kendall']:.2f} [{lo:.2f}, {hi:.2f}], "
                     f"n={ceiling['n']})", fontsize=10, y=1.04)
    return fig
