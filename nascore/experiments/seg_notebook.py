"""Stateless helpers the cells of notebook 04 (``04_segmentation_finetune``) call, and the
setup it shares with the prefill and cross-validation commands (:func:`prepare`), so all three
train into the same checkpoints from the same parameters.

The pipeline itself is :func:`nascore.seg.run_pipeline` (and :func:`nascore.seg.crossval.run_cv`);
tables, targets and metrics are :mod:`nascore.experiments.seg_finetune`; figures are
:mod:`nascore.plots.seg`. The notebook keeps its state in its own variables (``records``,
``arch``, ``cfg``, ``res``, ``table``, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import pandas as pd

from ..paths import repo_root, reports_dir
from . import seg_finetune as sf
from .notebook_utils import torch_setup
from .search_hybrid_results import check_batch_split

#: The results table's columns shown in the notebook.
SHOW_COLUMNS = ["model", "n_seeds", "dice", "dice_patient", "dice_patient_ci95_lo",
                "dice_patient_ci95_hi", "fp_rate_empty", "hd95", "dice_all", "params_M", "gflops",
                "params_vs_hct", "flops_vs_hct", "steps", "cpu_latency_ms", "train_time_s",
                "search_time_s", "total_time_s"]
#: The post-processed table's columns shown in the notebook.
SHOW_PP_COLUMNS = ["model", "min_size_per_seed", "dice_tumor", "dice_tumor_ci95_lo",
                   "dice_tumor_ci95_hi", "dice_patient", "dice_patient_ci95_lo",
                   "dice_patient_ci95_hi", "fp_rate_empty", "hd95", "dice_all", "n_hd95_missed"]
#: The targets of the cross-validated comparison (fixed before any fold was run).
HALFWIDTH_TARGET = 0.03
DICE_MARGIN, COST_FRAC = 0.01, 0.5
#: The loss terms of the knob search drawn in ``loss_terms_search.png``.
SEARCH_TERMS = ("dice", "transformer", "complexity", "entropy", "total", "expected_gflops")


def input_arch_path(input_arch: str, profile: str) -> Optional[Path]:
    """The file of notebook 04's ``input_arch``: ``"auto"`` → notebook 03's ``best_arch.json``
    of ``profile`` (None when absent: the default arch), ``"default"`` → None, else the path
    (relative to the repository root, or absolute)."""
    if input_arch == "auto":
        return sf.best_arch_path(profile)
    if input_arch == "default":
        return None
    return repo_root() / input_arch


def load_data(params: Mapping[str, Any]):
    """``(records, info)`` of notebook 04's ``data``, ``resolution`` and ``synthetic_*``
    parameters (:func:`nascore.seg.load_dataset`; prepared data is cached under
    ``reports/cache/04_segmentation_finetune``).

    Raises:
        ValueError, FileNotFoundError: naming a bad dataset name or folder.
    """
    from ..seg import load_dataset

    return load_dataset(params["data"], resolution=params["resolution"],
                        synthetic=dict(n_patients=params["synthetic_patients"],
                                       slices_per_patient=params["synthetic_slices"], seed=0),
                        cache_dir=repo_root() / "reports" / "cache" / sf.NOTEBOOK)


def pipeline_setup(params: Mapping[str, Any], arch, arch_path: Optional[Path], info: Mapping[str, Any],
                   out: Path):
    """The pipeline config of the parameters (:func:`~.seg_finetune.pipeline_config`) with its
    checkpoints under ``out/checkpoints/<run key>`` (a hash of the data, arch and settings), after
    checking that the input arch was searched on this split's training patients.

    Returns:
        ``(cfg, run_key)``.

    Raises:
        ValueError: a bad parameter, or an arch searched on another split (named).
    """
    cfg = sf.pipeline_config(params)
    if arch_path is not None:  # the search's proxy must not have seen our val/test patients
        check_batch_split(arch_path, cfg.fractions, cfg.split_seed)
    key = sf.run_key(arch, info, cfg.to_dict())
    cfg.checkpoint_root = str(Path(out) / "checkpoints" / key)
    return cfg, key


def prepare(params: Mapping[str, Any]) -> Dict[str, Any]:
    """The first cells of notebook 04 in one call, for the prefill command: device, data,
    input arch and pipeline config of ``params`` (the notebook's parameters).

    Returns:
        ``{"records", "info", "arch", "arch_source", "cfg", "run_key", "params"}``
        (``params`` with the device resolved and ``n_overlay`` renamed ``n_predictions``).

    Raises:
        ValueError, FileNotFoundError: bad data, architecture file or parameter (named).
    """
    p = dict(params)
    p["device"] = torch_setup(p)
    p["n_predictions"] = p.pop("n_overlay", 4)
    records, info = load_data(p)
    path = input_arch_path(p["input_arch"], p["profile"])
    arch, source = sf.load_input_arch(path, resolution=p["resolution"])
    cfg, key = pipeline_setup(p, arch, path, info, reports_dir(p["profile"], sf.NOTEBOOK))
    return {"records": records, "info": info, "arch": arch, "arch_source": source, "cfg": cfg,
            "run_key": key, "params": p}


def input_cost(arch, in_channels: int, resolution: int, flops_budget_frac: float) -> pd.DataFrame:
    """Params (M) and GFLOPs (batch 1 at ``resolution``; FLOPs = 2 × MACs) of ``arch`` and of
    ``hctnet_like``, with the knob search's FLOPs budget (``flops_budget_frac`` × the
    baseline's)."""
    from ..build import build_model
    from ..cost import count_flops, count_params
    from ..seg import build_baseline

    shape = (1, in_channels, resolution, resolution)
    m_in = build_model(arch, in_channels, 1)
    hct = build_baseline(sf.HCT, in_channels, 1, resolution).model
    pre = pd.DataFrame([
        {"model": "input arch", "params_M": count_params(m_in) / 1e6, "gflops": count_flops(m_in, shape) / 1e9},
        {"model": sf.HCT, "params_M": count_params(hct) / 1e6, "gflops": count_flops(hct, shape) / 1e9}])
    pre["flops_budget_g"] = flops_budget_frac * pre["gflops"].iloc[1]
    return pre


def budget_notes(search: Mapping[str, Any], search_steps: int) -> List[str]:
    """The equal-budget line of ``metrics.json``: every model's optimisation steps, and how the
    searched model's are split between the knob search and fine-tuning."""
    return [f"equal budgets: every model {search['total_steps']} optimisation steps; 'searched' = "
            f"{search_steps} knob-search + {search['fine_tune_steps']} fine-tuning steps from the "
            "searched weights, 'searched_scratch' = the same arch from scratch"
            + ("" if search["steps_equal"] else " (NOT equal: search_steps exceed the budget)")]


def case_dice(per_case: pd.DataFrame, seed: int) -> Dict[str, Dict[str, float]]:
    """``{model: {case id: Dice}}`` of seed ``seed`` (the overlay captions)."""
    first = per_case[per_case.seed == seed]
    return {m: dict(zip(g["id"].astype(str), g["dice_conv"])) for m, g in first.groupby("model")}


def cv_config(cfg, arch, info: Mapping[str, Any], out: Path, folds: int, steps: Optional[int],
              seeds: Optional[List[int]] = None, baselines: Optional[List[str]] = None):
    """A copy of the pipeline config for :func:`nascore.seg.crossval.run_cv`: ``folds`` folds,
    ``steps`` optimisation steps per model (None: epochs × batches of each fold), the
    comparison only (the searched hybrid, the same arch from scratch and ``baselines``; no loss
    ablation and no attention-swap control, which the single split measures), ``seeds`` (None:
    the config's), checkpoints under ``out/checkpoints/<run key>`` (the key hashes the data,
    arch and settings, so the notebook and ``python -m nascore.experiments.seg_cv`` share them).

    Returns:
        ``(cfg, run_key)``.
    """
    import copy

    c = copy.deepcopy(cfg)
    c.folds, c.steps, c.checkpoint_root = int(folds), steps, None
    c.loss_ablation, c.include_noattn, c.include_input_arch = False, False, False
    if seeds is not None:
        c.seeds = tuple(int(x) for x in seeds)
    if baselines is not None:
        c.baselines = tuple(baselines)
    key = sf.run_key(arch, info, c.to_dict())
    c.checkpoint_root = str(Path(out) / "checkpoints" / key)
    return c, key


def cv_targets(summary: pd.DataFrame, paired: pd.DataFrame) -> Dict[str, Any]:
    """The targets of the cross-validated comparison as measured: the paired CI half-width of
    per-patient Dice (searched vs ``hctnet_like``) ≤ :data:`HALFWIDTH_TARGET`; the searched
    hybrid ≥ ``hctnet_like`` + :data:`DICE_MARGIN` per-patient Dice at ≤ :data:`COST_FRAC` of its
    FLOPs and params. Arguments: :meth:`~nascore.seg.crossval.CVResults.summary` and
    :meth:`~nascore.seg.crossval.CVResults.paired`."""
    s = summary.set_index("model")
    if not {sf.HCT, sf.SEARCHED} <= set(s.index):
        return {"note": "searched or hctnet_like missing from the finished folds"}
    row = paired.set_index("model").loc[sf.HCT]
    out = {"dice_patient_diff": float(row["dice_patient_diff"]),
           "dice_patient_diff_ci95": [float(row["dice_patient_diff_ci95_lo"]),
                                      float(row["dice_patient_diff_ci95_hi"])],
           "dice_patient_diff_halfwidth": float(row["dice_patient_diff_halfwidth"]),
           "flops_ratio": float(s.loc[sf.SEARCHED, "flops"] / s.loc[sf.HCT, "flops"]),
           "params_ratio": float(s.loc[sf.SEARCHED, "params"] / s.loc[sf.HCT, "params"])}
    out["halfwidth_met"] = out["dice_patient_diff_halfwidth"] <= HALFWIDTH_TARGET
    out["dice_met"] = out["dice_patient_diff"] >= DICE_MARGIN
    out["cost_met"] = out["flops_ratio"] <= COST_FRAC and out["params_ratio"] <= COST_FRAC
    return out


def cv_metrics(cv, folds: int, steps: Optional[int]) -> Dict[str, Any]:
    """The cross-validation block of ``metrics.json``: folds done, patients per fold, patients
    tested, and (when a fold is done) the targets as measured (:func:`cv_targets`)."""
    done = sorted({int(f) for f in cv.table["fold"]}) if len(cv.table) else []
    m: Dict[str, Any] = {
        "folds": folds, "folds_done": done, "complete": len(done) == folds, "steps": steps,
        "patients_per_fold": {str(i): sum(1 for f in cv.assignment.values() if f == i)
                              for i in range(folds)},
        "n_patients_tested": int(cv.per_case["group"].nunique()) if len(cv.per_case) else 0}
    if done:
        m["targets"] = cv_targets(cv.summary(), cv.paired())
    return m


def ablation_json(ablation: Optional[pd.DataFrame]) -> Optional[List[Dict[str, Any]]]:
    """The loss-term ablation table as ``metrics.json`` rows (non-finite numbers as null)."""
    if ablation is None:
        return None
    return [{k: sf._finite(v) for k, v in r.items()} for r in ablation.to_dict("records")]


def prefill_notes(checkpoint_root: str) -> Tuple[List[str], Optional[Dict[str, Any]]]:
    """What a prefill of these checkpoints recorded (:func:`~.seg_finetune.prefill_record`)."""
    return sf.prefill_record(Path(checkpoint_root) / "prefill_logs")
