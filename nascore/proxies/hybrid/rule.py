"""Rules that combine proxy components into one score: the candidates of ``hybrid`` v2.

Torch-free. A :class:`Rule` is a set of components (named in :data:`POOL`) and a normalisation;
its value is the **equal-weight** mean of the normalised components, so a rule has no fitted
weight. Normalisations (no labels are used by either):

* ``"z"``: robust z-score, ``(c − median) / (IQR / 1.349)``, floored at −5 (a non-finite
  component, e.g. a cell with no input→output path, counts as −5);
* ``"rank"``: the component's percentile rank in ``(0, 1]`` (ties averaged; a non-finite
  component gets 0, below every finite one).

The median, IQR and percentiles come from a *reference population* of unlabelled networks: the
population being scored (notebook 02, :func:`population_values`) or a stored calibration sample
of the same space (a search, :class:`Calibration`). Nothing in a rule is fitted on accuracy;
which rule is used is chosen by the protocol in :mod:`nascore.experiments.hybrid_protocol` on
declared fit sets only.

Component directions are fixed a priori (every one is "higher is better", as its source proxy
is registered). Costs are declared a priori in forward+backward-pass equivalents of the scored
network (:data:`COST`, grouped by the pass that produces them), so rules over the 2-pass budget
are never candidates.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

#: Component -> (source proxy, key in its ``extra`` or ``"value"``, transform, pass group).
#: ``hybrid_v1`` is v1 of the ``hybrid`` proxy (files written before v2 call it ``hybrid``).
#: ``log`` takes log of a positive value (non-positive -> −inf). Groups share one pass.
POOL: Dict[str, Tuple[str, str, str, str]] = {
    "log_expressivity": ("hybrid_v1", "log_expressivity", "id", "noise_forward"),
    "progressivity": ("hybrid_v1", "progressivity", "id", "noise_forward"),
    "trainability": ("hybrid_v1", "trainability", "id", "noise_backward"),
    "naswot_noise": ("hybrid_v1", "naswot", "id", "noise_forward"),
    "log_dss": ("hybrid_v1", "log_dss", "id", "linearised"),
    "log_params": ("hybrid_v1", "log_params", "id", "noise_forward"),
    "log_flops": ("hybrid_v1", "log_flops", "id", "noise_forward"),
    # task-data components: they read a real batch (images and labels/masks)
    "log_snip": ("snip", "value", "log", "data_grad"),
    "log_grad_norm": ("grad_norm", "value", "log", "data_grad"),
    "naswot_data": ("naswot", "value", "id", "data_forward"),
    "jacob_cov": ("jacob_cov", "value", "id", "data_input_grad"),
}

#: Declared cost of each pass group, in forward+backward equivalents of the scored network
#: (a forward is taken as 1/3 and a backward as 2/3 of one forward+backward; the linearised
#: DSS pass runs at batch 1, hence cheap).
COST: Dict[str, float] = {"noise_forward": 1 / 3, "noise_backward": 2 / 3, "linearised": 0.2,
                          "data_forward": 1 / 3, "data_grad": 1.0, "data_input_grad": 1.0}

#: The cost budget of a rule (the issue: at most 2 forward + backward passes).
COST_BUDGET = 2.0

NORMS = ("z", "rank")

#: Floor of a robust z-score; also the value of a non-finite component.
Z_FLOOR = -5.0


@dataclass(frozen=True)
class Rule:
    """An equal-weight combination of :data:`POOL` components under one normalisation."""

    components: Tuple[str, ...]
    norm: str = "z"

    def __post_init__(self):
        bad = [c for c in self.components if c not in POOL]
        if bad or not self.components:
            raise ValueError(f"Rule: unknown or no components {bad or self.components}; "
                             f"known: {sorted(POOL)}")
        if self.norm not in NORMS:
            raise ValueError(f"Rule: norm must be one of {NORMS}, got {self.norm!r}")

    @property
    def name(self) -> str:
        return f"{self.norm}:" + "+".join(self.components)

    @property
    def cost(self) -> float:
        """Declared cost (forward+backward equivalents); the trainability backward needs the
        noise forward too."""
        groups = {POOL[c][3] for c in self.components}
        if "noise_backward" in groups:
            groups.add("noise_forward")
        return float(sum(COST[g] for g in groups))

    @property
    def sources(self) -> Tuple[str, ...]:
        """The proxies whose outputs this rule reads."""
        return tuple(sorted({POOL[c][0] for c in self.components}))

    @property
    def uses_data(self) -> bool:
        return any(POOL[c][3].startswith("data_") for c in self.components)

    @classmethod
    def from_name(cls, name: str) -> "Rule":
        """Inverse of :attr:`name` (``"z:log_expressivity+log_dss"``)."""
        norm, _, comps = name.partition(":")
        return cls(tuple(comps.split("+")), norm)


def candidates(pool: Sequence[str] = tuple(POOL), max_size: int = 4,
               norms: Sequence[str] = NORMS, budget: float = COST_BUDGET) -> List[Rule]:
    """Every rule of 1..``max_size`` components of ``pool`` under each norm, within ``budget``."""
    out = []
    for k in range(1, max_size + 1):
        for comb in itertools.combinations(pool, k):
            for n in norms:
                r = Rule(tuple(comb), n)
                if r.cost <= budget + 1e-9:
                    out.append(r)
    return out


def _transform(v: float, how: str) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return float("nan")
    if math.isnan(v):
        return float("nan")
    if how == "log":
        return math.log(v) if v > 0 else float("-inf")
    return float(v)


def component_row(outputs: Mapping[str, Mapping[str, float]]) -> Dict[str, float]:
    """The :data:`POOL` components of one network from its proxies' outputs.

    Args:
        outputs: ``{proxy: {"value": v, **extra}}`` (missing proxies give NaN components).
    """
    row = {}
    for c, (src, key, how, _) in POOL.items():
        o = outputs.get(src) or {}
        row[c] = _transform(o.get(key, float("nan")), how)
    return row


def _robust_center_scale(v: np.ndarray) -> Tuple[float, float]:
    f = v[np.isfinite(v)]
    if len(f) < 2:
        return float("nan"), float("nan")
    q1, med, q3 = np.percentile(f, [25, 50, 75])
    s = (q3 - q1) / 1.349
    if not s > 0:
        s = float(np.std(f)) or 1.0
    return float(med), float(s)


def _z(v: np.ndarray, center: float, scale: float) -> np.ndarray:
    z = (v - center) / scale
    return np.where(np.isfinite(z), np.maximum(z, Z_FLOOR), Z_FLOOR)


def _pct(v: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Percentile of each ``v`` among the finite ``ref`` (mid-rank for ties), in [1/n, 1];
    a non-finite ``v`` (NaN, ±inf: a failed or degenerate component) gets 0, below every finite
    value."""
    f = np.sort(ref[np.isfinite(ref)])
    if len(f) == 0:
        return np.full(len(v), np.nan)
    lo = np.searchsorted(f, v, side="left")
    hi = np.searchsorted(f, v, side="right")
    p = (lo + hi + 1) / (2.0 * len(f))
    return np.where(np.isfinite(v), np.clip(p, 0.0, 1.0), 0.0)


