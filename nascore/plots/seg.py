"""Plots of the segmentation study (notebook 04): Dice vs FLOPs, loss-term training curves,
validation curves, cost before/after the knob search, the post-processing effect, and image /
ground truth / prediction overlays.

Every function returns a matplotlib ``Figure`` (save it with :func:`nascore.provenance.save_figure`) and
imports matplotlib lazily.
"""

from __future__ import annotations

import math
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

LOSS_TERMS = ("dice", "transformer", "complexity", "entropy", "total")
HIGHLIGHT = ("searched", "searched_scratch", "searched_noattn", "input_arch")


def _colours(models: Sequence[str]) -> Dict[str, str]:
    import matplotlib.pyplot as plt

    cyc = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {m: cyc[i % len(cyc)] for i, m in enumerate(models)}


def dice_vs_flops(summary: pd.DataFrame, baseline: str = "hctnet_like", cost_frac: float = 0.5,
                  dice_margin: float = 0.01, title: str = ""):
    """Tumour Dice (mean over tumour slices and seeds; error bar = the patient-bootstrap 95% CI
    when the table has it, else ± sd over seeds) against FLOPs, one point per model.

    Args:
        summary: per-model table with ``model``, ``flops``, ``params``, ``dice_tumor`` and
            ``dice_tumor_ci95_lo``/``_hi`` or ``dice_tumor_sd``
            (:func:`nascore.experiments.seg_finetune.results_table`).
        baseline: the reference model; when present, the target region (FLOPs <=
            ``cost_frac`` x its FLOPs and Dice >= its Dice + ``dice_margin``) is shaded.
        title: figure title.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    col = _colours(list(summary["model"]))
    g = summary["flops"].to_numpy(float) / 1e9
    d = summary["dice_tumor"].to_numpy(float)
    if "dice_tumor_ci95_lo" in summary:
        lo = np.nan_to_num(d - summary["dice_tumor_ci95_lo"].to_numpy(float))
        hi = np.nan_to_num(summary["dice_tumor_ci95_hi"].to_numpy(float) - d)
        err, what = np.stack([lo, hi]), "95% CI over patients"
    else:
        sd = summary["dice_tumor_sd"].to_numpy(float) if "dice_tumor_sd" in summary else np.zeros(len(d))
        err, what = np.stack([np.nan_to_num(sd)] * 2), "± sd over seeds"
    pm = summary["params"].to_numpy(float) / 1e6
    size = 40 + 160 * pm / max(pm.max(), 1e-9)
    for i, m in enumerate(summary["model"]):
        ax.errorbar(g[i], d[i], yerr=err[:, i:i + 1], fmt="none", ecolor=col[m], capsize=3, lw=1)
        ax.scatter(g[i], d[i], s=size[i], color=col[m], edgecolor="k",
                   marker="*" if m in HIGHLIGHT else "o", zorder=3,
                   label=f"{m} ({pm[i]:.2f} M params)")
    b = summary[summary["model"] == baseline]
    if len(b):
        bf, bd = float(b["flops"].iloc[0]) / 1e9, float(b["dice_tumor"].iloc[0])
        ax.axvline(cost_frac * bf, color="grey", ls="--", lw=0.8)
        ax.axhline(bd + dice_margin, color="grey", ls=":", lw=0.8)
        ylim = ax.get_ylim()
        ax.fill_between([0, cost_frac * bf], bd + dice_margin, max(ylim[1], bd + dice_margin),
                        color="green", alpha=0.08, label=f"target vs {baseline}")
        ax.set_ylim(ylim[0], max(ylim[1], bd + dice_margin + 0.01))
    from matplotlib.ticker import FormatStrFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(FormatStrFormatter("%g"))
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("GFLOPs per image (log)")
    ax.set_ylabel(f"test tumour Dice ({what})")
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    ax.set_title(title or "Dice vs FLOPs (marker area ~ params)", fontsize=10)
    fig.tight_layout()
    return fig


def _smooth(y: pd.Series, window: int) -> pd.Series:
    return y.rolling(window, min_periods=1).mean() if window > 1 else y


def loss_curves(curves: pd.DataFrame, phase: str, terms: Sequence[str] = LOSS_TERMS,
                models: Optional[Sequence[str]] = None, smooth: int = 1, title: str = ""):
    """One panel per loss term: the per-step value of each model (mean over seeds).

    Terms that are all NaN or all zero in this phase (e.g. complexity during fine-tuning) are
    drawn as an empty panel saying so, so every term has its place.

    Args:
        curves: :attr:`PipelineResults.curves` (``model, seed, phase, step`` and the terms).
        phase: ``"search"`` or ``"train"``.
        terms: the columns to plot (``expected_gflops`` is also allowed).
        models: which models (default: all in the phase).
        smooth: moving-average window in steps.
    """
    import matplotlib.pyplot as plt

    c = curves[curves["phase"] == phase]
    models = list(models) if models is not None else list(dict.fromkeys(c["model"]))
    col = _colours(models)
    n = len(terms)
    ncol = min(n, 3)
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.0 * nrow), squeeze=False)
    for k, term in enumerate(terms):
        ax = axes[k // ncol][k % ncol]
        drawn = False
        if term in c.columns:
            for m in models:
                sub = c[c["model"] == m]
                y = sub.groupby("step")[term].mean()
                if y.notna().any() and (y.fillna(0) != 0).any():
                    ax.plot(y.index, _smooth(y, smooth), color=col[m], lw=1, label=m)
                    drawn = True
        if not drawn:
            ax.text(0.5, 0.5, f"{term}: off in this phase", ha="center", va="center",
                    transform=ax.transAxes, fontsize=8, color="grey")
        ax.set_title(term, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for k in range(n, nrow * ncol):
        axes[k // ncol][k % ncol].axis("off")
    handles, labels = [], []
    for row in axes:
        for ax in row:
            h, lab = ax.get_legend_handles_labels()
            for hh, ll in zip(h, lab):
                if ll not in labels:
                    handles.append(hh)
                    labels.append(ll)
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8,
                   frameon=False)
    fig.suptitle(title or f"loss terms ({phase})", fontsize=10)
    fig.tight_layout(rect=(0, 0.06 if handles else 0, 1, 1))
    return fig


def val_curves(val: pd.DataFrame, metric: str = "val_dice", title: str = ""):
    """Validation Dice per epoch, one line per model (mean over seeds, band = min..max).

    The x axis is ``opt_step`` (optimisation steps of the weights, knob search included; see
    :attr:`nascore.seg.pipeline.PipelineResults.val_curves`) when ``val`` has it, else the epoch,
    so a model that inherited searched weights starts where its search ended.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    models = list(dict.fromkeys(val["model"]))
    col = _colours(models)
    x_col = "opt_step" if "opt_step" in val.columns else "epoch"
    for m in models:
        g = val[val["model"] == m].groupby(x_col)[metric]
        mean, lo, hi = g.mean(), g.min(), g.max()
        x = mean.index if x_col == "opt_step" else mean.index + 1
        ax.plot(x, mean, marker="o", ms=3, color=col[m], label=m,
                ls="--" if m.endswith("_scratch") else "-")
        ax.fill_between(x, lo, hi, color=col[m], alpha=0.15)
    ax.set_xlabel("optimisation steps (knob search included)" if x_col == "opt_step" else "epoch")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title or "validation Dice", fontsize=10)
    fig.tight_layout()
    return fig


