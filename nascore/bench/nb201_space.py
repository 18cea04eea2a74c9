"""The NAS-Bench-201 cell space with the search-space protocol of :mod:`nascore.decisions`
(no torch).

Six decisions, one per cell edge in arch-string order (see :mod:`nascore.bench.nb201`), each
choosing one of the 5 operations of :data:`~nascore.bench.nb201.OPS` (index 0 = ``none``),
grouped by target node ``node1`` (1 edge), ``node2`` (2 edges), ``node3`` (3 edges). Every
decision is always active; all 5^6 = 15,625 cells are distinct points (isomorphic cells are
kept apart, as in the benchmark's tables).

Example:
    >>> import numpy as np
    >>> space = NB201Space()
    >>> a = space.sample(np.random.default_rng(0))
    >>> space.decode(space.encode(a)) == a and NB201Arch.from_json(a.to_json()) == a
    True
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Tuple

from ..decisions import Decision, SearchSpace
from .nb201 import EDGES, OPS, parse_arch_str, to_arch_str


@dataclass(frozen=True)
class NB201Arch:
    """One NB201 cell: 6 op names in edge order.

    Raises:
        ValueError: when ``ops`` is not 6 names from :data:`~nascore.bench.nb201.OPS`.
    """

    ops: Tuple[str, ...]

    def __post_init__(self) -> None:
        ops = tuple(self.ops)
        if len(ops) != 6 or any(o not in OPS for o in ops):
            raise ValueError(f"NB201Arch.ops: need 6 ops from {OPS}, got {self.ops!r}")
        object.__setattr__(self, "ops", ops)

    @property
    def arch_str(self) -> str:
        """The NB201 arch string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
        return to_arch_str(self.ops)

    @property
    def arch_id(self) -> str:
        """The arch string (the key of every NB201 table)."""
        return self.arch_str

    def to_json(self) -> str:
        return json.dumps({"arch_str": self.arch_str})

    @classmethod
    def from_json(cls, text: str) -> "NB201Arch":
        """Parses :meth:`to_json` output.

        Raises:
            ValueError: on malformed JSON or arch string.
        """
        try:
            d = json.loads(text)
            s = d["arch_str"]
        except (json.JSONDecodeError, TypeError, KeyError) as e:
            raise ValueError(f"NB201 architecture JSON is malformed: {e!r}") from None
        return cls.from_str(s)

    @classmethod
    def from_str(cls, arch_str: str) -> "NB201Arch":
        return cls(parse_arch_str(arch_str))


@dataclass(frozen=True)
class NB201Space(SearchSpace):
    """The NB201 cell space (see the module docstring); ``sample``, ``mutate``, ``contains``
    and ``log10_size`` (= 6 log10 5) come from :class:`~nascore.decisions.SearchSpace`."""

    def decisions(self) -> Tuple[Decision, ...]:
        return tuple(Decision(f"node{dst}.edge{src}", f"node{dst}", OPS) for dst, src in EDGES)

    def encode(self, arch: NB201Arch) -> Tuple[int, ...]:
        """The op index of each edge.

        Raises:
            ValueError: when ``arch`` is not an :class:`NB201Arch`.
        """
        if not isinstance(arch, NB201Arch):
            raise ValueError(f"encode: expected an NB201Arch, got {type(arch).__name__}")
        return tuple(OPS.index(o) for o in arch.ops)

    def decode(self, indices) -> NB201Arch:
        """The cell of 6 op indices.

        Raises:
            ValueError: on a wrong length or an index out of range, naming the edge.
        """
        idx = [int(i) for i in indices]
        if len(idx) != 6:
            raise ValueError(f"decode: expected 6 indices, got {len(idx)}")
        for d, i in zip(self.decisions(), idx):
            if not 0 <= i < len(OPS):
                raise ValueError(f"{d.name}: index {i} out of range 0..{len(OPS) - 1}")
        return NB201Arch(tuple(OPS[i] for i in idx))

    def active(self, arch: NB201Arch) -> Tuple[bool, ...]:
        return (True,) * 6

    def all_archs(self) -> Iterator[NB201Arch]:
        """All 15,625 cells, in index order of the encoding (edge 0 slowest)."""
        import itertools

        for ops in itertools.product(OPS, repeat=6):
            yield NB201Arch(ops)

    def to_config(self) -> Dict[str, Any]:
        return {"ops": list(OPS)}
