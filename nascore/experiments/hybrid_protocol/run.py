"""Runs the protocol end to end and writes its outputs (``python -m nascore.experiments.hybrid_protocol``).

Inputs (all scored with the notebook-02 settings: NB201 CIFAR-10 batch 64, AutoFormer CIFAR-100
batch 32, proxy seed 0; the hybrid benchmark at the notebook-03 setting):

* report scores of NB201 and of the hybrid benchmark from notebook 02's full run
  (``reports/full/02_proxy_correlation/scores.csv`` and ``hybrid_lgg_scores.csv``);
* fit-set scores (NB201 fit cells, AutoFormer file 1) and AutoFormer file 2 with every
  registered proxy, scored here through the notebook-02 score cache (resumable).

Outputs in ``reports/benchmarks/hybrid_<version>/`` (each with a provenance line; v3 adds
``measured_costs.csv``, :mod:`.cost`), in this order:
``fit_components.csv``, ``candidates.csv`` (every candidate rule and its fit-set τ),
``selection.json`` and ``calibration.json`` (all written before any report set is read), then
``components.csv`` (the component study), ``lobo.csv``, ``report.csv``, ``tnb101_mirror.csv``,
``autoformer_file2_scores.csv`` (every registered proxy on the report ViTs) and ``lobo.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np
import pandas as pd

from ...bench.hybrid_seg.analysis import noise_ceiling, truth_frame
from ...bench.hybrid_seg.table import read_table
from ...bench.tables import load_nb201_accuracy
from ...corr import correlate
from ...paths import repo_root
from ...plots.protocol import lobo_bars
from ...provenance import provenance, save_figure, write_csv, write_json, write_metrics
from ...proxies.hybrid.rule import COST_BUDGET, Rule
from .. import transnas_meta as tm
from .protocol import (
    SELECTION,
    SELECTION_V3,
    all_candidates,
    component_study,
    fit_table,
    lobo_table,
    report_rows,
    select,
)
from .sets import (
    BENCHMARKS,
    LGG_FIT_PER_STRATUM,
    LGG_SPLIT_SEED,
    _extra,
    components_table,
    is_v1_row,
    lgg_split,
    nb201_split,
    pool_proxies,
    v1_name,
)

#: Proxies left out of the "single proxy" comparisons: every version of ``hybrid`` (reported on
#: their own) and the population rank aggregates.
NOT_SINGLES = ("hybrid", "hybrid_v1", "hybrid_v2", "hybrid_rank", "az_nas_rank")


def _singles(long: pd.DataFrame, key: str) -> pd.DataFrame:
    """Wide, higher-is-better single-proxy values: −inf where the proxy ran and failed (it then
    ranks worst), NaN where it was not scored."""
    from ...proxies import PROXIES

    d = long[~long["proxy"].isin(NOT_SINGLES)].copy()
    if "raw_value" in d.columns:  # the benchmark table's value is already oriented
        v = d["value"].astype(float)
    else:
        sign = d["proxy"].map(lambda p: 1.0 if p not in PROXIES or PROXIES.get(p).higher_is_better else -1.0)
        v = np.where(d["status"].astype(str) == "ok", d["value"].astype(float) * sign, np.nan)
    d["v"] = np.where(np.isfinite(v), v, -np.inf)
    return d.pivot_table(index=key, columns="proxy", values="v", aggfunc="first", dropna=False)


def _v1(long: pd.DataFrame, key: str) -> pd.Series:
    """``hybrid`` v1's value per network (rows named ``hybrid_v1``, or ``hybrid`` before v2)."""
    mask = [is_v1_row(p, _extra(e)) or p == "hybrid_v1" for p, e in zip(long["proxy"], long["extra"])]
    d = long[mask]
    v = d["raw_value"] if "raw_value" in d.columns else d["value"]
    return pd.Series(np.where(d["status"].astype(str) == "ok", v.astype(float), np.nan),
                     index=d[key].to_numpy())