def loss_ablation(table: pd.DataFrame, title: str = ""):
    """The loss-term ablation (:func:`nascore.seg.ablation.ablation_table`): tumour Dice (error
    bar: 95% patient-bootstrap CI when present, else ± sd over seeds), GFLOPs after
    discretisation and the final gate entropy, one bar per variant."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    v = list(table["variant"])
    x = np.arange(len(v))
    d = table["dice_tumor"].to_numpy(float)
    if "dice_tumor_ci95_lo" in table:
        err = np.stack([np.nan_to_num(d - table["dice_tumor_ci95_lo"].to_numpy(float)),
                        np.nan_to_num(table["dice_tumor_ci95_hi"].to_numpy(float) - d)])
    else:
        err = np.stack([np.nan_to_num(table["dice_tumor_sd"].to_numpy(float))] * 2)
    panels = ((d, err, "test tumour Dice"), (table["flops_after"].to_numpy(float) / 1e9, None,
              "GFLOPs after discretisation"), (table["gate_entropy"].to_numpy(float), None,
                                               "gate entropy (end of search)"))
    for ax, (y, e, name) in zip(axes, panels):
        ax.bar(x, y, yerr=e, capsize=3, color="#4C72B0")
        ax.set_xticks(x, v, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(name, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title or "loss-term ablation of the knob search", fontsize=10)
    fig.tight_layout()
    return fig


def postprocess_effect(raw: pd.DataFrame, pp: pd.DataFrame, title: str = ""):
    """Per model, without and with the validation-chosen small-component removal
    (:mod:`nascore.seg.postprocess`): the false-positive rate on tumour-free slices, tumour
    Dice and per-patient Dice (summaries of :func:`nascore.seg.pipeline.summarise`; error bar:
    95% patient-bootstrap CI when present)."""
    import matplotlib.pyplot as plt

    models = [m for m in raw["model"] if m in set(pp["model"])]
    r, q = raw.set_index("model").loc[models], pp.set_index("model").loc[models]
    x = np.arange(len(models))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, (m, name) in zip(axes, (("fp_rate_empty", "FP rate on tumour-free slices"),
                                    ("dice_tumor", "tumour Dice"),
                                    ("dice_patient", "per-patient Dice"))):
        for dx, t, lab, col in ((-0.2, r, "none", "#999999"),
                                (0.2, q, "small components removed", "#4C72B0")):
            y = t[m].to_numpy(float)
            err = None
            if f"{m}_ci95_lo" in t:
                err = np.stack([np.nan_to_num(y - t[f"{m}_ci95_lo"].to_numpy(float)),
                                np.nan_to_num(t[f"{m}_ci95_hi"].to_numpy(float) - y)])
            ax.bar(x + dx, y, 0.4, yerr=err, capsize=2, color=col, label=lab)
        labels = models
        if "min_size_per_seed" in q:
            labels = [f"{m}\n(min {q.loc[m, 'min_size_per_seed']} px)" for m in models]
        ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=7)
        ax.set_ylabel(name, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    handles, labs = axes[0].get_legend_handles_labels()
    fig.suptitle(title or "test metrics without and with post-processing (min component size "
                          "per seed, chosen on validation)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    fig.legend(handles, labs, loc="upper center", bbox_to_anchor=(0.5, 0.93), ncol=2, fontsize=8,
               frameon=False)
    return fig


def cost_bars(cost: pd.DataFrame, title: str = ""):
    """Params and FLOPs side by side for the rows of
    :func:`nascore.experiments.seg_finetune.cost_before_after`."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    labels = list(cost["model"])
    colours = ["#8172B2", "#C44E52", "#777777"][: len(labels)]
    for ax, col, name in ((axes[0], "params_M", "params (M)"), (axes[1], "gflops", "GFLOPs")):
        v = cost[col].to_numpy(float)
        ax.barh(range(len(v)), v, color=colours)
        ax.set_yticks(range(len(v)), labels, fontsize=8)
        ax.invert_yaxis()
        for i, x in enumerate(v):
            ax.text(x, i, f" {x:.3g}", va="center", fontsize=8)
        ax.set_xlabel(name)
        ax.set_xlim(0, v.max() * 1.25)
    fig.suptitle(title or "cost before and after the knob search", fontsize=10)
    fig.tight_layout()
    return fig


