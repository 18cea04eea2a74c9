"""Categorical decisions shared by every search space (no torch).

A search space exposes its architectures as an ordered tuple of :class:`Decision` objects.
``space.encode(arch)`` gives one choice index per decision and ``space.decode(indices)`` gives
the architecture back. A decision can be *inactive* for an architecture (for example the
block slots beyond a stage's depth); its index is then 0 and ``decode`` ignores it.

The interface every space implements (``HybridSegSpace``, ``NB201Space``, toy spaces):

* ``decisions() -> tuple[Decision, ...]`` in a fixed order, grouped by ``Decision.group``;
* ``groups() -> tuple[str, ...]``: the group names in order (for stage-by-stage search);
* ``encode(arch) -> tuple[int, ...]`` and ``decode(indices) -> arch``;
* ``active(arch) -> tuple[bool, ...]``: which decisions the architecture uses;
* ``sample(rng)``, ``mutate(arch, rng)``, ``contains(arch)``, ``log10_size()``,
  with ``rng`` a ``numpy.random.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence, Tuple


@dataclass(frozen=True)
class Decision:
    """One categorical choice of a search space.

    Attributes:
        name: unique dotted name, e.g. ``"stage2.block1"``.
        group: the group it belongs to, e.g. ``"stage2"``; groups are contiguous.
        choices: the candidate values (hashable), index 0 being the canonical default.
    """

    name: str
    group: str
    choices: Tuple[Any, ...]

    def __post_init__(self) -> None:
        if len(self.choices) < 1:
            raise ValueError(f"decision {self.name!r} has no choices")
        if len(set(self.choices)) != len(self.choices):
            raise ValueError(f"decision {self.name!r} has duplicate choices")

    def __len__(self) -> int:
        return len(self.choices)

    def index(self, value: Any) -> int:
        """Index of ``value`` among the choices.

        Raises:
            ValueError: naming the decision when ``value`` is not a choice.
        """
        try:
            return self.choices.index(value)
        except ValueError:
            raise ValueError(f"{self.name}: {value!r} is not one of {list(self.choices)}") from None


def changed_decisions(a: Sequence[int], b: Sequence[int], active_a: Sequence[bool],
                      active_b: Sequence[bool]) -> Tuple[int, ...]:
    """Positions where two encodings differ, counting only decisions both architectures use.

    A change of a stage's depth, for example, makes a block slot active or inactive; that
    slot is not counted as a second change.
    """
    return tuple(i for i, (x, y, ua, ub) in enumerate(zip(a, b, active_a, active_b))
                 if ua and ub and x != y)
