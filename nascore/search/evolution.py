"""Regularized (aging) evolution, Real et al., AAAI 2019 ("Regularized Evolution for Image
Classifier Architecture Search", Algorithm 1)."""

from __future__ import annotations

import collections
from dataclasses import dataclass

from .base import STRATEGIES, Strategy


@STRATEGIES.register("evolution")
@dataclass
class RegularizedEvolution(Strategy):
    """Regularized evolution with tournament selection and aging.

    1. Fill a population of ``population`` random architectures (evaluated as one batch, so
       in parallel with an executor). Rejected (over-budget) and failed samples do not join.
    2. Each cycle: draw ``sample`` members uniformly without replacement, take the best as the
       parent (the oldest among ties), make ``space.mutate(parent)``, score it, append it and
       remove the *oldest* member (aging), whatever its score.

    With ``batch_size > 1`` a cycle makes that many children from the same population (each
    with its own tournament) and evaluates them together; they then join in order, each one
    ageing out the oldest. ``batch_size=1`` is Real et al.'s sequential algorithm. The
    history does not depend on the executor, only on ``batch_size``.

    A child that repeats an architecture seen before joins with its earlier score without
    using the budget. A rejected child does not join.

    **Spending the budget.** Once the population has converged, one-step mutations of its
    members keep proposing architectures already seen (or over the constraints), and the
    search would stall. So the mutation *widens*: after ``patience`` consecutive children
    that bring no new evaluation (cached or rejected), each child is ``space.mutate`` applied
    twice, then three times ... up to ``max_steps`` times, and beyond that a uniform
    ``space.sample`` (no tournament); every child that is newly evaluated narrows it again
    by one step. Until the first ``patience`` stalled children in a row the search is
    exactly Real et al.'s. It stops when the budget is spent or, in a space of known finite
    size, when every architecture has been evaluated or rejected (``stop_reason`` ``"space
    exhausted"``). ``history.info`` records the children made at each width
    (``{"children": {"1": ..., "2": ..., "random": ...}, "widenings": ...,
    "first_widening_at": evaluations done at the first widening, or None}``).

    Attributes:
        population: population size P.
        sample: tournament size S.
        batch_size: children per cycle.
        patience: stalled children in a row before the mutation widens one step.
        max_steps: the widest mutation (steps) before children become random samples.
    """

    population: int = 50
    sample: int = 10
    batch_size: int = 1
    patience: int = 20
    max_steps: int = 3
    name = "evolution"

    def search(self, space, ev, rng) -> None:
        if not (1 <= self.sample <= self.population):
            raise ValueError(f"evolution: need 1 <= sample <= population, got "
                             f"{self.sample}, {self.population}")
        if self.batch_size < 1:
            raise ValueError(f"evolution.batch_size must be >= 1, got {self.batch_size}")
        if self.patience < 1 or self.max_steps < 1:
            raise ValueError(f"evolution: need patience >= 1 and max_steps >= 1, got "
                             f"{self.patience}, {self.max_steps}")
        pop = collections.deque()  # (arch, score), oldest first
        while len(pop) < self.population and not ev.done:
            for o in ev.evaluate([space.sample(rng) for _ in range(self.population - len(pop))]):
                if o.status in ("ok", "failed"):  # new architectures only in the initial fill
                    pop.append((o.arch, o.score))
        if not pop:
            return
        level, stall = 0, 0  # level k < max_steps: k + 1 mutation steps; max_steps: random
        counts: collections.Counter = collections.Counter()
        widenings, first = 0, None
        while not ev.done:
            children = []
            for _ in range(self.batch_size):
                if level >= self.max_steps:
                    children.append(space.sample(rng))
                    counts["random"] += 1
                    continue
                idx = rng.choice(len(pop), size=min(self.sample, len(pop)), replace=False)
                parent = max(sorted(int(i) for i in idx), key=lambda i: pop[i][1])
                child = pop[parent][0]
                for _ in range(level + 1):
                    child = space.mutate(child, rng)
                children.append(child)
                counts[str(level + 1)] += 1
            for o in ev.evaluate(children):
                if o.scored:
                    pop.append((o.arch, o.score))
                    if len(pop) > self.population:
                        pop.popleft()
                if o.status in ("ok", "failed"):  # a new evaluation: narrow again
                    stall, level = 0, max(0, level - 1)
                elif o.status in ("cached", "rejected"):
                    stall += 1
                    if stall >= self.patience and level < self.max_steps:
                        stall, level = 0, level + 1
                        widenings += 1
                        if first is None:
                            first = len(ev.history.records)
            ev.history.info = {"children": dict(sorted(counts.items())), "widenings": widenings,
                               "first_widening_at": first}