#: Protocol versions: output folder, whether the cost check is measured (:mod:`.cost`), and the
#: registered proxy that computes the chosen rule per network (v2's was ``hybrid`` until v3
#: took the name; its committed outputs were made then).
VERSIONS = {"v2": {"out": "hybrid_v2", "measured_cost": False, "proxy": "hybrid_v2"},
            "v3": {"out": "hybrid_v3", "measured_cost": True, "proxy": "hybrid"}}


def _per_network(long: pd.DataFrame, key: str, proxy: str = "hybrid") -> pd.Series:
    """The registered rule proxy's per-network value (calibrated), where it was scored
    (``proxy``: :data:`VERSIONS`)."""
    mask = [p == proxy and "family_index" in _extra(e) for p, e in zip(long["proxy"], long["extra"])]
    d = long[mask]
    return pd.Series(np.where(d["status"].astype(str) == "ok", d["value"].astype(float), np.nan),
                     index=d[key].to_numpy())


def verify_reuse(nb: pd.DataFrame, cache, n: int = 20) -> Dict[str, Any]:
    """Re-scores the first ``n`` CIFAR-10 cells of notebook 02's NB201 sample with the current
    code and compares with the file, so its scores may stand in for a re-run.

    Raises:
        RuntimeError: when any value or hybrid component differs (relative 1e-9) or a proxy's
            failure pattern differs.
    """
    import json

    from ..proxy_corr.scoring import score_nb201

    d = nb[nb["dataset"] == "cifar10"]
    cells = list(dict.fromkeys(d["arch_str"]))[:n]
    proxies = sorted(d["proxy"].unique().tolist())
    proxies = [p for p in proxies if d[d["arch_str"].isin(cells) & (d["proxy"] == p)].shape[0] == len(cells)]
    sub = d[d["arch_str"].isin(cells)]
    legacy_v1 = any(is_v1_row(p, _extra(e)) for p, e in zip(sub["proxy"], sub["extra"])
                    if p == "hybrid")
    # v1 is compared under its current name; a file's v2 "hybrid" rows (calibration-dependent)
    # and the population aggregates are not compared
    proxies = [p for p in proxies if p not in ("hybrid_rank", "az_nas_rank")
               and (p != "hybrid" or legacy_v1)]
    v1 = v1_name()
    fresh = score_nb201(cells, [v1 if p == "hybrid" else p for p in proxies], "cifar10", 64,
                        cache=cache, progress=False)
    if legacy_v1:
        fresh["proxy"] = fresh["proxy"].replace({v1: "hybrid"})  # the file's name for v1
    m = fresh.merge(d, on=["arch_str", "proxy"], suffixes=("_new", "_old"))
    worst = 0.0
    for _, r in m.iterrows():
        pairs = [(r["value_new"], r["value_old"])]
        if r["proxy"] in ("hybrid", "hybrid_v1"):
            old = json.loads(r["extra_old"]) if isinstance(r["extra_old"], str) else {}
            pairs += [(r["extra_new"].get(k, np.nan), old.get(k, np.nan)) for k in old]
        for a, b in pairs:
            a, b = float(a), float(b)
            if np.isfinite(a) != np.isfinite(b):
                raise RuntimeError(f"{r['proxy']} on {r['arch_str']}: {a} now, {b} in the file")
            if np.isfinite(a):
                worst = max(worst, abs(a - b) / max(abs(b), 1e-12))
    if worst > 1e-9:
        raise RuntimeError(f"notebook 02's scores.csv differs from the current code (max relative "
                           f"difference {worst:.2e}): re-run notebook 02 at the full profile")
    return {"cells": len(cells), "proxies": proxies, "max_rel_diff": worst}


def _nb02(repo: Path) -> Path:
    nb02 = repo / "reports" / "full" / "02_proxy_correlation"
    for f in (nb02 / "scores.csv", nb02 / "hybrid_lgg_scores.csv"):
        if not f.is_file():
            raise FileNotFoundError(f"{f} is missing: run notebook 02 at the full profile first")
    return nb02


