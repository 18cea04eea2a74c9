"""Hard budgets on cost (parameters, FLOPs, latency), checked before a candidate is scored.

A cost function maps an architecture to a dict of costs, e.g. ``{"params": 1.2, "flops": 80.0,
"raspi4_latency": 12.3}``; :class:`Constraints` says which keys are bounded and by how much.
Units are whatever the cost function returns (NB201 tables: params in M, FLOPs in M, latency
in ms; :func:`nascore.cost.count_params` etc.: raw counts).

Example:
    >>> c = Constraints(max_params=1.0, max_latency=20.0, latency_key="raspi4_latency")
    >>> c.check({"params": 0.5, "raspi4_latency": 25.0})
    'raspi4_latency=25 > 20'
    >>> c.check({"params": 0.5, "raspi4_latency": 15.0}) is None
    True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Dict, Mapping, Optional, Tuple


@dataclass(frozen=True)
class Constraints:
    """Upper bounds on costs; None means unbounded.

    Attributes:
        max_params: bound on ``cost[params_key]``.
        max_flops: bound on ``cost[flops_key]``.
        max_latency: bound on ``cost[latency_key]``.
        params_key, flops_key, latency_key: the cost keys (e.g. ``"raspi4_latency"`` for a
            HW-NAS-Bench device).
    """

    max_params: Optional[float] = None
    max_flops: Optional[float] = None
    max_latency: Optional[float] = None
    params_key: str = "params"
    flops_key: str = "flops"
    latency_key: str = "latency"

    def bounds(self) -> Tuple[Tuple[str, float], ...]:
        """The active ``(cost key, bound)`` pairs."""
        out = []
        for key, bound in ((self.params_key, self.max_params), (self.flops_key, self.max_flops),
                           (self.latency_key, self.max_latency)):
            if bound is not None:
                out.append((key, float(bound)))
        return tuple(out)

    @property
    def active(self) -> bool:
        return bool(self.bounds())

    def check(self, cost: Mapping[str, Any]) -> Optional[str]:
        """None when ``cost`` is within every bound, else the reason (e.g. ``"flops=90 > 80"``).

        A NaN cost counts as a violation.

        Raises:
            KeyError: naming the cost key a bound needs when the cost function did not give it.
        """
        reasons = []
        for key, bound in self.bounds():
            if key not in cost:
                raise KeyError(f"constraint on {key!r} but the cost function returned only "
                               f"{sorted(cost)}")
            v = float(cost[key])
            if not math.isfinite(v) or v > bound:
                reasons.append(f"{key}={v:g} > {bound:g}")
        return "; ".join(reasons) or None

    def feasible(self, cost: Mapping[str, Any]) -> bool:
        return self.check(cost) is None

    def to_config(self) -> Dict[str, Any]:
        return asdict(self)
