"""Figures of notebook 03: anytime curves, regret bars and Pareto plots (return figures; the
caller saves them with :func:`nascore.provenance.save_figure`)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pandas as pd

_COLORS = {"random": "#8C8C8C", "evolution": "#C44E52", "reinforce": "#4C72B0",
           "blockwise": "#55A868"}


def _color(name: str, i: int) -> str:
    import matplotlib.pyplot as plt

    return _COLORS.get(name, plt.rcParams["axes.prop_cycle"].by_key()["color"][i % 10])


def anytime_plot(anytime: pd.DataFrame, objectives: Optional[Sequence[str]] = None,
                 optimum: Optional[float] = None, target: Optional[float] = None,
                 ylim: Optional[tuple] = None, title: str = ""):
    """One panel per objective; per strategy, the mean ± sd (over seeds) true accuracy of the
    architecture the search would return after ``n`` evaluations (log x axis).

    Args:
        anytime: :func:`nascore.experiments.search_nb201.anytime_frame` output.
        objectives: panel order (default: as they appear).
        optimum, target: horizontal reference lines (e.g. 94.37 and 93.5).
        ylim: y range (default: from the data, at least 88).
    """
    import matplotlib.pyplot as plt

    objectives = list(objectives or dict.fromkeys(anytime["objective"]))
    n = max(len(objectives), 1)
    ncol = min(n, 3)
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.4 * nrow), squeeze=False,
                             sharey=True)
    for k, o in enumerate(objectives):
        ax = axes[k // ncol][k % ncol]
        sub = anytime[anytime["objective"] == o]
        for i, (s, g) in enumerate(sub.groupby("strategy", sort=False)):
            st = g.groupby("n_evals")["true_acc"].agg(["mean", "std", "count"])
            x, m = st.index.to_numpy(float), st["mean"].to_numpy(float)
            sd = np.nan_to_num(st["std"].to_numpy(float))
            c = _color(s, i)
            ax.plot(x, m, color=c, lw=1.6, label=f"{s} (n={int(st['count'].max())})")
            ax.fill_between(x, m - sd, m + sd, color=c, alpha=0.15, lw=0)
        if optimum is not None:
            ax.axhline(optimum, color="k", ls=":", lw=1, label=f"optimum {optimum:g}")
        if target is not None:
            ax.axhline(target, color="#DD8452", ls="--", lw=1, label=f"target {target:g}")
        ax.set_xscale("log")
        ax.set_title(o, fontsize=10)
        ax.set_xlabel("evaluations")
        if k % ncol == 0:
            ax.set_ylabel("true test acc. of found arch (%)")
        ax.grid(alpha=0.3)
    for k in range(n, nrow * ncol):
        axes[k // ncol][k % ncol].set_visible(False)
    lo = np.nanmin(anytime["true_acc"]) if len(anytime) else 88.0
    axes[0][0].set_ylim(ylim or (max(min(lo, 93.0) - 0.5, 85.0), 94.6))
    axes[0][0].legend(fontsize=7, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def regret_bars(per_run: pd.DataFrame, target: Optional[float] = None, title: str = ""):
    """Mean regret (± sd over seeds, seeds as dots) per device and objective.

    Args:
        per_run: :func:`nascore.experiments.search_nb201.latency_searches` rows.
        target: horizontal line (e.g. 1.0).
    """
    import matplotlib.pyplot as plt

    devices = list(dict.fromkeys(per_run["device"]))
    objectives = list(dict.fromkeys(per_run["objective"]))
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(devices) * max(len(objectives), 1) / 2, 3.4))
    w = 0.8 / max(len(objectives), 1)
    rng = np.random.default_rng(0)
    for j, o in enumerate(objectives):
        xs, ms, sds = [], [], []
        for i, d in enumerate(devices):
            v = per_run[(per_run["device"] == d) & (per_run["objective"] == o)]["regret"].to_numpy(float)
            x = i + (j - (len(objectives) - 1) / 2) * w
            xs.append(x)
            ms.append(np.nanmean(v) if v.size else np.nan)
            sds.append(np.nanstd(v, ddof=1) if v.size > 1 else 0.0)
            ax.scatter(x + rng.uniform(-w / 6, w / 6, v.size), v, s=9, color="k", zorder=3)
        ax.bar(xs, ms, w * 0.9, yerr=sds, capsize=3, label=o, color=f"C{j}", alpha=0.8)
    if target is not None:
        ax.axhline(target, color="#DD8452", ls="--", lw=1, label=f"target {target:g}")
    budgets = per_run.groupby("device", sort=False)["budget_ms"].first()
    ax.set_xticks(range(len(devices)))
    ax.set_xticklabels([f"{d}\n(budget {budgets[d]:.3g} ms)" for d in devices], fontsize=8)
    ax.set_ylabel("regret (points)")
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title or "latency-constrained search: best feasible - found", fontsize=10)
    fig.tight_layout()
    return fig


def pareto_plot(frame: pd.DataFrame, budget_flops: Optional[float] = None,
                best_id: Optional[str] = None, title: str = ""):
    """Proxy score against FLOPs and against predicted latency (two panels).

    Args:
        frame: :func:`nascore.experiments.search_hybrid.add_pareto` output (``score``,
            ``flops``, ``pred_latency_ms``, ``feasible``, ``status``, ``front_flops``,
            ``front_latency``, ``arch_id``).
        budget_flops: a vertical line at this FLOPs budget (absolute; omit for relative budgets).
        best_id: the arch_id to star.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    ok = frame[(frame["status"] == "ok") & frame["feasible"]]
    rej = frame[~frame["feasible"]]
    for ax, cost, front, scale, xl in ((axes[0], "flops", "front_flops", 1e9, "GFLOPs (own resolution)"),
                                       (axes[1], "pred_latency_ms", "front_latency", 1.0,
                                        "predicted CPU latency, batch 1 (ms, LUT)")):
        ax.scatter(ok[cost] / scale, ok["score"], s=14, color="#4C72B0", alpha=0.6,
                   label=f"scored (n={len(ok)})")
        f = ok[ok[front]].sort_values(cost)
        if len(f):
            ax.step(f[cost] / scale, f["score"], where="post", color="#C44E52", lw=1.5)
            ax.scatter(f[cost] / scale, f["score"], s=26, color="#C44E52",
                       label=f"Pareto front (n={len(f)})", zorder=3)
        if cost == "flops" and len(rej):
            ax.scatter(rej[cost] / scale, np.full(len(rej), 0.03), transform=ax.get_xaxis_transform(),
                       marker="|", s=40, color="#8C8C8C",
                       label=f"rejected, over budget, not scored (n={len(rej)})")
        if best_id is not None:
            b = ok[ok["arch_id"] == best_id]
            if len(b):
                ax.scatter(b[cost] / scale, b["score"], marker="*", s=180, color="#FFB000",
                           edgecolor="k", zorder=4, label="best_arch.json")
        if cost == "flops" and len(rej):  # the rug is in axes coordinates: widen the x range
            xs = pd.concat([ok[cost], rej[cost]]).to_numpy(float) / scale
            xs = xs[np.isfinite(xs)]
            if xs.size:
                pad = 0.04 * (xs.max() - xs.min() or 1.0)
                ax.set_xlim(xs.min() - pad, xs.max() + pad)
        if cost == "flops" and budget_flops is not None:
            ax.axvline(budget_flops / scale, color="#DD8452", ls="--", lw=1, label="FLOPs budget")
        ax.set_xlabel(xl)
        ax.set_ylabel("hybrid proxy score")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