def _display(image: np.ndarray) -> np.ndarray:
    """(C, H, W) -> a grey image: the FLAIR channel (index 1) of a 3-channel LGG-style image,
    else the first channel, min-max scaled (colour overlays stay readable on grey)."""
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3:
        img = img[1] if img.shape[0] == 3 else img[0]
    lo, hi = float(img.min()), float(img.max())
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def _overlay(ax, image, mask, colour, alpha=0.45):
    ax.imshow(_display(image), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    m = np.asarray(mask) > 0.5
    if m.any():
        rgba = np.zeros(m.shape + (4,), np.float32)
        rgba[m] = (*colour, alpha)
        ax.imshow(rgba, interpolation="nearest")
        ax.contour(m.astype(float), levels=[0.5], colors=[colour], linewidths=0.7)


def overlay_grid(predictions: Mapping[str, List[Mapping]], max_cases: int = 4,
                 dice: Optional[Mapping[str, Mapping[str, float]]] = None, title: str = ""):
    """Image, ground truth and each model's prediction for a few test cases.

    Rows are cases (matched by ``id`` across models, in the first model's order); columns
    are the image (FLAIR channel of 3-channel inputs, grey), the ground truth (green) and one
    prediction per model (red).

    Args:
        predictions: per model, :func:`nascore.seg.evaluate.predict` output.
        max_cases: rows.
        dice: optional per model, per case id, a Dice to print in the panel titles.
        title: figure title.
    """
    import matplotlib.pyplot as plt

    models = list(predictions)
    if not models:
        raise ValueError("overlay_grid: no predictions")
    by_id = {m: {str(r["id"]): r for r in predictions[m]} for m in models}
    ids = [str(r["id"]) for r in predictions[models[0]]
           if all(str(r["id"]) in by_id[m] for m in models)][:max_cases]
    if not ids:
        raise ValueError("overlay_grid: the models share no predicted case")
    ncol = 2 + len(models)
    fig, axes = plt.subplots(len(ids), ncol, figsize=(2.1 * ncol, 2.2 * len(ids)), squeeze=False)
    for i, cid in enumerate(ids):
        ref = by_id[models[0]][cid]
        ax = axes[i][0]
        ax.imshow(_display(ref["image"]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_ylabel(cid if len(cid) <= 24 else "…" + cid[-23:], fontsize=6)
        _overlay(axes[i][1], ref["image"], ref["label"], (0.1, 0.9, 0.2))
        for j, m in enumerate(models):
            r = by_id[m][cid]
            _overlay(axes[i][2 + j], r["image"], r["pred"], (0.95, 0.15, 0.1))
            t = m
            if dice is not None and cid in dice.get(m, {}):
                v = dice[m][cid]
                t += f"\nDice {v:.2f}" if v == v else "\nDice n/a"
            axes[i][2 + j].set_title(t if i == 0 or dice is not None else "", fontsize=7)
        if i == 0:
            axes[i][0].set_title("image", fontsize=7)
            axes[i][1].set_title("ground truth", fontsize=7)
    for row in axes:
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title or "test cases: image, ground truth (green), prediction (red)", fontsize=9)
    fig.tight_layout()
    return fig
