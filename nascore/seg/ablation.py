"""The four loss terms, measured: a loss-term ablation of the knob search on one architecture.

Variants (:data:`VARIANTS`; weights from the pipeline's :class:`~nascore.seg.objective.LossWeights`,
a term not named is switched off; the Dice term is MONAI's DiceCE, so "Dice + CE"):

* ``dice_ce``: Dice + CE only;
* ``+transformer``: Dice + CE + the Transformer auxiliary loss;
* ``+complexity``: Dice + CE + the complexity term;
* ``+entropy``: Dice + CE + the entropy term;
* ``all``: all four.

For every variant and every seed (the same seeds for all variants): the knob search runs from
a fresh model of ``arch`` with that loss (``search_steps``), is discretised (same
``min_attn_blocks`` and FLOPs budget repair as the pipeline), then fine-tuned from the searched
weights for the remaining steps of the training budget with the variant's Dice (+ Transformer)
terms, and evaluated on the test patients. Reported per (variant, seed): the test metrics of
:mod:`nascore.seg.stats`, ``flops_after`` (after discretisation), ``gate_entropy`` (the mean
normalised entropy of the gates at the end of the search, logged even when the entropy term is
off), ``budget_met`` and ``n_attn_after``. :func:`ablation_table` summarises per variant with
patient-bootstrap CIs and the paired difference to ``dice_ce``.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pandas as pd

from nascore.build import build_model

from .evaluate import evaluate
from .knob_search import pruned_model, search_knobs
from .objective import LossWeights, SegObjective
from .stats import METRICS, paired_difference, patient_metrics
from .train import TrainConfig, seeded, train_model

VARIANTS = ("dice_ce", "+transformer", "+complexity", "+entropy", "all")
_ON = {"dice_ce": (), "+transformer": ("transformer",), "+complexity": ("complexity",),
       "+entropy": ("entropy",), "all": ("transformer", "complexity", "entropy")}


def variant_weights(base: LossWeights, variant: str) -> LossWeights:
    """``base`` with the terms ``variant`` does not use set to 0.

    Raises:
        ValueError: on an unknown variant (the known ones are named).
    """
    if variant not in _ON:
        raise ValueError(f"unknown ablation variant {variant!r}; known: {list(VARIANTS)}")
    return base.replace(**{t: 0.0 for t in ("transformer", "complexity", "entropy")
                           if t not in _ON[variant]})


def ablation_seeds(cfg) -> Tuple[int, ...]:
    """The seeds of every ablation variant: ``cfg.ablation_seeds``, else ``cfg.seeds``."""
    seeds = getattr(cfg, "ablation_seeds", None)
    return tuple(cfg.seeds if seeds is None else seeds)


def run_loss_ablation(arch, loaders: Callable[[int], Dict[str, Any]], cfg, in_channels: int,
                      flops_budget: Optional[float], variants=VARIANTS, train_only: bool = False
                      ) -> Tuple[pd.DataFrame, pd.DataFrame]:
    """Runs the ablation (see the module docstring).

    Args:
        arch: the architecture whose Transformer knobs are searched.
        loaders: ``seed -> {"train", "val", "test"}`` loaders (same data and split for all).
        cfg: a :class:`~nascore.seg.pipeline.SegPipelineConfig` (:func:`ablation_seeds`, epochs, search and
            training settings, ``checkpoint_root`` for resumable runs).
        in_channels: image channels. flops_budget: the complexity budget (FLOPs) or None.
        variants: the variants to run (default all of :data:`VARIANTS`).
        train_only: train (or resume) the checkpoints and skip the test evaluation; the
            tables are then empty (:mod:`nascore.experiments.seg_prefill`).

    Raises:
        ValueError: ``train_only`` without ``cfg.checkpoint_root``.

    Returns:
        ``(rows, per_case)``: one row per (variant, seed), and the per-slice test metrics
        with ``model`` = ``ablation:<variant>`` and ``seed``.
    """
    if train_only and cfg.checkpoint_root is None:
        raise ValueError("train_only=True needs cfg.checkpoint_root: without checkpoints the "
                         "trained weights would be thrown away")
    base = cfg.loss_weights()
    train_cfg = TrainConfig(lr=cfg.lr, weight_decay=cfg.weight_decay, device=cfg.device,
                            progress=cfg.progress, val_metric=cfg.val_metric)
    rows: List[Dict[str, Any]] = []
    cases = []
    for v in variants:
        w = variant_weights(base, v)
        for seed in ablation_seeds(cfg):
            L = loaders(seed)
            total = cfg.epochs * len(L["train"])
            fine = max(1, total - cfg.search_steps)
            ck = None if cfg.checkpoint_root is None else Path(cfg.checkpoint_root) / "ablation"
            tag = v.replace("+", "plus_")
            with seeded(seed):
                start = build_model(arch, in_channels, 1)
            _, rep = search_knobs(
                arch, L["train"], L["val"], weights=w, flops_budget=flops_budget,
                complexity_mode=cfg.complexity_mode, init_keep=cfg.init_keep,
                config=dataclasses.replace(train_cfg, steps=cfg.search_steps, arch_lr=cfg.arch_lr,
                                           seed=seed, desc=f"ablation {v} search s{seed}",
                                           checkpoint_dir=None if ck is None else
                                           str(ck / f"{tag}_search_s{seed}")),
                in_channels=in_channels, out_channels=1, model=start,
                min_attn_blocks=cfg.min_attn_blocks)
            model = pruned_model(rep, in_channels, 1)
            r = train_model(model, L["train"], L["val"],
                            SegObjective(w.replace(complexity=0, entropy=0)), train_cfg,
                            steps=fine, seed=seed, desc=f"ablation {v} s{seed}",
                            checkpoint_dir=None if ck is None else str(ck / f"{tag}_s{seed}"))
            if train_only:
                model.cpu()
                continue
            per_case, _ = evaluate(model, L["test"])
            pm = patient_metrics(per_case, n_boot=200)
            ent = [h.get("entropy") for h in rep["history"] if h.get("entropy") is not None]
            rows.append({"variant": v, "seed": seed, **{m: pm[m] for m in METRICS},
                         "flops_before": rep["flops_before"], "flops_after": rep["flops_after"],
                         "gate_entropy": float(ent[-1]) if ent else math.nan,
                         "budget_met": rep["budget_met"], "n_attn_after": rep["n_attn_after"],
                         "steps": cfg.search_steps + r.step, "weights": str(w.as_dict())})
            cases.append(per_case.assign(model=f"ablation:{v}", seed=seed))
            model.cpu()
    return pd.DataFrame(rows), pd.concat(cases, ignore_index=True) if cases else pd.DataFrame()


def ablation_table(rows: pd.DataFrame, per_case: Optional[pd.DataFrame] = None,
                   reference: str = "dice_ce") -> pd.DataFrame:
    """Per variant: seeds, tumour and patient Dice (pooled over seeds, 95% patient-bootstrap
    CI with ``per_case``), mean FLOPs after discretisation, mean gate entropy, how often the
    budget was met, and ``dice_tumor_diff`` with its paired CI against ``reference``."""
    out = []
    for v, g in rows.groupby("variant", sort=False):
        r: Dict[str, Any] = {"variant": v, "n_seeds": len(g), "dice_tumor": g["dice_tumor"].mean(),
                             "dice_tumor_sd": g["dice_tumor"].std(),
                             "dice_patient": g["dice_patient"].mean(),
                             "flops_after": g["flops_after"].mean(),
                             "gate_entropy": g["gate_entropy"].mean(),
                             "budget_met_frac": g["budget_met"].astype(float).mean(),
                             "n_attn_after": g["n_attn_after"].mean()}
        if per_case is not None and len(per_case):
            mine = per_case[per_case["model"] == f"ablation:{v}"]
            pm = patient_metrics(mine)
            for m in ("dice_tumor", "dice_patient"):
                r[m] = pm[m]
                r[m + "_ci95_lo"], r[m + "_ci95_hi"] = [math.nan if x is None else x
                                                        for x in pm[m + "_ci95"]]
            ref = per_case[per_case["model"] == f"ablation:{reference}"]
            if len(ref) and v != reference:
                d = paired_difference(mine, ref)
                r["dice_tumor_diff"] = d["dice_tumor_diff"]
                r["dice_tumor_diff_ci95_lo"], r["dice_tumor_diff_ci95_hi"] = [
                    math.nan if x is None else x for x in d["dice_tumor_diff_ci95"]]
        out.append(r)
    return pd.DataFrame(out)
