"""The protocol that chooses the ``hybrid`` rule on fit sets only (v2; v3 adds the measured
cost check below), and the leave-one-benchmark-out (LOBO) table.

Written and committed before any report number was looked at; the selection reads only the
fit tables (:mod:`.sets`):

1. **Candidates**: every :class:`~nascore.proxies.hybrid.rule.Rule` of 1 to 4 components of the
   pool under each normalisation, within the 2-pass cost budget
   (:func:`~nascore.proxies.hybrid.rule.candidates`). No weight is fitted.
2. **Fit score** of a candidate on a fit set: Kendall τ between its value (normalised within
   that fit set) and the truth.
3. **Selection** over a set of fit benchmarks (:data:`SELECTION`): the largest mean τ over the
   benchmarks (each weighs the same), among candidates with τ > 0 on every one of them; ties go
   to the lower declared cost, then to fewer components, then to the name.
4. **LOBO**: for every benchmark B, the rule selected on the fit sets of the *other* benchmarks
   is scored on B's report sets, beside every single proxy scored there; "within CI of the
   best" means the 95% paired-bootstrap CI of τ(rule) − τ(best single) reaches 0.
5. **Final rule**: the rule selected on all fit sets, then scored on every report set.

**v3 (the measured cost check).** v2's chosen rule was declared at exactly the 2-pass budget and
measured 2.0-2.8x one forward+backward, over the issue's limit. v3 changes only step 3: the
candidates are visited in the same order and the first whose *measured* cost is within the
budget is chosen (:data:`SELECTION_V3`, :mod:`.cost`), for the final rule and for every LOBO
rule. Written after v2's report numbers had been read (so, unlike v2, not before any report
number was looked at); it still reads only the fit sets and the cost nets, and whatever rule it
selects is the one reported, whichever way its report numbers fall.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from ...corr import correlate
from ...proxies.hybrid.rule import COST_BUDGET, Rule, candidates, population_values

SELECTION = ("max mean Kendall tau over the fit benchmarks (equal weight each), among rules with "
             "tau > 0 on every fit benchmark; ties: lower declared cost, fewer components, name")

#: v3: the same order, and the chosen rule is the first whose measured cost is within the budget.
SELECTION_V3 = SELECTION + ("; then, in that order, the first rule whose measured cost (largest "
                            "ratio to one forward+backward over the cost nets) is within the budget")


def _worst(s: np.ndarray) -> np.ndarray:
    """Non-finite scores (failed proxies) rank below every finite one (notebook 02's
    ``nan_policy="worst"``), as the rules' own failures do."""
    s = np.asarray(s, float)
    fin = np.isfinite(s)
    if fin.all() or not fin.any():
        return s
    return np.where(fin, s, s[fin].min() - 1.0)


def _tau(s: np.ndarray, t: np.ndarray) -> float:
    s = _worst(s)
    ok = np.isfinite(s) & np.isfinite(t)
    if ok.sum() < 3:
        return float("nan")
    v = kendalltau(s[ok], t[ok]).statistic
    return float(v) if np.isfinite(v) else float("nan")


def rule_values(comp: pd.DataFrame, rule: Rule) -> np.ndarray:
    """The rule's values over the population ``comp`` (normalised within it)."""
    return population_values(comp, rule)


def fit_table(fit_sets: Mapping[str, Tuple[pd.DataFrame, pd.Series]],
              rules: Sequence[Rule]) -> pd.DataFrame:
    """Kendall τ of every candidate on every fit set.

    Args:
        fit_sets: ``{benchmark: (components, truth)}`` aligned by index.

    Returns:
        One row per rule: ``rule``, ``norm``, ``n_components``, ``cost``, ``uses_data`` and a
        ``tau_<benchmark>`` column per fit set.
    """
    rows = []
    for r in rules:
        row = {"rule": r.name, "norm": r.norm, "n_components": len(r.components),
               "cost": round(r.cost, 4), "uses_data": r.uses_data}
        for b, (comp, truth) in fit_sets.items():
            row[f"tau_{b}"] = _tau(rule_values(comp, r), truth.loc[comp.index].to_numpy(float))
        rows.append(row)
    return pd.DataFrame(rows)


