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

    Attributes:
        population: population size P.
        sample: tournament size S.
        batch_size: children per cycle.
    """

    population: int = 50
    sample: int = 10
    batch_size: int = 1
    name = "evolution"

    def search(self, space, ev, rng) -> None:
        if not (1 <= self.sample <= self.population):
            raise ValueError(f"evolution: need 1 <= sample <= population, got "
                             f"{self.sample}, {self.population}")
        if self.batch_size < 1:
            raise ValueError(f"evolution.batch_size must be >= 1, got {self.batch_size}")
        pop = collections.deque()  # (arch, score), oldest first
        while len(pop) < self.population and not ev.done:
            for o in ev.evaluate([space.sample(rng) for _ in range(self.population - len(pop))]):
                if o.status in ("ok", "failed"):  # new architectures only in the initial fill
                    pop.append((o.arch, o.score))
        if not pop:
            return
        while not ev.done:
            children = []
            for _ in range(self.batch_size):
                idx = rng.choice(len(pop), size=min(self.sample, len(pop)), replace=False)
                parent = max(sorted(int(i) for i in idx), key=lambda i: pop[i][1])
                children.append(space.mutate(pop[parent][0], rng))
            for o in ev.evaluate(children):
                if o.scored:
                    pop.append((o.arch, o.score))
                    if len(pop) > self.population:
                        pop.popleft()
