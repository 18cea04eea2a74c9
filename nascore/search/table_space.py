"""A finite search space over the rows of a benchmark table (no torch).

Searching "inside a table" (e.g. the trained hybrid mini-benchmark) means every candidate must
be a row the table has an answer for. :class:`TableSpace` has one decision, ``row``, choosing
among the table's architecture keys (its architectures are :class:`TableRow` strings); :meth:`TableSpace.mutate` moves to one of the ``k``
nearest rows by the Hamming distance of their feature vectors (e.g. the architectures'
encodings in their own space), so regularized evolution makes small changes as in the full
space; random search and REINFORCE use the single categorical decision as they would any other.

Example:
    >>> import numpy as np
    >>> s = TableSpace(["a", "b", "c"], [[0, 0], [0, 1], [1, 1]], k=1)
    >>> s.mutate("a", np.random.default_rng(0))
    'b'
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, Sequence, Tuple

import numpy as np

from ..decisions import Decision, SearchSpace


class TableRow(str):
    """An architecture of a :class:`TableSpace`: its key (a ``str``), with ``arch_id`` (the key)
    and ``to_json`` for search histories."""

    @property
    def arch_id(self) -> str:
        return str(self)

    def to_json(self) -> str:
        return json.dumps({"row": str(self)})


@dataclass(frozen=True, eq=False)
class TableSpace(SearchSpace):
    """The rows of a table as a search space.

    Args:
        keys: distinct architecture keys (the architectures of this space are these strings).
        features: one equal-length vector per key (Hamming distance picks mutation neighbours);
            None: mutation draws any other row.
        k: neighbours a mutation draws from (uniformly).

    Raises:
        ValueError: on duplicate keys, no keys, mismatched features or ``k < 1``.
    """

    keys: Tuple[str, ...]
    features: Any = None
    k: int = 5
    _feat: np.ndarray = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        keys = tuple(str(k) for k in self.keys)
        if not keys:
            raise ValueError("TableSpace needs at least one key")
        if len(set(keys)) != len(keys):
            raise ValueError("TableSpace keys must be distinct")
        if self.k < 1:
            raise ValueError(f"TableSpace.k must be >= 1, got {self.k}")
        object.__setattr__(self, "keys", keys)
        if self.features is not None:
            f = np.asarray(self.features)
            if f.ndim != 2 or len(f) != len(keys):
                raise ValueError(f"TableSpace.features must be (n_keys={len(keys)}, d), got shape {f.shape}")
            object.__setattr__(self, "_feat", f)

    def decisions(self) -> Tuple[Decision, ...]:
        return (Decision("row", "table", self.keys),)

    def encode(self, arch: Any) -> Tuple[int, ...]:
        try:
            return (self.keys.index(str(arch)),)
        except ValueError:
            raise ValueError(f"encode: {arch!r} is not a row of the table") from None

    def decode(self, indices: Sequence[int]) -> TableRow:
        idx = [int(i) for i in indices]
        if len(idx) != 1 or not 0 <= idx[0] < len(self.keys):
            raise ValueError(f"decode: need one index in 0..{len(self.keys) - 1}, got {idx}")
        return TableRow(self.keys[idx[0]])

    def active(self, arch: Any) -> Tuple[bool, ...]:
        return (True,)

    def mutate(self, arch: Any, rng) -> TableRow:
        """One of the ``k`` nearest other rows (Hamming distance of features; ties by row order).

        Raises:
            ValueError: when the table has a single row.
        """
        i = self.encode(arch)[0]
        n = len(self.keys)
        if n < 2:
            raise ValueError("mutate: the table has a single row")
        others = np.array([j for j in range(n) if j != i])
        if self._feat is None:
            near = others
        else:
            d = (self._feat[others] != self._feat[i]).sum(axis=1)
            near = others[np.argsort(d, kind="stable")[: self.k]]
        return TableRow(self.keys[int(near[int(rng.integers(len(near)))])])

    def to_config(self) -> Dict[str, Any]:
        return {"n_rows": len(self.keys), "k": self.k, "first_keys": list(self.keys[:3]),
                "has_features": self._feat is not None}