def select(table: pd.DataFrame, benchmarks: Sequence[str],
           cost_of: Optional[Callable[[str], float]] = None,
           budget: float = COST_BUDGET) -> Dict[str, Any]:
    """The rule chosen by :data:`SELECTION` over ``benchmarks`` (their ``tau_<b>`` columns).

    Args:
        cost_of: the measured cost check (v3, :data:`SELECTION_V3`): ``rule name -> measured
            cost`` (e.g. :class:`~.cost.CostBook`). Candidates are visited in selection order
            and the first whose measured cost is within ``budget`` is chosen; the ones passed
            over are listed in ``over_budget`` with their cost. ``None``: the declared cost
            only (v2).

    Raises:
        ValueError: when no candidate has τ > 0 on every benchmark, or (with ``cost_of``)
            none of those is within the budget.
    """
    if not benchmarks:
        raise ValueError("select: no fit benchmark given")
    cols = [f"tau_{b}" for b in benchmarks]
    t = table.copy()
    t["fit_mean_tau"] = t[cols].mean(axis=1)
    ok = t[(t[cols] > 0).all(axis=1)]
    if ok.empty:
        raise ValueError(f"no candidate rule has tau > 0 on every fit benchmark of {list(benchmarks)}")
    order = ok.sort_values(["fit_mean_tau", "cost", "n_components", "rule"],
                           ascending=[False, True, True, True])
    over: List[Dict[str, Any]] = []
    best = order.iloc[0]
    if cost_of is not None:
        for _, row in order.iterrows():
            c = float(cost_of(row["rule"]))
            if c <= budget:
                best = row
                break
            over.append({"rule": row["rule"], "measured_cost": c,
                         "fit_mean_tau": float(row["fit_mean_tau"])})
        else:
            raise ValueError(f"no eligible candidate is within the measured cost budget {budget}")
    out = {"rule": best["rule"], "fit_mean_tau": float(best["fit_mean_tau"]),
           "fit_taus": {b: float(best[f"tau_{b}"]) for b in benchmarks},
           "benchmarks": list(benchmarks), "n_candidates": int(len(table)),
           "n_eligible": int(len(ok))}
    if cost_of is not None:
        out.update(measured_cost=float(cost_of(best["rule"])), over_budget=over)
    return out


def paired_diff_ci(a: np.ndarray, b: np.ndarray, t: np.ndarray, n_boot: int = 1000,
                   seed: int = 0) -> Tuple[float, float, float]:
    """τ(a, t) − τ(b, t) and its 95% paired percentile-bootstrap CI (rows resampled)."""
    a, b = _worst(a), _worst(b)
    ok = np.isfinite(a) & np.isfinite(b) & np.isfinite(t)
    a, b, t = a[ok], b[ok], t[ok]
    if len(t) < 3:
        return float("nan"), float("nan"), float("nan")
    d = _tau(a, t) - _tau(b, t)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        i = rng.integers(0, len(t), len(t))
        boots.append(_tau(a[i], t[i]) - _tau(b[i], t[i]))
    lo, hi = np.nanpercentile(boots, [2.5, 97.5])
    return float(d), float(lo), float(hi)


