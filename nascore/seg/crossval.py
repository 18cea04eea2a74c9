"""Notebook 04's comparison cross-validated over patients: :func:`run_pipeline` on every fold.

Fold ``i`` of ``folds`` (:func:`data_prep.patient_kfold` with ``config.split_seed``) tests its
patients and trains and validates on the others, so every patient is tested exactly once and
the pooled test table covers the whole dataset. Everything of the single-split pipeline holds
per fold: the knob search runs on that fold's training patients only, every model gets the
same optimisation steps (``config.steps`` fixes one count for every fold), checkpoints and the
post-processing size are chosen on that fold's validation patients.

Measures (:mod:`nascore.seg.stats`, bootstrap over **all** tested patients, paired between two
models on the same patients): per-patient Dice (a patient's slices pooled, as Buda et al. 2019
report it), tumour-slice Dice, the false-positive rate on tumour-free slices and HD95.

Resumable and loss-free: with ``out_dir``, each fold's tables are written as CSV the moment the
fold finishes (``fold<i>/table.csv``, ``per_case.csv``, ``val_curves.csv``, ``search.json``),
and a rerun reads the folds already there instead of training them again (their recorded
configuration must match, or the fold is refused, naming the file).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import pandas as pd

from data_prep import kfold_assignment
from nascore.arch import HybridSegArch
from nascore.provenance import write_csv, write_json

from ..progress import tqdm
from .pipeline import SEARCHED, SegPipelineConfig, run_pipeline, summarise
from .stats import METRICS, paired_difference

FOLD_FILES = ("table.csv", "per_case.csv", "val_curves.csv")


@dataclass
class CVResults:
    """What :func:`run_cv` returns.

    Attributes:
        table: one row per (fold, model, seed): the fold's test metrics and costs
            (:attr:`nascore.seg.pipeline.PipelineResults.table` with ``fold``).
        per_case: every fold's per-slice test rows with ``fold``; each patient in one fold.
        val_curves: per-epoch validation Dice with ``fold``, ``model``, ``seed`` and
            ``opt_step`` (to show that validation Dice has levelled off at the budget).
        assignment: patient -> test fold.
        search: per fold, the knob-search report.
        config: the configuration (without ``fold``).
    """

    table: pd.DataFrame
    per_case: pd.DataFrame
    val_curves: pd.DataFrame
    assignment: Dict[str, int]
    search: List[Dict[str, Any]] = field(default_factory=list)
    config: Dict[str, Any] = field(default_factory=dict)

    def summary(self, n_boot: int = 2000) -> pd.DataFrame:
        """Per model: the metrics over all tested patients with bootstrap CIs (see
        :func:`nascore.seg.pipeline.summarise`), costs averaged over folds; ``n_seeds`` and
        ``n_folds`` count the seeds and folds, and each ``<m>_sd`` is the spread over the
        model's (fold, seed) runs."""
        out = summarise(self.table, self.per_case, n_boot=n_boot)
        if len(out) and "fold" in self.table.columns:
            g = self.table.groupby("model")
            out["n_seeds"] = out["model"].map(g["seed"].nunique())
            out["n_folds"] = out["model"].map(g["fold"].nunique())
        return out

    def paired(self, reference: str = SEARCHED, n_boot: int = 2000) -> pd.DataFrame:
        """``reference - other`` for every other model: each metric's difference with a paired
        patient-bootstrap 95% CI (``<m>_diff``, ``<m>_diff_ci95_lo``/``_hi``) and the CI's
        half-width (``<m>_diff_halfwidth``), over the patients both were tested on.

        Raises:
            ValueError: ``reference`` is not a model of the table.
        """
        models = list(dict.fromkeys(self.per_case["model"]))
        if reference not in models:
            raise ValueError(f"reference {reference!r} is not one of the models {models}")
        ref = self.per_case[self.per_case["model"] == reference]
        rows = []
        for other in models:
            if other == reference:
                continue
            d = paired_difference(ref, self.per_case[self.per_case["model"] == other], n_boot=n_boot)
            row: Dict[str, Any] = {"reference": reference, "model": other,
                                   "n_patients": d["n_patients"]}
            for m in METRICS:
                lo, hi = d[m + "_diff_ci95"]
                row[m + "_diff"] = d[m + "_diff"]
                row[m + "_diff_ci95_lo"] = float("nan") if lo is None else lo
                row[m + "_diff_ci95_hi"] = float("nan") if hi is None else hi
                row[m + "_diff_halfwidth"] = float("nan") if lo is None else (hi - lo) / 2
            rows.append(row)
        return pd.DataFrame(rows)


