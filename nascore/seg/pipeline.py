"""The segmentation pipeline of notebook 04: knob search → discretise → fine-tune → evaluate,
then every baseline on the same data, split, epochs and resolution.

* The patient-level split is fixed (``split_seed``); each training seed changes the model
  initialisation and the data order only. With ``folds >= 2`` the split is fold ``fold`` of
  the patient-level K-fold cross-validation (:func:`data_prep.patient_kfold`, seed
  ``split_seed``, validation share ``fractions[1]`` of the non-test patients);
  :func:`nascore.seg.crossval.run_cv` runs every fold.
* The knob search runs **once** (``search_seed``) with the four-term loss; the complexity
  budget is ``flops_budget_frac`` × the FLOPs of the HCT-Net-like baseline at the same
  resolution (``complexity_mode="hinge"``: no pressure once under budget). Discretisation keeps
  at least ``min_attn_blocks`` attention blocks and repairs a FLOPs overrun greedily; whether
  the budget was met is recorded (``search["budget_met"]``), never silently dropped.
* **Equal budgets.** Every model gets ``epochs`` × (train batches per epoch) optimisation steps
  of its weights on the same data (``steps``, when set, instead: the same count in every fold).
  Models that return several deep-supervision heads (``dynunet``) are trained on all of them
  (:class:`~nascore.seg.objective.SegObjective`) and evaluated on the full-resolution one. ``searched`` (the discretised arch, fine-tuned from the
  searched weights) spends ``search_steps`` of them in the knob search, so its fine-tuning gets
  the rest; ``searched_scratch`` (the same arch, freshly initialised, trained for the full
  count) is always reported beside it. The table's ``steps`` column shows each model's total
  (``search_steps`` included); ``steps_equal`` in :attr:`PipelineResults.search` says whether
  they all match (False only when ``search_steps`` exceeds the budget, noted).
* ``include_noattn``: also train ``searched_noattn``, the searched arch with each attention
  block replaced by the conv/MBConv block of closest FLOPs
  (:func:`nascore.seg.attn_swap.replace_attention`), from scratch like ``searched_scratch``;
  its FLOPs match is in ``search["noattn"]``.
* ``loss_ablation``: also run :func:`nascore.seg.ablation.run_loss_ablation` on the input
  arch (Dice + CE only, + each other term, all four; the same ``ablation_seeds`` for every
  variant (default: ``seeds``), budget and data), into
  :attr:`PipelineResults.ablation`.
* Checkpoints are selected on validation ``val_metric`` (default ``dice_tumor``, the headline). The discretised
  arch is then fine-tuned for each seed from the searched weights, and trained from scratch,
  with the Dice + Transformer terms.
* Baselines use Dice (+ Transformer for ``hctnet_like``, which has the auxiliary head).
* Every run of the comparison (not the loss ablation's) is also evaluated with small predicted
  components removed, the minimum size chosen on that run's validation patients
  (:mod:`nascore.seg.postprocess`); the headline ``table`` is without post-processing,
  ``table_pp`` with it.
* Params and FLOPs are counted at the architecture resolution (batch 1), CPU latency is
  measured with :func:`nascore.cost.measure_latency` on a CPU copy, and ``train_time_s`` is
  the optimisation wall time of each run (``search_time_s`` is reported separately).
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Dict, List, Mapping, Optional, Sequence, Tuple

import pandas as pd
import torch

from data_prep import patient_kfold
from nascore.arch import HybridSegArch
from nascore.build import build_model
from nascore.cost import count_flops, count_params, measure_latency

from .ablation import VARIANTS, run_loss_ablation
from .attn_swap import replace_attention
from .baselines import BASELINES, build_baseline
from .checkpoints import check_checkpoint_settings
from .data import make_loaders, split_records
from .evaluate import evaluate, predict
from .knob_search import pruned_model, search_knobs
from .objective import LossWeights, SegObjective
from .postprocess import choose_min_size
from .stats import METRICS, patient_metrics
from .train import TrainConfig, seeded, train_model

SEARCHED = "searched"
SEARCHED_SCRATCH = "searched_scratch"
NOATTN = "searched_noattn"
INPUT = "input_arch"


@dataclass
class SegPipelineConfig:
    """Settings of :func:`run_pipeline` (see the module docstring).

    ``smoke()`` gives a configuration that runs in well under a minute on a CPU with tiny
    synthetic data.
    """

    seeds: Tuple[int, ...] = (0, 1, 2)
    batch_size: int = 16
    epochs: int = 30
    lr: float = 1e-3
    weight_decay: float = 1e-4
    search_steps: int = 300
    search_seed: int = 0
    arch_lr: float = 0.05
    w_dice: float = 1.0
    w_transformer: float = 0.4
    w_complexity: float = 1.0
    w_entropy: float = 0.05
    complexity_mode: str = "hinge"
    flops_budget_frac: Optional[float] = 0.5
    init_keep: float = 2.0
    min_attn_blocks: int = 1
    val_metric: str = "dice_tumor"
    include_input_arch: bool = False
    include_noattn: bool = False
    loss_ablation: bool = False
    ablation_variants: Tuple[str, ...] = VARIANTS
    ablation_seeds: Optional[Tuple[int, ...]] = None
    baselines: Tuple[str, ...] = ("hctnet_like", "unet", "swinunetr", "unetr")
    fractions: Tuple[float, float, float] = (0.7, 0.15, 0.15)
    split_seed: int = 0
    crop_frac: float = 0.85
    rotate_deg: float = 15.0
    latency_repeats: int = 10
    n_predictions: int = 4
    device: Optional[str] = None
    progress: bool = True
    checkpoint_root: Optional[str] = None
    folds: int = 0
    fold: int = 0
    steps: Optional[int] = None

    @classmethod
    def smoke(cls, **overrides) -> "SegPipelineConfig":
        """Tiny sizes: one seed, one epoch, a few search steps."""
        base = dict(seeds=(0,), batch_size=4, epochs=2, search_steps=2, arch_lr=0.1,
                    latency_repeats=2, n_predictions=2, progress=False)
        base.update(overrides)
        return cls(**base)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    def splits(self, records: Sequence[Mapping]) -> Dict[str, list]:
        """The ``train``/``val``/``test`` records this configuration trains, validates and
        tests on: fold ``fold`` of :func:`data_prep.patient_kfold` when ``folds >= 2``, else
        :func:`nascore.seg.data.split_records` by ``fractions`` and ``split_seed``.

        Raises:
            ValueError: ``folds == 1`` or ``fold`` outside ``0..folds-1``.
        """
        if self.folds == 0:
            return split_records(records, self.fractions, self.split_seed)
        if self.folds < 2 or not 0 <= self.fold < self.folds:
            raise ValueError(f"folds={self.folds}, fold={self.fold}: give folds=0 (one split by "
                             "fractions) or folds>=2 with 0 <= fold < folds")
        return patient_kfold(records, self.folds, self.split_seed,
                             val_fraction=self.fractions[1])[self.fold]

    def loss_weights(self) -> LossWeights:
        """``w_dice``, ``w_transformer``, ``w_complexity``, ``w_entropy`` as one
        :class:`~nascore.seg.objective.LossWeights` (the knob search's loss)."""
        return LossWeights(dice=self.w_dice, transformer=self.w_transformer,
                           complexity=self.w_complexity, entropy=self.w_entropy)


@dataclass
class PipelineResults:
    """What :func:`run_pipeline` returns.

    Attributes:
        table: one row per (model, seed): ``model, seed``, the test metrics of
            :data:`nascore.seg.stats.METRICS` (``dice_tumor, dice_patient, fp_rate_empty, hd95,
            dice_all``), ``n_hd95_missed, params, flops, cpu_latency_ms, train_time_s,
            search_time_s, best_val_dice, epochs, steps, search_steps`` (``steps``: optimisation
            steps of the weights, knob search included).
        curves: per-step training logs (every loss term) with ``model, seed, phase``
            (``search`` or ``train``).
        val_curves: per-epoch validation Dice with ``model, seed`` and ``opt_step`` (steps
            of the weights so far, knob search included, so curves share one axis).
        per_case: per-case test metrics with ``model, seed``.
        predictions: per model, a few test cases of the first seed (image, label, prob, pred).
        input_arch, searched_arch: the architecture before and after the knob search.
        search: the knob-search report (without the model).
        config: the configuration as a dict.
        ablation, ablation_cases: the loss-term ablation's rows and per-case metrics
            (:mod:`nascore.seg.ablation`; None unless ``loss_ablation``).
        table_pp, per_case_pp: as ``table`` (metrics and ``n_hd95_missed`` only, with
            ``min_size``) and ``per_case`` (with ``min_size``), with small components removed
            at the ``min_size`` each run chose on its validation patients
            (:mod:`nascore.seg.postprocess`).
        postprocess_val: every run's validation score of every candidate ``min_size``
            (``model, seed, min_size, dice_all, dice_tumor, fp_rate_empty, allowed, chosen``).
    """

    table: pd.DataFrame
    curves: pd.DataFrame
    val_curves: pd.DataFrame
    per_case: pd.DataFrame
    predictions: Dict[str, List[Dict[str, Any]]]
    input_arch: HybridSegArch
    searched_arch: HybridSegArch
    search: Dict[str, Any]
    config: Dict[str, Any] = field(default_factory=dict)
    ablation: Optional[pd.DataFrame] = None
    ablation_cases: Optional[pd.DataFrame] = None
    table_pp: Optional[pd.DataFrame] = None
    per_case_pp: Optional[pd.DataFrame] = None
    postprocess_val: Optional[pd.DataFrame] = None

    def summary(self) -> pd.DataFrame:
        """Per model over seeds: the metrics with patient-bootstrap CIs, cost, training time."""
        return summarise(self.table, self.per_case)

    def summary_pp(self) -> pd.DataFrame:
        """:meth:`summary` of the post-processed predictions (metrics and CIs only)."""
        return summarise(self.table_pp, self.per_case_pp)


def summarise(table: pd.DataFrame, per_case: Optional[pd.DataFrame] = None,
              n_boot: int = 2000) -> pd.DataFrame:
    """Per model: the :data:`~nascore.seg.stats.METRICS` (mean over seeds, ``<m>_sd`` over seeds)
    and means of the cost and time columns.

    With ``per_case`` (rows with ``model, seed, group, ...``), the metrics are recomputed from
    all seeds' slices with :func:`~nascore.seg.stats.patient_metrics` and get
    ``<m>_ci95_lo``/``<m>_ci95_hi`` (95% bootstrap over test patients, seed 0).
    """
    g = table.groupby("model", sort=False)
    agg = dict(n_seeds=("seed", "count"))
    for m in METRICS:
        if m in table.columns:
            agg[m] = (m, "mean")
            agg[m + "_sd"] = (m, "std")
    for c, how in (("params", "first"), ("flops", "first"), ("cpu_latency_ms", "mean"),
                   ("train_time_s", "mean"), ("search_time_s", "first"), ("steps", "first"),
                   ("epochs", "first")):
        if c in table.columns:
            agg[c] = (c, how)
    out = g.agg(**agg).reset_index()
    if per_case is not None and len(per_case):
        for i, name in enumerate(out["model"]):
            pm = patient_metrics(per_case[per_case["model"] == name], n_boot=n_boot)
            for m in METRICS:
                out.loc[i, m] = pm[m]
                lo, hi = pm[m + "_ci95"]
                out.loc[i, m + "_ci95_lo"] = float("nan") if lo is None else lo
                out.loc[i, m + "_ci95_hi"] = float("nan") if hi is None else hi
            out.loc[i, "n_patients"] = pm["n_patients"]
    return out


def _ckpt(cfg: SegPipelineConfig, name: str, seed: int) -> Optional[str]:
    return None if cfg.checkpoint_root is None else str(Path(cfg.checkpoint_root) / f"{name}_s{seed}")


def run_pipeline(arch: HybridSegArch, data_records: Sequence[Mapping],
                 config: Optional[SegPipelineConfig] = None,
                 only: Optional[Collection[str]] = None,
                 train_only: bool = False) -> PipelineResults:
    """Runs the whole comparison (see the module docstring).

    Args:
        arch: the architecture to prune and fine-tune (needs attention blocks); its
            resolution is used for every model.
        data_records: :mod:`data_prep` records (all patients; split here).
        config: settings (default :class:`SegPipelineConfig`).
        only: train and evaluate only these runs (model names such as ``"searched"`` or
            ``"unet"``, and ``"ablation:<variant>"``); None: all. The knob search always runs
            (or resumes). Used by :mod:`nascore.experiments.seg_prefill` to fill the
            checkpoints of one part in each of several processes; the tables then hold only
            those runs.
        train_only: train (or resume) the checkpoints and skip every test evaluation, latency
            and prediction; the result tables are then empty (the prefill jobs: the notebook
            evaluates afterwards from the finished checkpoints).

    Raises:
        ValueError: an unknown baseline; ``steps < 1``; ``only`` is a string or names a run this
            configuration does not switch on;
            ``train_only`` without ``config.checkpoint_root`` (the training would be lost);
            checkpoints trained with other settings (:func:`check_checkpoint_settings`).
    """
    cfg = config or SegPipelineConfig()
    unknown_b = [b for b in cfg.baselines if b not in BASELINES]
    if unknown_b:
        raise ValueError(f"unknown baseline(s) {unknown_b}; known: {BASELINES.names()}")
    if cfg.steps is not None and int(cfg.steps) < 1:
        raise ValueError(f"steps must be >= 1 (or None: epochs x batches), got {cfg.steps}")
    if train_only and cfg.checkpoint_root is None:
        raise ValueError("train_only=True needs config.checkpoint_root: without checkpoints the "
                         "trained weights would be thrown away")
    if only is not None:
        if isinstance(only, str):
            raise ValueError(f"only must be a collection of run names, got the string {only!r}")
        only = set(only)
        known = {SEARCHED, SEARCHED_SCRATCH, *cfg.baselines}
        known |= {NOATTN} if cfg.include_noattn else set()
        known |= {INPUT} if cfg.include_input_arch else set()
        if cfg.loss_ablation:
            known |= {f"ablation:{v}" for v in cfg.ablation_variants}
        unknown = sorted(only - known)
        if unknown:
            raise ValueError(f"only: unknown run(s) {unknown}; this configuration has "
                             f"{sorted(known)}")
    if cfg.checkpoint_root is not None:
        check_checkpoint_settings(cfg, arch)
    res = arch.resolution
    in_ch = int(data_records[0]["image"].shape[0])
    shape = (1, in_ch, res, res)
    aug = {"crop_frac": cfg.crop_frac, "rotate_deg": cfg.rotate_deg}

    splits = cfg.splits(data_records)

    def loaders(seed: int):
        return make_loaders(data_records, res, cfg.batch_size, splits=splits, seed=seed, **aug)

    # --- knob search (once) -------------------------------------------------------------
    budget = None
    if cfg.flops_budget_frac is not None:
        hct = build_baseline("hctnet_like", in_ch, 1, res).model
        budget = cfg.flops_budget_frac * count_flops(hct, shape)
        del hct
    L = loaders(cfg.search_seed)
    with seeded(cfg.search_seed):
        start = build_model(arch, in_ch, 1)
    weights = cfg.loss_weights()
    train_cfg = TrainConfig(lr=cfg.lr, weight_decay=cfg.weight_decay, device=cfg.device,
                            progress=cfg.progress, val_metric=cfg.val_metric)
    total_steps = int(cfg.steps) if cfg.steps else cfg.epochs * len(L["train"])
    fine_steps = total_steps - cfg.search_steps
    steps_equal = fine_steps >= 1
    if not steps_equal:
        warnings.warn(f"search_steps={cfg.search_steps} >= the training budget of {total_steps} "
                      "steps: the inherited-weights model gets 1 fine-tuning step and more "
                      "updates in total than the others")
        fine_steps = 1
    new_arch, report = search_knobs(
        arch, L["train"], L["val"], weights=weights, flops_budget=budget,
        complexity_mode=cfg.complexity_mode, init_keep=cfg.init_keep,
        config=dataclasses.replace(train_cfg, steps=cfg.search_steps, arch_lr=cfg.arch_lr,
                                   seed=cfg.search_seed, desc="knob search",
                                   checkpoint_dir=_ckpt(cfg, "knob_search", cfg.search_seed)),
        in_channels=in_ch, out_channels=1, model=start, min_attn_blocks=cfg.min_attn_blocks)
    curves = [dict(r, model=SEARCHED, seed=cfg.search_seed, phase="search")
              for r in report["history"]]

    rows, vals, cases, preds = [], [], [], {}
    rows_pp, cases_pp, pp_val = [], [], []
    fine_obj = SegObjective(weights.replace(complexity=0, entropy=0))
    plain_obj = SegObjective(weights.replace(transformer=0, complexity=0, entropy=0))

    def wanted(name: str) -> bool:
        return only is None or name in only

    def run(name: str, model: torch.nn.Module, seed: int, L, objective, search_time=0.0,
            pre_steps: int = 0):
        steps = fine_steps if pre_steps else total_steps
        r = train_model(model, L["train"], L["val"], objective, train_cfg, steps=steps,
                        seed=seed, checkpoint_dir=_ckpt(cfg, name, seed), desc=f"{name} s{seed}")
        if train_only:
            model.cpu()
            return
        per_case, agg = evaluate(model, L["test"])
        cpu = copy.deepcopy(model).cpu()
        lat = measure_latency(cpu, shape, repeats=cfg.latency_repeats)
        pm = patient_metrics(per_case, n_boot=200)
        rows.append({"model": name, "seed": seed, **{m: pm[m] for m in METRICS},
                     "n_hd95_missed": agg["n_hd95_missed"], "params": count_params(cpu),
                     "flops": count_flops(cpu, shape), "cpu_latency_ms": lat["median_ms"],
                     "train_time_s": r.train_time_s, "search_time_s": search_time,
                     "best_val_dice": r.best_val_dice, "epochs": cfg.epochs,
                     "steps": pre_steps + r.step, "search_steps": pre_steps})
        curves.extend(dict(h, model=name, seed=seed, phase="train") for h in r.history)
        vals.extend(dict(v, model=name, seed=seed, opt_step=v["step"] + pre_steps)
                    for v in r.val_history)
        cases.append(per_case.assign(model=name, seed=seed))
        size, val_tab = choose_min_size(model, L["val"])  # validation patients only
        pp_val.append(val_tab.assign(model=name, seed=seed, chosen=val_tab["min_size"] == size))
        pc, agg_pp = (per_case, agg) if size == 0 else evaluate(model, L["test"], min_size=size)
        pm = patient_metrics(pc, n_boot=200)
        rows_pp.append({"model": name, "seed": seed, "min_size": size,
                        **{m: pm[m] for m in METRICS}, "n_hd95_missed": agg_pp["n_hd95_missed"]})
        cases_pp.append(pc.assign(model=name, seed=seed, min_size=size))
        if name not in preds:
            preds[name] = predict(model, L["test"], max_cases=cfg.n_predictions)
        model.cpu()

    noattn_arch = None
    if cfg.include_noattn:
        if new_arch.num_attn_blocks:
            noattn_arch, rep = replace_attention(new_arch, in_channels=in_ch)
            report["noattn"] = dict(rep, arch=noattn_arch.to_dict())
        else:
            report["noattn"] = {"note": "the searched arch has no attention block to replace"}

    for seed in cfg.seeds:
        L = loaders(seed)
        if wanted(SEARCHED):
            run(SEARCHED, pruned_model(report, in_ch, 1), seed, L, fine_obj,
                search_time=report["train_time_s"], pre_steps=cfg.search_steps)
        if wanted(SEARCHED_SCRATCH):
            with seeded(seed):
                m = build_model(new_arch, in_ch, 1)
            run(SEARCHED_SCRATCH, m, seed, L, fine_obj)
        if noattn_arch is not None and wanted(NOATTN):
            with seeded(seed):
                m = build_model(noattn_arch, in_ch, 1)
            run(NOATTN, m, seed, L, fine_obj)
        if cfg.include_input_arch and wanted(INPUT):
            with seeded(seed):
                m = build_model(arch, in_ch, 1)
            run(INPUT, m, seed, L, fine_obj)
        for name in cfg.baselines:
            if not wanted(name):
                continue
            with seeded(seed):
                b = build_baseline(name, in_ch, 1, res)
            run(name, b.model, seed, L, fine_obj if b.arch is not None else plain_obj)

    abl = abl_cases = None
    variants = [v for v in cfg.ablation_variants if wanted(f"ablation:{v}")]
    if cfg.loss_ablation and variants:
        abl, abl_cases = run_loss_ablation(arch, loaders, cfg, in_ch, budget, variants=variants,
                                           train_only=train_only)
    search = {k: v for k, v in report.items() if k not in ("model", "history")}
    search.update(total_steps=total_steps, fine_tune_steps=fine_steps, steps_equal=steps_equal)
    return PipelineResults(table=pd.DataFrame(rows), curves=pd.DataFrame(curves),
                           val_curves=pd.DataFrame(vals),
                           per_case=pd.concat(cases, ignore_index=True) if cases else pd.DataFrame(),
                           predictions=preds, input_arch=arch, searched_arch=new_arch, search=search,
                           config=cfg.to_dict(), ablation=abl, ablation_cases=abl_cases,
                           table_pp=pd.DataFrame(rows_pp),
                           per_case_pp=(pd.concat(cases_pp, ignore_index=True) if cases_pp
                                        else pd.DataFrame()),
                           postprocess_val=(pd.concat(pp_val, ignore_index=True) if pp_val
                                            else pd.DataFrame()))
