"""Notebook 04 step by step: each method of :class:`NotebookRun` is one notebook cell's work
(input cost, the pipeline, results, knob search, Dice vs FLOPs, loss curves, overlays,
targets and metrics), writing its files under ``reports/<profile>/04_segmentation_finetune/``.

Notebook use::

    run = NotebookRun(provenance.notebook_params(globals()))
    run.input_cost(); run.run_pipeline(); run.results(); run.postprocessed()
    run.knob_search()
    run.dice_vs_flops(); run.loss_curves(); run.overlays(); run.loss_ablation()
    run.write_metrics()      # metrics.json; returns the targets

The helpers it composes (data and architecture selection, tables, targets, metrics) are in
:mod:`nascore.experiments.seg_finetune`; figures in :mod:`nascore.plots.seg`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List, Mapping

import pandas as pd

from ..paths import repo_root, reports_dir
from ..plots.arch import draw_arch
from ..plots.seg import (
    cost_bars,
    dice_vs_flops,
    loss_ablation,
    loss_curves,
    overlay_grid,
    postprocess_effect,
    val_curves,
)
from ..provenance import write_csv, write_metrics
from . import seg_finetune as sf
from .notebook_utils import display, save_and_close, torch_setup
from .search_hybrid_results import check_batch_split

#: The results table's columns shown in the notebook.
SHOW_COLUMNS = ["model", "n_seeds", "dice", "dice_patient", "dice_patient_ci95_lo",
                "dice_patient_ci95_hi", "fp_rate_empty", "hd95", "dice_all", "params_M", "gflops",
                "params_vs_hct", "flops_vs_hct", "steps", "cpu_latency_ms", "train_time_s",
                "search_time_s", "total_time_s"]
SEARCH_TERMS = ("dice", "transformer", "complexity", "entropy", "total", "expected_gflops")


class NotebookRun:
    """The state of one notebook-04 run (see the module docstring).

    Args:
        params: the notebook parameters (:func:`nascore.provenance.notebook_params`):
            ``profile``, ``data``, ``resolution``, ``synthetic_patients``, ``synthetic_slices``,
            ``input_arch`` (``"auto"``, ``"default"`` or a repo-relative path), ``n_overlay``,
            ``device`` (``"auto"``: cuda when available), ``num_threads`` (0: torch default)
            and the :data:`~nascore.experiments.seg_finetune.CONFIG_KEYS` of the pipeline.

    Attributes:
        out: the output folder. records, data_info: the data (:func:`nascore.seg.load_dataset`).
        arch, arch_source: the input architecture. cfg: the pipeline config (checkpoints under
        ``out/checkpoints/<run key>``). config: the provenance config. notes: metrics notes.

    Raises:
        ValueError, FileNotFoundError: bad profile, data or architecture file (named).
    """

    def __init__(self, params: Mapping[str, Any]) -> None:
        import torch

        from ..seg import load_dataset

        p = dict(params)
        self.dev = p["device"] = torch_setup(p)
        p["n_predictions"] = p.pop("n_overlay")
        self.p = p
        self.out = out = reports_dir(p["profile"], sf.NOTEBOOK)
        self.records, self.data_info = load_dataset(
            p["data"], resolution=p["resolution"],
            synthetic=dict(n_patients=p["synthetic_patients"],
                           slices_per_patient=p["synthetic_slices"], seed=0),
            cache_dir=repo_root() / "reports" / "cache" / sf.NOTEBOOK)
        info = self.data_info
        self.channels = info["channels"]  # every model takes the data's input channels
        ia = p["input_arch"]
        arch_path = (sf.best_arch_path(p["profile"]) if ia == "auto" else
                     None if ia == "default" else repo_root() / ia)
        self.arch, self.arch_source = sf.load_input_arch(arch_path, resolution=p["resolution"])
        self.cfg = sf.pipeline_config(p)
        if arch_path is not None:  # the search's proxy must not have seen our val/test patients
            check_batch_split(arch_path, self.cfg.fractions, self.cfg.split_seed)
        key = sf.run_key(self.arch, info, self.cfg.to_dict())
        self.cfg.checkpoint_root = str(out / "checkpoints" / key)
        self.config = dict(p, data_info=info, input_arch_source=self.arch_source,
                           input_arch_id=self.arch.arch_id, run_key=key)
        self.notes: List[str] = []
        if info["synthetic"]:
            self.notes.append(info["label"])
            print("NOTE: using", info["label"], f"({info['why']})")
        print("outputs ->", out.relative_to(repo_root()), "| device:", self.dev, "| threads:",
              torch.get_num_threads())
        print(f"data: {info['dataset']}, {info['n_records']} slices, {info['n_patients']} "
              f"patients, {info['n_tumour']} with tumour, {self.channels} channel(s), "
              f"{p['resolution']} px")
        print("input arch:", self.arch_source)
        print("  ", self.arch.describe())
        print("checkpoints:", self.cfg.checkpoint_root)

    def _csv(self, name: str, df: pd.DataFrame) -> None:
        write_csv(self.out / name, df, self.config, self.p["search_seed"])

    def _figure(self, fig, name: str, show: bool = False) -> Path:
        return save_and_close(fig, self.out / name, show)

    def input_cost(self) -> pd.DataFrame:
        """Params and FLOPs (training resolution, batch 1) of the input architecture and of
        ``hctnet_like``, with the FLOPs budget; draws ``arch_input.png``."""
        import matplotlib.pyplot as plt

        from ..build import build_model
        from ..cost import count_flops, count_params
        from ..seg import build_baseline

        res, in_ch = self.p["resolution"], int(self.records[0]["image"].shape[0])
        shape = (1, in_ch, res, res)
        m_in = build_model(self.arch, in_ch, 1)
        hct = build_baseline(sf.HCT, in_ch, 1, res).model
        pre = pd.DataFrame([
            {"model": "input arch", "params_M": count_params(m_in) / 1e6,
             "gflops": count_flops(m_in, shape) / 1e9},
            {"model": sf.HCT, "params_M": count_params(hct) / 1e6,
             "gflops": count_flops(hct, shape) / 1e9}])
        pre["flops_budget_g"] = self.p["flops_budget_frac"] * pre["gflops"].iloc[1]
        fig, ax = plt.subplots(figsize=(11, 5))
        draw_arch(self.arch, ax=ax, title=f"input arch {self.arch.arch_id} (before the knob search)")
        self._figure(fig, "arch_input.png")
        return pre.round(4)

    def run_pipeline(self) -> None:
        """:func:`nascore.seg.run_pipeline` (knob search, fine-tuning, baselines; resumable)."""
        from ..seg import run_pipeline

        t0 = time.perf_counter()
        self.res = run_pipeline(self.arch, self.records, self.cfg)
        self.wall_s = time.perf_counter() - t0
        print(f"pipeline wall time {self.wall_s:.0f} s")

    def results(self) -> pd.DataFrame:
        """``results.csv`` (per model, over seeds) and the per-seed, per-case and curve CSVs."""
        res = self.res
        self.table = sf.results_table(res.table, res.per_case)
        for name, df in (("results.csv", self.table), ("results_per_seed.csv", res.table),
                         ("per_case.csv", res.per_case), ("train_curves.csv", res.curves),
                         ("val_curves.csv", res.val_curves)):
            self._csv(name, df)
        return self.table[[c for c in SHOW_COLUMNS if c in self.table]].round(4)

    def postprocessed(self):
        """``results_postprocessed.csv`` (per model, CIs), its per-seed, per-case and
        validation-choice CSVs and ``postprocess.png``: the test metrics with small components
        removed at the size each run chose on its validation patients
        (:mod:`nascore.seg.postprocess`); the headline tables are without it. Returns the
        table (None when the pipeline produced none)."""
        res = self.res
        self.table_pp = None
        if res.table_pp is None or not len(res.table_pp):
            print("no post-processed results")
            return None
        self.table_pp = sf.postprocessed_summary(res.table_pp, res.per_case_pp)
        for name, df in (("results_postprocessed.csv", self.table_pp),
                         ("results_postprocessed_per_seed.csv", res.table_pp),
                         ("per_case_postprocessed.csv", res.per_case_pp),
                         ("postprocess_validation.csv", res.postprocess_val)):
            self._csv(name, df)
        self._figure(postprocess_effect(self.table, self.table_pp), "postprocess.png", show=True)
        cols = ["model", "min_size_per_seed", "dice_tumor", "dice_tumor_ci95_lo",
                "dice_tumor_ci95_hi", "dice_patient", "dice_patient_ci95_lo",
                "dice_patient_ci95_hi", "fp_rate_empty", "hd95", "dice_all", "n_hd95_missed"]
        return self.table_pp[[c for c in cols if c in self.table_pp]].round(4)

    def knob_search(self) -> pd.DataFrame:
        """Cost before/after and the decisions of the knob search (CSVs, arch JSONs, figures)."""
        import matplotlib.pyplot as plt

        res = self.res
        cost = sf.cost_before_after(res.search, res.table)
        decisions = sf.decisions_table(res.search)
        self._csv("cost_before_after.csv", cost)
        self._csv("search_decisions.csv", decisions)
        sf.write_arch_json(self.out / "input_arch.json", res.input_arch, source=self.arch_source)
        sf.write_arch_json(self.out / "searched_arch.json", res.searched_arch,
                           source="knob search of input_arch.json")
        a, b = res.input_arch, res.searched_arch
        self._figure(cost_bars(cost, title=f"knob search: {a.arch_id} -> {b.arch_id}"),
                     "cost_before_after.png", show=True)
        fig, ax = plt.subplots(figsize=(11, 5))
        draw_arch(b, ax=ax, title=f"searched arch {b.arch_id} (after discretisation)")
        self._figure(fig, "arch_searched.png")
        print("before:", a.describe())
        print("after: ", b.describe())
        print(f"FLOPs budget {res.search.get('flops_budget') or 0:.4g}, after "
              f"{res.search['flops_after']:.4g}: budget_met={res.search.get('budget_met')}; "
              f"attention blocks {res.search.get('n_attn_before')} -> {res.search.get('n_attn_after')}"
              f" (min_attn_blocks={res.search.get('min_attn_blocks')})")
        for n in sf.search_notes(res.search):
            print("WARNING:", n)
        if res.search.get("budget_steps"):
            display(pd.DataFrame(res.search["budget_steps"]))
        display(decisions.round(3))
        return cost.round(4)

    def dice_vs_flops(self) -> None:
        """``dice_vs_flops.png`` (the target region shaded)."""
        p, info = self.p, self.data_info
        title = f"{info['dataset']} {p['resolution']}px, {len(p['seeds'])} seed(s), {p['epochs']} epoch(s)"
        if info["synthetic"]:
            title += "\n" + info["label"]
        self._figure(dice_vs_flops(self.table, title=title), "dice_vs_flops.png", show=True)

    def loss_curves(self):
        """Loss terms of the knob search and of training, validation Dice; returns the training
        figure's image for display."""
        from IPython.display import Image

        curves, p = self.res.curves, self.p
        smooth = max(1, int(p["search_steps"]) // 25)
        fig = loss_curves(curves, "search", terms=SEARCH_TERMS, smooth=smooth,
                          title=f"knob search (seed {p['search_seed']}), moving average {smooth}")
        self._figure(fig, "loss_terms_search.png", show=True)
        n_steps = int(curves[curves.phase == "train"]["step"].max())
        fig = loss_curves(curves, "train", smooth=max(1, n_steps // 25),
                          title="fine-tuning / baseline training (mean over seeds)")
        path = self._figure(fig, "loss_terms_train.png")
        fig = val_curves(self.res.val_curves, metric="val_dice",
                         title=f"validation {self.p.get('val_metric', 'dice_tumor')} per epoch "
                               "(mean, band = min..max over seeds)")
        self._figure(fig, "val_dice.png", show=True)
        return Image(filename=str(path), width=800)

    def overlays(self) -> None:
        """Image / ground truth / prediction overlays per model and for all models (first seed)."""
        res, n, info = self.res, self.p["n_predictions"], self.data_info
        first = res.per_case[res.per_case.seed == list(self.p["seeds"])[0]]
        case_dice = {m: dict(zip(g["id"].astype(str), g["dice_conv"])) for m, g in first.groupby("model")}
        for m, preds in res.predictions.items():
            fig = overlay_grid({m: preds}, max_cases=n, dice=case_dice,
                               title=f"{m}: image, ground truth (green), prediction (red)")
            self._figure(fig, f"overlay_{m}.png")
        title = "test cases, all models" + (f" — {info['label']}" if info["synthetic"] else "")
        self._figure(overlay_grid(res.predictions, max_cases=n, dice=case_dice, title=title),
                     "overlay_all.png", show=True)

    def loss_ablation(self):
        """The loss-term ablation (``loss_ablation`` parameter): ``ablation.csv`` (per variant,
        CIs), ``ablation_per_seed.csv`` and ``loss_ablation.png``; None when it was off."""
        from ..seg.ablation import ablation_table

        res = self.res
        if res.ablation is None:
            print("loss-term ablation off (set loss_ablation = True)")
            self.ablation = None
            return None
        self.ablation = ablation_table(res.ablation, res.ablation_cases)
        self._csv("ablation.csv", self.ablation)
        self._csv("ablation_per_seed.csv", res.ablation)
        seeds = sorted(int(x) for x in res.ablation["seed"].unique())
        self._figure(loss_ablation(self.ablation, title=f"loss-term ablation, seed(s) {seeds}"),
                     "loss_ablation.png", show=True)
        return self.ablation.round(4)

    def write_metrics(self) -> Dict[str, Any]:
        """``metrics.json`` (targets, search, data, notes, wall time); returns the targets."""
        import torch

        res, p = self.res, self.p
        targets = sf.evaluate_targets(self.table, per_case=res.per_case)
        targets["searched_scratch"] = sf.evaluate_targets(
            self.table, searched=sf.SEARCHED_SCRATCH, per_case=res.per_case)
        self.notes.append(f"input arch: {self.arch_source}")
        self.notes.append(
            f"equal budgets: every model {res.search['total_steps']} optimisation steps; "
            f"'searched' = {p['search_steps']} knob-search + {res.search['fine_tune_steps']} "
            "fine-tuning steps from the searched weights, 'searched_scratch' = the same arch "
            "from scratch" + ("" if res.search["steps_equal"] else
                              " (NOT equal: search_steps exceed the budget)"))
        self.notes.append(f"pipeline wall time {self.wall_s:.0f} s on {self.dev} with "
                          f"{torch.get_num_threads()} thread(s)")
        pre_notes, pre_record = sf.prefill_record(Path(self.cfg.checkpoint_root) / "prefill_logs")
        self.notes.extend(pre_notes)
        metrics = sf.metrics_json(self.table, res.search, targets, self.data_info,
                                  self.arch_source, res.input_arch, res.searched_arch, self.notes)
        metrics["wall_time_s"] = self.wall_s
        metrics["prefill"] = pre_record
        metrics["attention_effect"] = sf.attention_effect(res.per_case, res.search)
        metrics["postprocessed"] = sf.postprocessed_json(getattr(self, "table_pp", None),
                                                         res.per_case, res.per_case_pp)
        abl = getattr(self, "ablation", None)
        metrics["loss_ablation"] = (None if abl is None else
                                    [{k: sf._finite(v) for k, v in r.items()}
                                     for r in abl.to_dict("records")])
        write_metrics(self.out / "metrics.json", metrics, self.config, p["search_seed"])
        print(sorted(f.name for f in self.out.iterdir()))
        return targets