def _jsonable(v):
    """``v`` with architectures as their dicts (the knob-search report holds some)."""
    if hasattr(v, "to_dict") and callable(v.to_dict):
        return v.to_dict()
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _fold_config(config: SegPipelineConfig) -> Dict[str, Any]:
    """What a fold's results depend on (what a stored fold must have been made with)."""
    d = config.to_dict()
    for k in ("fold", "progress", "device", "checkpoint_root", "latency_repeats", "n_predictions"):
        d.pop(k, None)
    return json.loads(json.dumps(d, default=str))


def _read_fold(d: Path, want: Mapping[str, Any], arch: HybridSegArch):
    meta = json.loads((d / "search.json").read_text())
    if meta.get("cv_config") != want or meta.get("input_arch") != arch.to_dict():
        raise ValueError(f"{d / 'search.json'} was made with another configuration or input "
                         "architecture; remove that folder (or use another out_dir) to retrain")
    tabs = [pd.read_csv(d / f, comment="#") for f in FOLD_FILES]
    for t in tabs:
        if "group" in t.columns:
            t["group"] = t["group"].astype(str)
    return tabs, meta["search"]


def run_cv(arch: HybridSegArch, records: Sequence[Mapping], config: Optional[SegPipelineConfig] = None,
           folds: int = 5, out_dir=None, only=None, train_only: bool = False,
           progress: bool = True, fold_indices: Optional[Sequence[int]] = None,
           missing: str = "train") -> CVResults:
    """Runs (or resumes) the pipeline on every fold and pools the folds' test tables.

    Args:
        arch: the input architecture (searched on each fold's training patients).
        records: every patient's records (the whole dataset).
        config: the pipeline settings (``folds`` and ``fold`` are set here; default
            :class:`SegPipelineConfig`). With ``config.checkpoint_root``, fold ``i`` trains into
            ``<checkpoint_root>/fold<i>``.
        folds: number of folds (at least 2).
        out_dir: where each finished fold's tables are written at once (see the module
            docstring); None keeps everything in memory.
        only, train_only: passed to :func:`run_pipeline` (prefill jobs: train only; nothing
            is then written to ``out_dir``).
        progress: a progress bar over folds.
        fold_indices: run (or read) only these folds (default all): one chunk of a long run.
        missing: what to do with a fold that ``out_dir`` does not hold yet: ``"train"`` it, or
            ``"skip"`` it (pool the finished folds only, e.g. to report a partial run; the
            tables then cover only those folds' patients).

    Raises:
        ValueError: ``folds < 2``, a fold index out of range, an unknown ``missing``, or a
            stored fold made with another configuration.
    """
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    idx = list(range(folds)) if fold_indices is None else [int(i) for i in fold_indices]
    if any(not 0 <= i < folds for i in idx):
        raise ValueError(f"fold indices {idx} out of range 0..{folds - 1}")
    if missing not in ("train", "skip"):
        raise ValueError(f"missing must be 'train' or 'skip', got {missing!r}")
    cfg = dataclasses.replace(config or SegPipelineConfig(), folds=int(folds), fold=0)
    want = _fold_config(cfg)
    out = Path(out_dir) if out_dir is not None else None
    parts: List[List[pd.DataFrame]] = []
    searches: List[Dict[str, Any]] = []
    for i in tqdm(idx, desc="folds", disable=not progress):
        d = out / f"fold{i}" if out is not None else None
        if d is not None and not train_only and all((d / f).is_file() for f in FOLD_FILES + ("search.json",)):
            tabs, search = _read_fold(d, want, arch)
            parts.append(tabs)
            searches.append(search)
            continue
        if missing == "skip":
            continue
        ck = None if cfg.checkpoint_root is None else str(Path(cfg.checkpoint_root) / f"fold{i}")
        res = run_pipeline(arch, records, dataclasses.replace(cfg, fold=i, checkpoint_root=ck),
                           only=only, train_only=train_only)
        tabs = [t.assign(fold=i) for t in (res.table, res.per_case, res.val_curves)]
        search = _jsonable(dict(res.search, searched_arch=res.searched_arch))
        if d is not None and not train_only:
            d.mkdir(parents=True, exist_ok=True)
            for name, t in zip(FOLD_FILES, tabs):
                write_csv(d / name, t, want, cfg.split_seed)
            # written last: a fold counts as done only once all its tables are there
            write_json(d / "search.json", {"fold": i, "cv_config": want,
                                           "input_arch": arch.to_dict(), "search": search})
        parts.append(tabs)
        searches.append(search)
    cat = [pd.concat([p[k] for p in parts], ignore_index=True) if parts else pd.DataFrame()
           for k in range(len(FOLD_FILES))]
    return CVResults(table=cat[0], per_case=cat[1], val_curves=cat[2],
                     assignment=kfold_assignment(records, folds, cfg.split_seed),
                     search=searches, config=want)