def _lgg(repo: Path):
    truth = truth_frame(read_table(repo / "reports" / "benchmarks" / "hybrid_lgg.csv"))
    lsplit = lgg_split(truth)
    lg = pd.read_csv(_nb02(repo) / "hybrid_lgg_scores.csv", comment="#")
    lt = truth.set_index("arch_id")["val_dice_tumor"].astype(float)
    return lsplit, lg, lt, components_table(lg, "arch_id")


def _nb201_report_cells(repo: Path) -> pd.DataFrame:
    rep = pd.read_csv(_nb02(repo) / "scores.csv", comment="#")
    return rep[rep["benchmark"] == "nb201"]


def collect_fit(repo: Path, cache=None, progress: bool = True) -> Dict[str, Any]:
    """The fit sets only: ``{"fit": {benchmark: (components, truth)}, ...}`` (scoring what the
    cache lacks). Reads no report truth: the NB201 report cells are needed only as arch strings,
    to drop their canonical twins."""
    from ..proxy_corr.inputs import sample_autoformer
    from ..proxy_corr.scoring import score_autoformer, score_nb201

    nb = _nb201_report_cells(repo)
    split = nb201_split(pd.Series(nb[nb["dataset"] == "cifar10"]["arch_str"].unique()))
    acc = load_nb201_accuracy().set_index("arch_str")
    fit = {}
    fit_long = score_nb201(split["fit"], pool_proxies(), "cifar10", 64, cache=cache, progress=progress)
    fit["nb201"] = (components_table(fit_long, "arch_str"), acc.loc[split["fit"], "cifar10"])
    gt = sample_autoformer(None)
    f1 = gt[gt["source"] == "autoprox_gt_autoformer.json"]
    a1 = score_autoformer(f1, pool_proxies(), 32, cache=cache, progress=progress)
    fit["autoformer"] = (components_table(a1, "arch_key"),
                         f1.set_index("arch_key")["c100_kd_acc"].astype(float))
    lsplit, _, lt, comp = _lgg(repo)
    fit["hybrid_lgg"] = (comp.reindex(lsplit["fit"]), lt.loc[lsplit["fit"]])
    return {"fit": fit, "nb201_split": split, "lgg_split": lsplit}


def collect_report(repo: Path, nb201_report: Sequence[str], cache=None, progress: bool = True,
                   verify_n: int = 20, proxy: str = "hybrid") -> Dict[str, Any]:
    """The report sets (read only after the selection): ``{name: {"benchmark", "components",
    "truth", "singles", "v1"}}`` (AutoFormer file 2 also ``"per_network"``: ``proxy``'s
    calibrated value per network) plus the AutoFormer file-2 scores and the reuse check."""
    from ...proxies import PROXIES
    from ..proxy_corr.inputs import sample_autoformer
    from ..proxy_corr.scoring import score_autoformer

    nb = _nb201_report_cells(repo)
    check = verify_reuse(nb, cache, n=verify_n)
    acc = load_nb201_accuracy().set_index("arch_str")
    report = {}
    keep = set(nb201_report)
    for ds in ("cifar10", "cifar100", "imagenet16_120"):
        d = nb[(nb["dataset"] == ds) & nb["arch_str"].isin(keep)]
        report[f"nb201/{ds}"] = {"benchmark": "nb201", "components": components_table(d, "arch_str"),
                                 "truth": acc[ds], "singles": _singles(d, "arch_str"),
                                 "v1": _v1(d, "arch_str")}
    gt = sample_autoformer(None)
    f2 = gt[gt["source"] == "autoprox_gt_autoformer_2.json"]
    a2 = score_autoformer(f2, PROXIES.names(), 32, cache=cache, progress=progress)
    report["autoformer/file2"] = {"benchmark": "autoformer", "components": components_table(a2, "arch_key"),
                                  "truth": f2.set_index("arch_key")["c100_kd_acc"].astype(float),
                                  "singles": _singles(a2, "arch_key"), "v1": _v1(a2, "arch_key"),
                                  "per_network": _per_network(a2, "arch_key", proxy)}
    lsplit, lg, lt, comp = _lgg(repo)
    rl = lg[lg["arch_id"].isin(lsplit["report"])]
    report["hybrid_lgg/report"] = {"benchmark": "hybrid_lgg", "components": comp.reindex(lsplit["report"]),
                                   "truth": lt, "singles": _singles(rl, "arch_id"), "v1": _v1(rl, "arch_id")}
    return {"report": report, "autoformer_file2_long": a2, "reuse_check": check}


