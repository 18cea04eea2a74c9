"""Random search: uniform samples from the space, in batches."""

from __future__ import annotations

from dataclasses import dataclass

from .base import STRATEGIES, Strategy


@STRATEGIES.register("random")
@dataclass
class RandomSearch(Strategy):
    """Samples ``space.sample(rng)`` until the budget is spent.

    Repeats of seen architectures cost nothing (they are answered from the history), so on a
    small space random search enumerates it.

    Attributes:
        batch_size: candidates proposed (and evaluated in parallel) per round.
    """

    batch_size: int = 16
    name = "random"

    def search(self, space, ev, rng) -> None:
        if self.batch_size < 1:
            raise ValueError(f"random.batch_size must be >= 1, got {self.batch_size}")
        while not ev.done:
            ev.evaluate([space.sample(rng) for _ in range(self.batch_size)])
