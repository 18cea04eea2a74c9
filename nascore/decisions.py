"""Categorical decisions and the search-space protocol shared by every space (no torch).

A search space exposes its architectures as an ordered tuple of :class:`Decision` objects.
``space.encode(arch)`` gives one choice index per decision and ``space.decode(indices)`` gives
the architecture back. A decision can be *inactive* for an architecture (for example the
block slots beyond a stage's depth); its index is then 0 and ``decode`` ignores it.

A space subclasses :class:`SearchSpace` and implements four methods:

* ``decisions() -> tuple[Decision, ...]`` in a fixed order, grouped by ``Decision.group``;
* ``encode(arch) -> tuple[int, ...]`` (ValueError for an architecture not of the space);
* ``decode(indices) -> arch`` (ValueError for a wrong length or an index out of range);
* ``active(arch) -> tuple[bool, ...]``: which decisions the architecture uses.

:class:`SearchSpace` derives, once for every space, ``groups()``, ``sample(rng)``,
``mutate(arch, rng)``, ``changed(a, b)``, ``contains(arch)`` and ``log10_size()``, with
``rng`` a ``numpy.random.Generator``; a space whose decisions are conditional (inactive for
some architectures) overrides ``log10_size``. Search strategies (:mod:`nascore.search`) use
only this interface. Spaces: :class:`nascore.space.HybridSegSpace`,
:class:`nascore.bench.nb201_space.NB201Space`, :class:`nascore.search.toy.ToySpace`.
"""

from __future__ import annotations

import math
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


class SearchSpace:
    """Base class of search spaces: subclasses implement ``decisions``, ``encode``, ``decode``
    and ``active`` (see the module docstring); the rest is derived here.

    Example:
        >>> import numpy as np
        >>> class Bits(SearchSpace):
        ...     def decisions(self):
        ...         return tuple(Decision(f"b{i}", "bits", (0, 1)) for i in range(3))
        ...     def encode(self, arch):
        ...         return tuple(arch)
        ...     def decode(self, indices):
        ...         return tuple(int(i) for i in indices)
        ...     def active(self, arch):
        ...         return (True,) * 3
        >>> Bits().sample(np.random.default_rng(0)), round(10 ** Bits().log10_size())
        ((1, 1, 1), 8)
    """

    def decisions(self) -> Tuple[Decision, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode(self, arch: Any) -> Tuple[int, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, indices: Sequence[int]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def active(self, arch: Any) -> Tuple[bool, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    # --- derived ---------------------------------------------------------------------------
    def groups(self) -> Tuple[str, ...]:
        """Decision groups in order of first appearance (for stage-by-stage search)."""
        return tuple(dict.fromkeys(d.group for d in self.decisions()))

    def sample(self, rng) -> Any:
        """A uniformly random choice per decision (inactive ones too, in decision order), so
        the same ``rng`` state gives the same architecture."""
        return self.decode([int(rng.integers(len(d))) for d in self.decisions()])

    def mutate(self, arch: Any, rng) -> Any:
        """Changes exactly one active decision (with more than one choice) to another of its
        choices, uniformly: first the decision, then the new choice.

        Decisions that the change makes active (a new block slot when a depth grows) keep
        their canonical index 0, as ``encode`` gives inactive decisions; see
        :func:`changed_decisions`.

        Raises:
            ValueError: when no active decision has a second choice.
        """
        ds = self.decisions()
        enc = list(self.encode(arch))
        cands = [i for i, (d, a) in enumerate(zip(ds, self.active(arch))) if a and len(d) > 1]
        if not cands:
            raise ValueError(f"mutate: no active decision of {type(self).__name__} has a "
                             "second choice")
        i = cands[int(rng.integers(len(cands)))]
        new = int(rng.integers(len(ds[i]) - 1))
        enc[i] = new + (new >= enc[i])
        return self.decode(enc)

    def changed(self, a: Any, b: Any) -> Tuple[str, ...]:
        """Names of the decisions, used by both architectures, on which they differ."""
        ds = self.decisions()
        return tuple(ds[i].name for i in changed_decisions(self.encode(a), self.encode(b),
                                                             self.active(a), self.active(b)))

    def contains(self, arch: Any) -> bool:
        """Whether ``arch`` is a point of this space: it encodes, and decodes back to itself."""
        try:
            return bool(self.decode(self.encode(arch)) == arch)
        except (ValueError, TypeError, AttributeError, KeyError, IndexError):
            return False

    def log10_size(self) -> float:
        """log10 of the number of distinct architectures: the product of the decisions'
        sizes. Exact when every decision is always active; a space with conditional decisions
        overrides it."""
        return float(sum(math.log10(len(d)) for d in self.decisions()))
