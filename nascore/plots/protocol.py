"""Figure of the ``hybrid`` protocol (any version): each report set, the rule against the best single proxy."""

from __future__ import annotations

import numpy as np
import pandas as pd


def lobo_bars(lobo: pd.DataFrame, report: pd.DataFrame, ceiling: float = float("nan"),
              version: str = "v2"):
    """Kendall τ with 95% CIs per report set (one group of bars each): the rule selected
    without that benchmark (LOBO), the final rule (selected on every fit set), ``hybrid`` v1 and
    the best single proxy on that set.

    Args:
        lobo: :func:`nascore.experiments.hybrid_protocol.lobo_table` output.
        report: the final rule's :func:`~nascore.experiments.hybrid_protocol.report_rows` merged
            with v1 columns (``v1_kendall``, ``v1_lo``, ``v1_hi``).
        ceiling: the mini-benchmark's noise ceiling τ (a marker on its group).

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    sets = list(report["report_set"])
    lb = lobo.set_index("report_set").reindex(sets)
    rp = report.set_index("report_set").reindex(sets)
    bars = [(f"{version}, selected without this benchmark", lb["kendall"], lb["kendall_lo"], lb["kendall_hi"]),
            (f"{version} final (all fit sets)", rp["kendall"], rp["kendall_lo"], rp["kendall_hi"]),
            ("hybrid v1", rp["v1_kendall"], rp["v1_lo"], rp["v1_hi"]),
            ("best single proxy", rp["best_single_kendall"], rp["best_single_lo"], rp["best_single_hi"])]
    x = np.arange(len(sets))
    w = 0.2
    fig, ax = plt.subplots(figsize=(1.9 * len(sets) + 2, 3.8))
    for i, (lab, v, lo, hi) in enumerate(bars):
        v, lo, hi = (np.asarray(a, float) for a in (v, lo, hi))
        ax.bar(x + (i - 1.5) * w, v, w, label=lab, yerr=[v - lo, hi - v], capsize=2)
    if np.isfinite(ceiling) and "hybrid_lgg/report" in sets:
        j = sets.index("hybrid_lgg/report")
        ax.hlines(ceiling, j - 0.45, j + 0.45, colors="k", linestyles="--",
                  label="noise ceiling (LGG)")
    names = [f"{s}\n(best: {b})" for s, b in zip(sets, rp["best_single"])]
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylabel("Kendall τ on the report set")
    ax.axhline(0, color="grey", lw=0.5)
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title(f"hybrid {version}: chosen on fit sets only, judged on report sets (95% bootstrap CIs)",
                 fontsize=9)
    fig.tight_layout()
    return fig