def run(repo: Optional[Path] = None, out_dir: Optional[Path] = None, n_boot: int = 1000,
        seed: int = 0, cache=None, progress: bool = True, fit_only: bool = False,
        version: str = "v3", cost_repeats: int = 5) -> Dict[str, Any]:
    """Runs the protocol (see :mod:`.protocol`) and writes its outputs; returns the selection.

    Args:
        fit_only: stop after steps 1-3 (``candidates.csv`` and ``selection.json`` with the final
            rule), before any report set is read.
        version: ``"v3"`` (the measured cost check; outputs in ``reports/benchmarks/hybrid_v3/``
            with ``measured_costs.csv``, reused on a rerun) or ``"v2"`` (declared costs only;
            ``hybrid_v2/``). See :data:`VERSIONS`.
        cost_repeats: timing repeats per cost net (v3).

    Raises:
        ValueError: for an unknown ``version``.
    """
    from .cost import CostBook

    if version not in VERSIONS:
        raise ValueError(f"unknown protocol version {version!r}; known: {sorted(VERSIONS)}")
    ver = VERSIONS[version]
    repo = Path(repo or repo_root())
    out = Path(out_dir or repo / "reports" / "benchmarks" / ver["out"])
    data = collect_fit(repo, cache=cache, progress=progress)
    cfg = {"version": version,
           "selection": SELECTION_V3 if ver["measured_cost"] else SELECTION,
           "cost_budget": COST_BUDGET, "benchmarks": list(BENCHMARKS),
           "lgg_split_seed": LGG_SPLIT_SEED, "lgg_fit_per_stratum": LGG_FIT_PER_STRATUM,
           "n_boot": n_boot, "nb201_fit_cells": len(data["nb201_split"]["fit"]),
           "nb201_report_dropped_canonical": len(data["nb201_split"]["dropped"]),
           "lgg_fit_archs": len(data["lgg_split"]["fit"]),
           "lgg_report_archs": len(data["lgg_split"]["report"])}
    # steps 1-3: fit sets only
    write_csv(out / "fit_components.csv", fit_components_frame(data["fit"]), cfg, seed)
    fit = fit_table(data["fit"], all_candidates())
    write_csv(out / "candidates.csv", fit.sort_values("rule"), cfg, seed)
    cost_of = (CostBook(out / "measured_costs.csv", repeats=cost_repeats, config=cfg, seed=seed)
               if ver["measured_cost"] else None)
    final = select(fit, BENCHMARKS, cost_of=cost_of)
    write_metrics(out / "selection.json", {"final": final, "config": cfg}, cfg, seed)
    write_calibration(out / "fit_components.csv", Rule.from_name(final["rule"]),
                      out / "calibration.json")
    if fit_only:
        return {"final": final, "lobo": {}}
    # steps 4-5: report sets
    rdata = collect_report(repo, data["nb201_split"]["report"], cache=cache, progress=progress,
                           proxy=ver["proxy"])
    comps = component_study({**{f"fit:{b}": v for b, v in data["fit"].items()},
                             **{f"report:{k}": (v["components"], v["truth"])
                                for k, v in rdata["report"].items()}})
    write_csv(out / "components.csv", comps, cfg, seed)
    lobo = lobo_table(fit, rdata["report"], BENCHMARKS, n_boot, seed, cost_of=cost_of)
    write_csv(out / "lobo.csv", lobo, cfg, seed)
    rows = report_rows(Rule.from_name(final["rule"]), rdata["report"], n_boot, seed, label="final")
    v1 = _v1_rows(rdata["report"], n_boot, seed, version)
    rep = pd.DataFrame(rows).merge(v1, on="report_set", how="left")
    write_csv(out / "report.csv", rep, cfg, seed)
    write_csv(out / "tnb101_mirror.csv",
              tnb101_mirror(n_boot, seed, Rule.from_name(final["rule"]), version), cfg, seed)
    sel = {"final": final, "lobo": {b: lobo[lobo["held_out"] == b]["rule"].iloc[0]
                                     for b in BENCHMARKS if (lobo["held_out"] == b).any()},
           "config": cfg, "nb201_report_dropped": data["nb201_split"]["dropped"],
           "nb201_scores_reuse_check": rdata["reuse_check"],
           "lgg_split": data["lgg_split"]}
    write_metrics(out / "selection.json", sel, cfg, seed)
    write_csv(out / "autoformer_file2_scores.csv",
              _scores_for_csv(rdata["autoformer_file2_long"]), cfg, seed)

    ceiling = _lgg_ceiling(repo)
    save_figure(lobo_bars(lobo, rep, ceiling, version), out / "lobo.png")
    return sel