def report_rows(rule: Rule, report_sets: Mapping[str, Mapping[str, Any]], n_boot: int = 1000,
                seed: int = 0, label: str = "") -> List[Dict[str, Any]]:
    """The rule against every single proxy on each report set. Failed single-proxy scores rank
    worst (as the rule's failed components do); a single proxy is a candidate for "best" only
    where it was scored on at least 90% of the set's networks.

    Args:
        report_sets: ``{name: {"components": DataFrame, "truth": Series, "singles": DataFrame
            (one column per proxy, oriented higher-is-better, NaN = failed), "benchmark": str}}``.

    Returns:
        One row per report set: the rule's τ with CI, the best single proxy (by τ on that set)
        with its τ and CI, the paired difference with CI, and ``within_ci_of_best``.
    """
    rows = []
    for name, s in report_sets.items():
        comp, truth = s["components"], s["truth"]
        t = truth.loc[comp.index].to_numpy(float)
        v = rule_values(comp, rule)
        c = correlate(v, t, n_boot=n_boot, seed=seed, nan_policy="worst")
        singles = s["singles"].reindex(comp.index)
        taus = {p: _tau(singles[p].to_numpy(float), t) for p in singles.columns}
        taus = {p: x for p, x in taus.items() if np.isfinite(x) and
                singles[p].notna().sum() >= 0.9 * len(t)}
        best = max(taus, key=taus.get) if taus else None
        row = {"label": label, "report_set": name, "benchmark": s["benchmark"], "rule": rule.name,
               "n": int(np.isfinite(t).sum()), "kendall": c["kendall"],
               "kendall_lo": c["ci95_kendall"][0], "kendall_hi": c["ci95_kendall"][1],
               "spearman": c["spearman"], "spearman_lo": c["ci95_spearman"][0],
               "spearman_hi": c["ci95_spearman"][1], "best_single": best,
               "best_single_kendall": taus.get(best, float("nan")),
               "n_singles": len(taus)}
        if best is not None:
            cb = correlate(singles[best].to_numpy(float), t, n_boot=n_boot, seed=seed,
                           nan_policy="worst")
            row["best_single_lo"], row["best_single_hi"] = cb["ci95_kendall"]
            d, lo, hi = paired_diff_ci(v, singles[best].to_numpy(float), t, n_boot, seed)
            row.update(diff_vs_best=d, diff_lo=lo, diff_hi=hi, within_ci_of_best=bool(hi >= 0),
                       beats_best_by_005=bool(d >= 0.05))
        rows.append(row)
    return rows


def lobo_table(fit: pd.DataFrame, report_sets: Mapping[str, Mapping[str, Any]],
               benchmarks: Sequence[str], n_boot: int = 1000, seed: int = 0,
               cost_of: Optional[Callable[[str], float]] = None) -> pd.DataFrame:
    """For each benchmark B: the rule selected without B (by :func:`select`, with ``cost_of``),
    scored on B's report sets."""
    rows = []
    for b in benchmarks:
        others = [o for o in benchmarks if o != b]
        sel = select(fit, others, cost_of=cost_of)
        mine = {k: v for k, v in report_sets.items() if v["benchmark"] == b}
        for r in report_rows(Rule.from_name(sel["rule"]), mine, n_boot, seed, label=f"without {b}"):
            r["held_out"] = b
            r["selected_on"] = "+".join(others)
            r["fit_mean_tau"] = sel["fit_mean_tau"]
            rows.append(r)
    return pd.DataFrame(rows)


def component_study(sets: Mapping[str, Tuple[pd.DataFrame, pd.Series]]) -> pd.DataFrame:
    """Why a combination wins or loses: per set and component, Kendall τ with the truth,
    Spearman ρ with size (``log_params``) and the share of finite values."""
    from scipy.stats import spearmanr

    rows = []
    for name, (comp, truth) in sets.items():
        t = truth.loc[comp.index].to_numpy(float)
        size = comp["log_params"].to_numpy(float) if "log_params" in comp else None
        for c in comp.columns:
            v = comp[c].to_numpy(float)
            ok = np.isfinite(v) & np.isfinite(t)
            rho_size = float("nan")
            if size is not None:
                m = ok & np.isfinite(size)
                if m.sum() >= 3:
                    rho_size = float(spearmanr(v[m], size[m]).statistic)
            rows.append({"set": name, "component": c, "kendall": _tau(v, t),
                         "spearman_with_log_params": rho_size, "finite_share": float(ok.mean()),
                         "n": int(len(v))})
    return pd.DataFrame(rows)


def all_candidates() -> List[Rule]:
    """The declared candidate list (step 1)."""
    return candidates()
