"""Runs the protocol end to end and writes its outputs (``python -m nascore.experiments.hybrid_protocol``).

Inputs (all scored with the notebook-02 settings: NB201 CIFAR-10 batch 64, AutoFormer CIFAR-100
batch 32, proxy seed 0; the hybrid benchmark at the notebook-03 setting):

* report scores of NB201 and of the hybrid benchmark from notebook 02's full run
  (``reports/full/02_proxy_correlation/scores.csv`` and ``hybrid_lgg_scores.csv``);
* fit-set scores (NB201 fit cells, AutoFormer file 1) and AutoFormer file 2 with every
  registered proxy, scored here through the notebook-02 score cache (resumable).

Outputs in ``reports/benchmarks/hybrid_v2/`` (each with a provenance line), in this order:
``candidates.csv`` (every candidate rule and its fit-set τ; written before any report set is
read), ``selection.json``, ``components.csv`` (the component study), ``lobo.csv`` and
``report.csv``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import pandas as pd

from ...proxies.hybrid_rule import COST_BUDGET, Rule
from .protocol import (SELECTION, all_candidates, component_study, fit_table, lobo_table,
                       report_rows, select)
from .sets import (BENCHMARKS, LGG_FIT_PER_STRATUM, LGG_SPLIT_SEED, POOL_SOURCES,
                   components_table, lgg_split, nb201_split)

#: Proxies left out of the "single proxy" comparisons: hybrid v1 (reported on its own) and the
#: population rank aggregates.
NOT_SINGLES = ("hybrid", "hybrid_rank", "az_nas_rank")


def _singles(long: pd.DataFrame, key: str) -> pd.DataFrame:
    """Wide, higher-is-better single-proxy values (NaN where the proxy failed)."""
    from ...proxies import PROXIES

    d = long[~long["proxy"].isin(NOT_SINGLES)].copy()
    if "raw_value" in d.columns:  # the benchmark table's value is already oriented
        d["v"] = d["value"]
    else:
        sign = d["proxy"].map(lambda p: 1.0 if p not in PROXIES or PROXIES.get(p).higher_is_better else -1.0)
        d["v"] = np.where(d["status"].astype(str) == "ok", d["value"] * sign, np.nan)
    d["v"] = d["v"].where(np.isfinite(d["v"].astype(float)))
    return d.pivot_table(index=key, columns="proxy", values="v", aggfunc="first", dropna=False)


def _v1(long: pd.DataFrame, key: str) -> pd.Series:
    d = long[long["proxy"] == "hybrid"]
    v = d["raw_value"] if "raw_value" in d.columns else d["value"]
    return pd.Series(np.where(d["status"].astype(str) == "ok", v.astype(float), np.nan),
                     index=d[key].to_numpy())


def collect(repo: Path, cache=None, progress: bool = True) -> Dict[str, Any]:
    """Loads every fit and report set (scoring what the cache lacks)."""
    from ...bench.hybrid_seg.analysis import truth_frame
    from ...bench.hybrid_seg.table import read_table
    from ...bench.tables import load_nb201_accuracy
    from ...proxies import PROXIES
    from ..proxy_corr.inputs import sample_autoformer
    from ..proxy_corr.scoring import score_autoformer, score_nb201

    nb02 = repo / "reports" / "full" / "02_proxy_correlation"
    for f in (nb02 / "scores.csv", nb02 / "hybrid_lgg_scores.csv"):
        if not f.is_file():
            raise FileNotFoundError(f"{f} is missing: run notebook 02 at the full profile first")
    rep = pd.read_csv(nb02 / "scores.csv", comment="#")
    acc = load_nb201_accuracy().set_index("arch_str")
    fit, report = {}, {}

    # NB201
    nb = rep[rep["benchmark"] == "nb201"]
    split = nb201_split(pd.Series(nb[nb["dataset"] == "cifar10"]["arch_str"].unique()))
    fit_long = score_nb201(split["fit"], POOL_SOURCES, "cifar10", 64, cache=cache, progress=progress)
    fit["nb201"] = (components_table(fit_long, "arch_str"), acc["cifar10"])
    keep = set(split["report"])
    for ds in ("cifar10", "cifar100", "imagenet16_120"):
        d = nb[(nb["dataset"] == ds) & nb["arch_str"].isin(keep)]
        report[f"nb201/{ds}"] = {"benchmark": "nb201", "components": components_table(d, "arch_str"),
                                 "truth": acc[ds], "singles": _singles(d, "arch_str"),
                                 "v1": _v1(d, "arch_str")}

    # AutoFormer
    gt = sample_autoformer(None)
    f1 = gt[gt["source"] == "autoprox_gt_autoformer.json"]
    f2 = gt[gt["source"] == "autoprox_gt_autoformer_2.json"]
    af_truth = gt.set_index("arch_key")["c100_kd_acc"].astype(float)
    a1 = score_autoformer(f1, POOL_SOURCES, 32, cache=cache, progress=progress)
    fit["autoformer"] = (components_table(a1, "arch_key"), af_truth)
    a2 = score_autoformer(f2, PROXIES.names(), 32, cache=cache, progress=progress)
    report["autoformer/file2"] = {"benchmark": "autoformer", "components": components_table(a2, "arch_key"),
                                  "truth": af_truth, "singles": _singles(a2, "arch_key"),
                                  "v1": _v1(a2, "arch_key"), "long": a2}

    # hybrid LGG mini-benchmark
    table = read_table(repo / "reports" / "benchmarks" / "hybrid_lgg.csv")
    truth = truth_frame(table)
    lsplit = lgg_split(truth)
    lg = pd.read_csv(nb02 / "hybrid_lgg_scores.csv", comment="#")
    lt = truth.set_index("arch_id")["val_dice_tumor"].astype(float)
    comp = components_table(lg, "arch_id")
    fit["hybrid_lgg"] = (comp.loc[lsplit["fit"]], lt)
    rl = lg[lg["arch_id"].isin(lsplit["report"])]
    report["hybrid_lgg/report"] = {"benchmark": "hybrid_lgg", "components": comp.loc[lsplit["report"]],
                                   "truth": lt, "singles": _singles(rl, "arch_id"), "v1": _v1(rl, "arch_id")}
    return {"fit": fit, "report": report, "nb201_dropped": split["dropped"],
            "nb201_fit_n": len(split["fit"]), "lgg_split": lsplit, "autoformer_file2_long": a2}


def run(repo: Optional[Path] = None, out_dir: Optional[Path] = None, n_boot: int = 1000,
        seed: int = 0, cache=None, progress: bool = True) -> Dict[str, Any]:
    """Runs the protocol (see :mod:`.protocol`) and writes its outputs; returns ``selection``."""
    from ...paths import repo_root
    from ...provenance import write_csv, write_metrics

    repo = Path(repo or repo_root())
    out = Path(out_dir or repo / "reports" / "benchmarks" / "hybrid_v2")
    data = collect(repo, cache=cache, progress=progress)
    cfg = {"selection": SELECTION, "cost_budget": COST_BUDGET, "benchmarks": list(BENCHMARKS),
           "lgg_split_seed": LGG_SPLIT_SEED, "lgg_fit_per_stratum": LGG_FIT_PER_STRATUM,
           "n_boot": n_boot, "nb201_fit_cells": data["nb201_fit_n"],
           "nb201_report_dropped_canonical": len(data["nb201_dropped"]),
           "lgg_fit_archs": len(data["lgg_split"]["fit"]),
           "lgg_report_archs": len(data["lgg_split"]["report"])}
    # steps 1-3: fit sets only
    fit = fit_table(data["fit"], all_candidates())
    write_csv(out / "candidates.csv", fit.sort_values("rule"), cfg, seed)
    final = select(fit, BENCHMARKS)
    # step 4-5: report sets
    comps = component_study({**{f"fit:{b}": v for b, v in data["fit"].items()},
                             **{f"report:{k}": (v["components"], v["truth"])
                                for k, v in data["report"].items()}})
    write_csv(out / "components.csv", comps, cfg, seed)
    lobo = lobo_table(fit, data["report"], BENCHMARKS, n_boot, seed)
    write_csv(out / "lobo.csv", lobo, cfg, seed)
    rows = report_rows(Rule.from_name(final["rule"]), data["report"], n_boot, seed, label="final")
    v1 = _v1_rows(data["report"], n_boot, seed)
    rep = pd.DataFrame(rows).merge(v1, on="report_set", how="left")
    write_csv(out / "report.csv", rep, cfg, seed)
    sel = {"final": final, "lobo": {b: lobo[lobo["held_out"] == b]["rule"].iloc[0]
                                     for b in BENCHMARKS if (lobo["held_out"] == b).any()},
           "config": cfg, "nb201_report_dropped": data["nb201_dropped"],
           "lgg_split": data["lgg_split"]}
    write_metrics(out / "selection.json", sel, cfg, seed)
    return sel


def _v1_rows(report_sets, n_boot: int, seed: int) -> pd.DataFrame:
    from ...corr import correlate

    rows = []
    for name, s in report_sets.items():
        t = s["truth"].loc[s["components"].index].to_numpy(float)
        v = s["v1"].reindex(s["components"].index).to_numpy(float)
        c = correlate(v, t, n_boot=n_boot, seed=seed, nan_policy="drop")
        rows.append({"report_set": name, "v1_kendall": c["kendall"], "v1_lo": c["ci95_kendall"][0],
                     "v1_hi": c["ci95_kendall"][1]})
    return pd.DataFrame(rows)