#: The calibration family of each benchmark's fit set (see :mod:`nascore.proxies.hybrid.hybrid_v2`).
FAMILY_OF = {"nb201": "cnn", "autoformer": "vit", "hybrid_lgg": "segmentation"}


def fit_components_frame(fit: Dict[str, Any]) -> pd.DataFrame:
    """The fit sets' component tables in one frame: ``benchmark, key, truth, <components>``."""
    parts = []
    for b, (comp, truth) in fit.items():
        d = comp.copy()
        d.insert(0, "truth", truth.loc[comp.index].to_numpy(float))
        d.insert(0, "key", comp.index.astype(str))
        d.insert(0, "benchmark", b)
        parts.append(d.reset_index(drop=True))
    return pd.concat(parts, ignore_index=True)


def write_calibration(fit_components_csv: Path, rule: Rule, path: Path) -> Dict[str, Any]:
    """Per-family calibration of ``rule``'s components (quantiles of each fit set; the truth
    column is not read), written as JSON for :mod:`nascore.proxies.hybrid.hybrid_v2`."""
    from ...proxies.hybrid.rule import Calibration

    d = pd.read_csv(fit_components_csv, comment="#")
    fams = {FAMILY_OF[b]: Calibration.from_table(g[list(rule.components)], rule.components).to_dict()
            for b, g in d.groupby("benchmark")}
    out = {"rule": rule.name, "families": fams, "source": str(fit_components_csv.name),
           "family_of_benchmark": FAMILY_OF, "provenance": provenance({"rule": rule.name})}
    write_json(path, out)
    return out


def _scores_for_csv(long: pd.DataFrame) -> pd.DataFrame:
    import json

    d = long.copy()
    d["extra"] = [json.dumps(e or {}, sort_keys=True, default=float) for e in d["extra"]]
    return d


def _lgg_ceiling(repo: Path) -> float:
    return float(noise_ceiling(read_table(repo / "reports" / "benchmarks" / "hybrid_lgg.csv"),
                               n_boot=0)["kendall"])


def _v1_rows(report_sets, n_boot: int, seed: int, version: str = "v2") -> pd.DataFrame:
    """v1's τ (and, where the registered rule proxy of ``version`` was scored, its per-network
    calibrated τ in ``<version>_per_network_*``)."""
    rows = []
    for name, s in report_sets.items():
        t = s["truth"].loc[s["components"].index].to_numpy(float)
        v = s["v1"].reindex(s["components"].index).to_numpy(float)
        c = correlate(v, t, n_boot=n_boot, seed=seed, nan_policy="worst")
        row = {"report_set": name, "v1_kendall": c["kendall"], "v1_lo": c["ci95_kendall"][0],
               "v1_hi": c["ci95_kendall"][1]}
        if "per_network" in s and len(s["per_network"]):
            w = s["per_network"].reindex(s["components"].index).to_numpy(float)
            c2 = correlate(w, t, n_boot=n_boot, seed=seed, nan_policy="worst")
            row.update({f"{version}_per_network_kendall": c2["kendall"],
                        f"{version}_per_network_lo": c2["ci95_kendall"][0],
                        f"{version}_per_network_hi": c2["ci95_kendall"][1]})
        rows.append(row)
    return pd.DataFrame(rows)


