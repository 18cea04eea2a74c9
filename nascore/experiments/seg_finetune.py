"""Driver of notebook 04: data and input-arch selection, pipeline configuration, result tables,
the issue's targets and ``metrics.json`` for :func:`nascore.seg.pipeline.run_pipeline`.

Pipeline::

    records, data_info = load_dataset("auto", resolution=64)          # nascore.seg.datasets
    arch, source = load_input_arch(best_arch_path("full"), resolution=64)
    cfg = pipeline_config(params, checkpoint_root=...)
    res = run_pipeline(arch, records, cfg)
    table = results_table(res.table)                                   # mean ± sd per model
    tg = evaluate_targets(table)

Choices, all recorded in the outputs:

* **Data.** One ``data`` parameter, resolved by :func:`nascore.seg.datasets.load_dataset`
  (``"auto"``: LGG when present, else MSD, else the seeded synthetic phantoms; a registered
  name; or a prepared folder's path). Every model takes the data's channel count. Synthetic
  runs carry ``synthetic: true`` and :data:`data_prep.SYNTHETIC_LABEL` in every report.
* **Input architecture** (:mod:`nascore.experiments.seg_input`, re-exported here).
  ``reports/<profile>/03_search/best_arch.json`` (``{"arch": {...}}`` or a
  bare :meth:`~nascore.arch.HybridSegArch.to_dict`) when it exists, else :func:`default_arch`.
  Either way the architecture is **retargeted** to the notebook's training resolution (the
  space's resolutions, 128-256 px, are too expensive to train on a CPU); params are unchanged,
  FLOPs scale with the pixel count. An input without attention blocks cannot be knob-searched,
  so the default is used instead and the reason is recorded.
* **Resolution.** Every model (searched and baselines) sees the same data, patient split,
  epochs, batch size and resolution.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import pandas as pd

from ..arch import HybridSegArch
from .seg_input import (SEARCH_NOTEBOOK, best_arch_path, default_arch,  # noqa: F401 (re-exported)
                        load_input_arch, parse_arch_json, write_arch_json)

NOTEBOOK = "04_segmentation_finetune"
HCT = "hctnet_like"
SEARCHED = "searched"
SEARCHED_SCRATCH = "searched_scratch"

#: The issue's targets (relative to the HCT-Net-like baseline).
TARGET_COST_FRAC = 0.5
TARGET_DICE_MARGIN = 0.01


#: Notebook parameters forwarded to :class:`~nascore.seg.pipeline.SegPipelineConfig`.
CONFIG_KEYS = ("seeds", "batch_size", "epochs", "lr", "weight_decay", "search_steps",
               "search_seed", "arch_lr", "w_dice", "w_transformer", "w_complexity", "w_entropy",
               "complexity_mode", "flops_budget_frac", "init_keep", "min_attn_blocks",
               "val_metric", "include_noattn", "loss_ablation", "ablation_variants",
               "ablation_seeds",
               "include_input_arch", "baselines", "split_seed", "latency_repeats",
               "n_predictions", "device", "progress")


def pipeline_config(params: Mapping[str, Any], checkpoint_root: Optional[Path] = None):
    """A :class:`~nascore.seg.pipeline.SegPipelineConfig` from the notebook parameters (only
    :data:`CONFIG_KEYS` are used; the rest keep the config defaults).

    Raises:
        ValueError: naming the parameter, when a list parameter is not a list, ``seeds`` or
            ``ablation_seeds`` repeats a seed, or ``ablation_seeds`` is empty with the ablation on.
    """
    from nascore.seg.pipeline import SegPipelineConfig

    kw = {k: params[k] for k in CONFIG_KEYS if k in params}
    if "n_predictions" not in kw and "n_overlay" in params:  # the notebook's name for it
        kw["n_predictions"] = params["n_overlay"]
    for k in ("seeds", "baselines", "ablation_variants", "ablation_seeds"):
        if k in kw and kw[k] is not None:
            if isinstance(kw[k], (str, int, float)):
                raise ValueError(f"parameter {k!r} must be a list, got {kw[k]!r}")
            kw[k] = tuple(kw[k])
    for k in ("seeds", "ablation_seeds"):
        v = kw.get(k)
        if v is not None and not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            raise ValueError(f"parameter {k!r} must be a list of integer seeds, got {list(v)}")
        if v is not None and len(set(v)) != len(v):
            raise ValueError(f"parameter {k!r} repeats a seed: {list(v)}")
    if kw.get("ablation_seeds") is not None and not kw["ablation_seeds"] and params.get("loss_ablation"):
        raise ValueError("parameter 'ablation_seeds' is empty while loss_ablation is on "
                         "(None: the seeds)")
    if kw.get("device") == "auto":
        kw["device"] = None
    return SegPipelineConfig(checkpoint_root=None if checkpoint_root is None else str(checkpoint_root),
                             **kw)


def run_key(arch: HybridSegArch, data_info: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """A short hash of what determines the trained weights (the checkpoint folder name), so a
    changed setting never resumes a stale checkpoint."""
    # per-run folders already name model (or ablation variant) and seed, and these settings
    # only add or leave out runs, so a run's checkpoint does not depend on them
    skip = {"progress", "latency_repeats", "n_predictions", "device", "checkpoint_root", "seeds",
            "baselines", "include_input_arch", "include_noattn", "loss_ablation",
            "ablation_variants", "ablation_seeds"}
    cfg = {k: v for k, v in config.items() if k not in skip}
    data = {k: data_info.get(k) for k in ("dataset", "n_records", "n_patients", "channels", "resolution")}
    blob = json.dumps({"arch": arch.to_dict(), "data": data, "cfg": cfg}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def results_table(table: pd.DataFrame, per_case: Optional[pd.DataFrame] = None) -> pd.DataFrame:
    """Per model: the test metrics (:data:`nascore.seg.stats.METRICS`; with ``per_case``, pooled
    over seeds with patient-bootstrap CIs, see :func:`nascore.seg.pipeline.summarise`), params,
    FLOPs, CPU latency, optimisation steps and times.

    Adds ``dice`` (the tumour Dice as "mean ± sd over seeds [CI]"), ``params_M``, ``gflops``,
    ``params_vs_hct`` and ``flops_vs_hct`` (ratios to ``hctnet_like`` when it is in the table)
    and ``total_time_s`` (training + the knob search for the searched model).
    """
    from nascore.seg.pipeline import summarise

    s = summarise(table, per_case)
    sd = s["dice_tumor_sd"].fillna(0.0)
    txt = []
    for i in range(len(s)):
        t = f"{s['dice_tumor'].iloc[i]:.4f}"
        if s["n_seeds"].iloc[i] > 1:
            t += f" ± {sd.iloc[i]:.4f}"
        if "dice_tumor_ci95_lo" in s and math.isfinite(s["dice_tumor_ci95_lo"].iloc[i]):
            t += f" [{s['dice_tumor_ci95_lo'].iloc[i]:.3f}, {s['dice_tumor_ci95_hi'].iloc[i]:.3f}]"
        txt.append(t)
    s.insert(2, "dice", txt)
    s["params_M"] = s["params"] / 1e6
    s["gflops"] = s["flops"] / 1e9
    hct = s[s["model"] == HCT]
    for col, name in (("params", "params_vs_hct"), ("flops", "flops_vs_hct")):
        s[name] = s[col] / float(hct[col].iloc[0]) if len(hct) else float("nan")
    s["total_time_s"] = s["train_time_s"] + s["search_time_s"].fillna(0.0)
    return s


def cost_before_after(search: Mapping[str, Any], table: Optional[pd.DataFrame] = None) -> pd.DataFrame:
    """Params and FLOPs of the input arch before and after the knob search (and of
    ``hctnet_like`` for scale, when ``table`` has it)."""
    rows = [{"model": "input arch (before search)", "params": search["params_before"],
             "flops": search["flops_before"]},
            {"model": "searched (after discretisation)", "params": search["params_after"],
             "flops": search["flops_after"]}]
    if table is not None and (table["model"] == HCT).any():
        h = table[table["model"] == HCT].iloc[0]
        rows.append({"model": HCT, "params": int(h["params"]), "flops": int(h["flops"])})
    df = pd.DataFrame(rows)
    df["params_M"], df["gflops"] = df["params"] / 1e6, df["flops"] / 1e9
    if search.get("flops_budget"):
        df["flops_vs_budget"] = df["flops"] / float(search["flops_budget"])
    return df


def decisions_table(search: Mapping[str, Any]) -> pd.DataFrame:
    """One row per attention block of the input arch: what the knob search decided."""
    rows = []
    for d in search.get("decisions", []):
        rows.append({"stage": d["stage"], "block": d["index"], "p_keep": d["p_keep"],
                     "kept": bool(d["keep"] or d["forced"]), "forced": d["forced"],
                     "reason": d.get("reason", ""),
                     "heads": f"{d['old_heads']} -> {d['heads']}",
                     "heads_kept": d["heads_kept"],
                     "mlp_ratio": f"{d['old_mlp_ratio']} -> {d['mlp_ratio']}"})
    return pd.DataFrame(rows)


def evaluate_targets(summary: pd.DataFrame, searched: str = SEARCHED, baseline: str = HCT,
                     cost_frac: float = TARGET_COST_FRAC,
                     dice_margin: float = TARGET_DICE_MARGIN,
                     per_case: Optional[pd.DataFrame] = None) -> Dict[str, Any]:
    """The issue's targets, evaluated as they are (no rounding in anyone's favour).

    * ``params_met``/``flops_met``: searched params/FLOPs <= ``cost_frac`` x the baseline's;
    * ``dice_met``: searched tumour Dice (``dice_tumor``: mean over tumour slices, over seeds)
      >= the baseline's + ``dice_margin``; ``dice_patient_diff`` is the per-patient view.
    * with ``per_case`` (rows with ``model, seed, group, ...``): ``dice_tumor_diff_ci95`` and
      ``dice_patient_diff_ci95``, paired bootstrap over test patients
      (:func:`nascore.seg.stats.paired_difference`).

    Args:
        summary: :func:`results_table` (or :func:`nascore.seg.pipeline.summarise`) output.

    Returns:
        The ratios, the Dice difference, the seed count and the booleans; ``evaluated`` is
        False (with a ``reason``) when either model is missing.
    """
    by = summary.set_index("model")
    if searched not in by.index or baseline not in by.index:
        missing = [m for m in (searched, baseline) if m not in by.index]
        return {"evaluated": False, "reason": f"model(s) {missing} not in the results"}
    s, b = by.loc[searched], by.loc[baseline]
    pr, fr = float(s["params"]) / float(b["params"]), float(s["flops"]) / float(b["flops"])
    dd = float(s["dice_tumor"]) - float(b["dice_tumor"])
    n = int(min(s["n_seeds"], b["n_seeds"]))
    out = {
        "evaluated": True, "baseline": baseline, "n_seeds": n, "metric": "dice_tumor",
        "params_ratio": pr, "flops_ratio": fr, "cost_frac_target": cost_frac,
        "params_met": pr <= cost_frac, "flops_met": fr <= cost_frac,
        "dice_searched": _finite(float(s["dice_tumor"])),
        "dice_baseline": _finite(float(b["dice_tumor"])),
        "dice_diff": _finite(dd), "dice_margin_target": dice_margin,
        "dice_met": bool(dd >= dice_margin) if math.isfinite(dd) else False,
    }
    if "dice_patient" in by.columns:
        out["dice_patient_diff"] = _finite(float(s["dice_patient"]) - float(b["dice_patient"]))
    if per_case is not None:
        from nascore.seg.stats import paired_difference

        d = paired_difference(per_case[per_case["model"] == searched],
                              per_case[per_case["model"] == baseline])
        for k in ("dice_tumor", "dice_patient"):
            out[k + "_diff_ci95"] = d[k + "_diff_ci95"]
        out["n_patients"] = d["n_patients"]
    out["all_met"] = bool(out["params_met"] and out["flops_met"] and out["dice_met"])
    if n < 3:
        out["note"] = f"Dice target is stated over 3 seeds; this run has {n}"
    return out


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def metrics_json(summary: pd.DataFrame, search: Mapping[str, Any], targets: Mapping[str, Any],
                 data_info: Mapping[str, Any], arch_source: str, input_arch: HybridSegArch,
                 searched_arch: HybridSegArch, notes: Sequence[str] = ()) -> Dict[str, Any]:
    """The ``metrics.json`` body (provenance is added by :func:`nascore.provenance.write_metrics`)."""
    from nascore.seg.stats import METRICS

    cols = ["n_seeds"] + [c for m in METRICS for c in (m, m + "_sd")] + [
        "params", "flops", "steps", "epochs", "cpu_latency_ms", "train_time_s", "search_time_s"]
    models = {}
    for _, r in summary.iterrows():
        d = {c: (int(r[c]) if c == "n_seeds" else _finite(float(r[c]))) for c in cols if c in r}
        for m in METRICS:
            if m + "_ci95_lo" in r:
                d[m + "_ci95"] = [_finite(float(r[m + "_ci95_lo"])), _finite(float(r[m + "_ci95_hi"]))]
        models[r["model"]] = d
    notes = list(notes) + search_notes(search)
    out = {
        "synthetic": bool(data_info.get("synthetic")),
        "data": {k: v for k, v in data_info.items()},
        "models": models,
        "targets": dict(targets),
        "knob_search": {
            "input_arch_source": arch_source,
            "input_arch": input_arch.to_dict(), "input_arch_id": input_arch.arch_id,
            "searched_arch": searched_arch.to_dict(), "searched_arch_id": searched_arch.arch_id,
            "params_before": search["params_before"], "params_after": search["params_after"],
            "flops_before": search["flops_before"], "flops_after": search["flops_after"],
            "expected_flops_final": search.get("expected_flops"),
            "flops_budget": search.get("flops_budget"),
            "budget_met": search.get("budget_met"),
            "flops_discrete_before_repair": search.get("flops_discrete"),
            "budget_repair_steps": search.get("budget_steps", []),
            "min_attn_blocks": search.get("min_attn_blocks"),
            "n_attn_before": search.get("n_attn_before"),
            "n_attn_after": search.get("n_attn_after"),
            "attention_removed": search.get("attention_removed"),
            "note": search.get("note", ""),
            "search_time_s": search.get("train_time_s"),
        },
        "notes": list(notes),
    }
    if data_info.get("synthetic"):
        out["label"] = data_info.get("label")
    return out


def postprocessed_summary(table_pp: pd.DataFrame, per_case_pp: pd.DataFrame) -> pd.DataFrame:
    """Per model, the post-processed test metrics (:func:`nascore.seg.pipeline.summarise`: mean
    over seeds, sd, patient-bootstrap CIs) with ``min_size_per_seed`` (``"8/16/8"``: the size
    each seed chose on validation) and ``n_hd95_missed`` (mean over seeds)."""
    from nascore.seg.pipeline import summarise

    out = summarise(table_pp, per_case_pp)
    g = table_pp.groupby("model", sort=False)
    sizes = g["min_size"].apply(lambda v: "/".join(str(int(x)) for x in v))
    out.insert(1, "min_size_per_seed", out["model"].map(sizes))
    if "n_hd95_missed" in table_pp:
        out["n_hd95_missed"] = out["model"].map(g["n_hd95_missed"].mean())
    return out


def postprocessed_json(summary_pp: Optional[pd.DataFrame], per_case: Optional[pd.DataFrame] = None,
                       per_case_pp: Optional[pd.DataFrame] = None) -> Optional[Dict[str, Any]]:
    """``metrics.json``'s ``postprocessed``: the rule and, per model, the test metrics with
    small components removed (CIs included), the ``min_size`` each seed chose on validation
    and, given both per-case tables, ``change``: post-processed minus raw for every metric with
    a paired patient-bootstrap CI (:func:`nascore.seg.stats.paired_difference`).

    Args:
        summary_pp: :func:`postprocessed_summary` (None or empty: returns None).
        per_case, per_case_pp: the raw and post-processed per-case tables (``model`` column).
    """
    from nascore.seg.postprocess import MIN_SIZES, SELECT_ON, TUMOUR_DICE_TOLERANCE
    from nascore.seg.stats import METRICS, paired_difference

    if summary_pp is None or not len(summary_pp):
        return None
    models = {}
    for _, r in summary_pp.iterrows():
        d: Dict[str, Any] = {"min_size_per_seed": [int(v) for v in
                                                   str(r["min_size_per_seed"]).split("/")]}
        for m in METRICS:
            d[m] = _finite(float(r[m]))
            if m + "_ci95_lo" in r:
                d[m + "_ci95"] = [_finite(float(r[m + "_ci95_lo"])), _finite(float(r[m + "_ci95_hi"]))]
        if per_case is not None and per_case_pp is not None:
            diff = paired_difference(per_case_pp[per_case_pp["model"] == r["model"]],
                                     per_case[per_case["model"] == r["model"]])
            d["change"] = {k: ([_finite(x) for x in v] if isinstance(v, list) else _finite(v))
                           for k, v in diff.items()}
        models[r["model"]] = d
    return {"rule": f"predicted components smaller than min_size pixels removed; min_size per "
                    f"run from {list(MIN_SIZES)}: among sizes whose validation dice_tumor is "
                    f"at most {TUMOUR_DICE_TOLERANCE} below no post-processing, the best "
                    f"validation {SELECT_ON} (ties: the smallest); the test set is not used for "
                    "the choice (nascore.seg.postprocess)",
            "headline": "the models/targets sections are without post-processing",
            "models": models}


def attention_effect(per_case: pd.DataFrame, search: Mapping[str, Any],
                     hybrid: str = SEARCHED_SCRATCH, cnn: str = "searched_noattn") -> Dict[str, Any]:
    """Does attention earn its place? ``hybrid`` minus ``cnn`` (the same arch with attention
    swapped for conv blocks of matched FLOPs, both trained from scratch): every metric's
    difference with a paired patient-bootstrap CI, plus the FLOPs match. ``evaluated`` is
    False (with a ``reason``) when either model is missing."""
    from nascore.seg.stats import paired_difference

    models = set(per_case["model"]) if len(per_case) else set()
    if hybrid not in models or cnn not in models:
        return {"evaluated": False, "reason": f"needs models {hybrid!r} and {cnn!r} "
                "(include_noattn)", **({"note": search["noattn"].get("note", "")}
                                       if "noattn" in search else {})}
    d = paired_difference(per_case[per_case["model"] == hybrid], per_case[per_case["model"] == cnn])
    na = search.get("noattn", {})
    return {"evaluated": True, "hybrid": hybrid, "cnn": cnn, **d,
            "flops_ratio_cnn_vs_hybrid": na.get("flops_ratio"), "flops_matched": na.get("matched"),
            "replacements": na.get("blocks"), "note": na.get("note", "")}


def search_notes(search: Mapping[str, Any]) -> list:
    """Sentences for the report when the knob search broke a promise: over its FLOPs budget,
    or no attention block left."""
    out = []
    if search.get("budget_met") is False:
        out.append(f"knob search over its FLOPs budget: {search['flops_after'] / 1e6:.1f} M > "
                   f"{search['flops_budget'] / 1e6:.1f} M (budget_met: false)")
    if search.get("attention_removed"):
        out.append(f"the searched arch has no attention block left (min_attn_blocks="
                   f"{search.get('min_attn_blocks')}): it is a pure CNN, not a hybrid")
    return out


def prefill_record(logs: Path) -> Tuple[List[str], Optional[Dict[str, Any]]]:
    """``(notes, record)`` for ``metrics.json`` when :mod:`nascore.experiments.seg_prefill`
    trained the runs of one checkpoint folder (``logs`` = its ``prefill_logs/``): a note that
    their ``train_time_s`` is wall time while several processes shared the machine, and the
    prefill's ``prefill.json`` (None when absent). ``([], None)`` when there was no prefill."""
    logs = Path(logs)
    if not logs.is_dir() or not any(logs.glob("*.log")):
        return [], None
    rec, jobs = None, "several"
    notes = []
    if (logs / "prefill.json").is_file():
        try:
            rec = json.loads((logs / "prefill.json").read_text())
            all_jobs = [int(r["jobs"]) for r in [*rec.get("earlier", []), rec]]
            jobs = "/".join(str(j) for j in dict.fromkeys(all_jobs))
            stopped = [r for r in [*rec.get("earlier", []), rec] if r.get("complete") is False]
            if stopped:
                notes.append(f"{len(stopped)} of {len(all_jobs)} prefill(s) of these checkpoints "
                             "were stopped before their last job (prefill.json: complete false); "
                             "runs they did not finish were resumed by a later prefill or by "
                             "this notebook")
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
    return [f"the runs were trained by python -m nascore.experiments.seg_prefill ({jobs} "
            "processes at a time): train_time_s and total_time_s are wall times while they "
            "shared the machine, not times alone", *notes], rec
