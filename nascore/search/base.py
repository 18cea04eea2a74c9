"""The strategy interface and registry.

A strategy is a class registered in :data:`STRATEGIES`; its constructor takes its settings and
:meth:`Strategy.run` searches a space::

    strategy = STRATEGIES.get("evolution")(population=50, sample=10)
    history = strategy.run(space, objective, budget=1000, rng=np.random.default_rng(0))
    best = history.best()            # EvalRecord: arch_id, arch_json, scores, cost, ...

Strategies use only the search-space protocol of :mod:`nascore.decisions` and draw every random
number from ``rng``, so the same seed gives the same history (wall times aside), with or
without an executor, and a killed run can be resumed from its log (see
:mod:`nascore.search.executor`).
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, Callable, Dict, Optional

import numpy as np

from ..registry import Registry
from .constraints import Constraints
from .executor import Evaluator, space_config
from .history import SearchHistory

#: name -> Strategy subclass.
STRATEGIES: Registry = Registry("search strategy")


@dataclass
class Strategy:
    """Base class: subclasses are dataclasses of their settings and implement :meth:`search`."""

    name = "base"

    def config(self) -> Dict[str, Any]:
        """The settings (JSON-able), recorded in the history's meta."""
        return asdict(self) if fields(self) else {}

    def run(self, space: Any, objective: Callable, budget: int, rng: np.random.Generator,
            executor=None, *, constraints: Optional[Constraints] = None,
            cost_fn: Optional[Callable] = None, history_path=None,
            max_proposals: Optional[int] = None, progress: bool = False) -> SearchHistory:
        """Searches ``space`` for the architecture maximising ``objective``'s ``"score"``.

        Args:
            space: a :class:`nascore.decisions.SearchSpace`.
            objective: ``arch -> float | dict`` (with ``"score"``; higher is better). Failures
                (exceptions, non-finite scores) are recorded, never raised.
            budget: number of objective evaluations (distinct architectures scored); rejected
                candidates and repeats of seen architectures are not counted.
            rng: ``numpy.random.Generator``; pass one in the same state to resume.
            executor: optional :class:`concurrent.futures.Executor` for batch evaluation.
            constraints: hard cost bounds checked before scoring (needs ``cost_fn``).
            cost_fn: ``arch -> dict`` of costs (recorded with each evaluation).
            history_path: JSONL log; an existing log with the same strategy, settings, seed
                state, space and constraints is resumed.
            max_proposals: cap on proposed candidates (default ``max(1000, 50 * budget)``), a
                last guard: evolution and REINFORCE widen their proposals when they stall,
                and a finite space that runs out stops the search (``"space exhausted"``).
            progress: tqdm bar.

        Returns:
            The :class:`SearchHistory`; ``history.summary()`` says what was spent
            (evaluations against the budget, proposals, cache hits, rejections, stop reason).
        """
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        meta = {"strategy": self.name, "config": self.config(),
                "rng_state": rng.bit_generator.state, "space": space_config(space),
                "constraints": constraints.to_config() if constraints is not None else None,
                "budget": int(budget)}
        defaults = {f.name: f.default for f in fields(self) if f.default is not MISSING}
        ev = Evaluator(space, objective, budget, executor=executor, constraints=constraints,
                       cost_fn=cost_fn, history_path=history_path, meta=meta,
                       max_proposals=max_proposals, progress=progress,
                       config_defaults=defaults)
        try:
            if not ev.done:
                self.search(space, ev, rng)
            if not ev.history.stop_reason:
                ev.history.stop_reason = "budget" if ev.remaining == 0 else "strategy"
        finally:
            ev.close()
        ev.history.n_objective_calls = ev.n_objective_calls
        return ev.history

    def search(self, space: Any, ev: Evaluator, rng: np.random.Generator) -> None:
        """Proposes candidates to ``ev`` until ``ev.done`` (or the strategy is finished)."""
        raise NotImplementedError