#: Beyond the calibration range a percentile moves into a band of this width (strictly
#: monotone, so no ties, yet it cannot dominate the mean); a non-finite component gets
#: ``-2 * TAIL``, below every finite value.
TAIL = 0.01


def _interp_pct(v: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Percentile of ``v`` against stored quantiles ``q`` (0..100 %): linear interpolation inside
    the calibration range, a bounded strictly monotone tail outside it (within :data:`TAIL` of
    0 or 1), and ``-2 * TAIL`` for a non-finite ``v``. This keeps the population convention of
    :func:`_pct` (the worst finite value ranks near 0, a failure just below it), so the
    per-network value orders networks as the selected rule does, while networks outside the
    calibration range (another resolution or batch size) stay ordered instead of tying."""
    if len(q) == 0:
        return np.full(len(v), np.nan)
    p = np.linspace(0.0, 1.0, len(q))
    span = float(q[-1] - q[0]) or 1.0
    fin = np.isfinite(v)
    w = np.where(fin, v, q[0])
    out = np.interp(w, q, p)
    above = np.clip((w - q[-1]) / span, 0.0, None)
    below = np.clip((q[0] - w) / span, 0.0, None)
    out = out + TAIL * (1.0 - np.exp(-above)) - TAIL * (1.0 - np.exp(-below))
    return np.where(fin, out, -2.0 * TAIL)


def population_values(table, rule: Rule):
    """The rule's value for every row of ``table`` (one row per network, :data:`POOL` columns),
    normalising each component within ``table`` itself. Returns a float array (higher is
    better). Raises KeyError naming a missing component column."""
    cols = []
    for c in rule.components:
        if c not in table:
            raise KeyError(f"component {c!r} not in the table (have {list(table.columns)})")
        v = np.asarray(table[c], dtype=float)
        if rule.norm == "z":
            cols.append(_z(v, *_robust_center_scale(v)))
        else:
            cols.append(_pct(v, v))
    return np.mean(np.vstack(cols), axis=0)


@dataclass
class Calibration:
    """Per-component reference statistics of an unlabelled population (no accuracies).

    Attributes:
        stats: ``{component: {"center", "scale", "quantiles" (101 values, 0..100 %)}}``.
        n: population size.
    """

    stats: Dict[str, Dict[str, object]]
    n: int

    @classmethod
    def from_table(cls, table, components: Optional[Iterable[str]] = None) -> "Calibration":
        comps = list(components) if components is not None else [c for c in POOL if c in table]
        stats = {}
        for c in comps:
            if c not in table:
                raise KeyError(f"component {c!r} not in the table (have {list(table.columns)})")
            v = np.asarray(table[c], dtype=float)
            center, scale = _robust_center_scale(v)
            f = v[np.isfinite(v)]
            q = np.percentile(f, np.arange(101)).tolist() if len(f) else []
            stats[c] = {"center": center, "scale": scale, "quantiles": q, "n_finite": int(len(f))}
        return cls(stats, int(len(table)))

    def values(self, table, rule: Rule) -> np.ndarray:
        """Rule values of the rows of ``table`` against this calibration."""
        cols = []
        for c in rule.components:
            if c not in self.stats:
                raise KeyError(f"calibration has no component {c!r}")
            v = np.asarray(table[c], dtype=float)
            st = self.stats[c]
            if rule.norm == "z":
                cols.append(_z(v, st["center"], st["scale"]))
            else:
                cols.append(_interp_pct(v, np.asarray(st["quantiles"], float)))
        return np.mean(np.vstack(cols), axis=0)

    def value(self, comp: Mapping[str, float], rule: Rule) -> float:
        """The rule's value of one network (``comp``: :func:`component_row`)."""
        import pandas as pd

        return float(self.values(pd.DataFrame([dict(comp)]), rule)[0])

    def to_dict(self) -> dict:
        return {"n": self.n, "stats": self.stats}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Calibration":
        return cls(dict(d["stats"]), int(d["n"]))