def tnb101_mirror(n_boot: int = 1000, seed: int = 0, rule: Optional[Rule] = None,
                  version: str = "v2") -> pd.DataFrame:
    """TransNAS-Bench-101, where components exist: the final rule over its components that have
    a published score (NASWOT, SNIP, FLOPs, params; :func:`nascore.experiments.transnas_meta.v2_mirror`)
    beside v1's mirror and the best single published proxy, per (space, task), Kendall τ.
    Columns ``<version>_mirror_*`` (``rule``: default v2's)."""
    m = tm.transnas_meta(n_boot=n_boot, seed=seed, mirror_rule=rule)
    cols = ["space", "task", "n", "v2_mirror_kendall", "v2_mirror_ci95_kendall_lo",
            "v2_mirror_ci95_kendall_hi", "v2_mirror_columns", "v2_mirror_missing", "rule_kendall",
            "best_single_by_kendall", "best_single_kendall", "v2_mirror_minus_best_kendall"]
    out = m.reindex(columns=cols).rename(columns={"rule_kendall": "v1_mirror_kendall"})
    return out.rename(columns=lambda c: c.replace("v2_mirror", f"{version}_mirror"))


def metrics_block(src: Path) -> Dict[str, Any]:
    """The ``"hybrid_v2"`` block of notebook 02's ``metrics.json``, read from the committed
    protocol outputs in ``src``; ``{"skipped": reason}`` when they are absent."""
    import json

    src = Path(src)
    need = [src / f for f in ("selection.json", "report.csv", "lobo.csv")]
    if not all(f.is_file() for f in need):
        return {"skipped": f"no protocol outputs in {src} (python -m nascore.experiments.hybrid_protocol)"}
    sel = json.loads(need[0].read_text())
    rep = pd.read_csv(need[1], comment="#")
    lobo = pd.read_csv(need[2], comment="#")
    cols = ["report_set", "n", "kendall", "kendall_lo", "kendall_hi", "spearman", "spearman_lo",
            "spearman_hi", "v1_kendall", "v1_lo", "v1_hi", "best_single", "best_single_kendall",
            "best_single_lo", "best_single_hi", "diff_vs_best", "diff_lo", "diff_hi",
            "within_ci_of_best", "beats_best_by_005", "v2_per_network_kendall",
            "v2_per_network_lo", "v2_per_network_hi", "v3_per_network_kendall",
            "v3_per_network_lo", "v3_per_network_hi"]
    lcols = ["held_out", "selected_on", "rule", "report_set", "kendall", "kendall_lo", "kendall_hi",
             "best_single", "best_single_kendall", "diff_vs_best", "diff_lo", "diff_hi",
             "within_ci_of_best"]
    tnb = src / "tnb101_mirror.csv"
    tnb_rows = pd.read_csv(tnb, comment="#").to_dict("records") if tnb.is_file() else []
    return {"source": f"{src.name}/ (protocol output: selection.json, report.csv, lobo.csv)",
            "tnb101_mirror": tnb_rows, "version": sel["config"].get("version", "v2"),
            "measured_cost": sel["final"].get("measured_cost"),
            "over_budget": sel["final"].get("over_budget"),
            "rule": sel["final"]["rule"], "fit_taus": sel["final"]["fit_taus"],
            "selection": sel["config"]["selection"],
            "protocol_git_sha": sel.get("provenance", {}).get("git_sha"),
            "report": rep[[c for c in cols if c in rep.columns]].to_dict("records"),
            "lobo": lobo[[c for c in lcols if c in lobo.columns]].to_dict("records")}
