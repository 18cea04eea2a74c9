"""A tiny search space with a known optimum, for tests and examples (no torch).

:class:`ToySpace` has ``n_decisions`` decisions of ``n_choices`` choices each, grouped in
pairs. :func:`toy_objective` is additive (``sum_i W[i, x_i]``) with weights from a fixed
formula, so its optimum is known (:func:`toy_optimum`); :func:`toy_cost` gives costs that
grow with the indices, so cost bounds cut the optimum off.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np

from ..decisions import Decision, SearchSpace


@dataclass(frozen=True)
class ToyArch:
    """A point of :class:`ToySpace`: one index per decision."""

    idx: Tuple[int, ...]

    @property
    def arch_id(self) -> str:
        return "toy-" + "-".join(map(str, self.idx))

    def to_json(self) -> str:
        return json.dumps({"idx": list(self.idx)})

    @classmethod
    def from_json(cls, text: str) -> "ToyArch":
        return cls(tuple(int(v) for v in json.loads(text)["idx"]))


@dataclass(frozen=True)
class ToySpace(SearchSpace):
    """``n_decisions`` x ``n_choices`` categorical space; groups ``g0``, ``g1`` ... of two."""

    n_decisions: int = 4
    n_choices: int = 4

    def decisions(self) -> Tuple[Decision, ...]:
        return tuple(Decision(f"d{i}", f"g{i // 2}", tuple(range(self.n_choices)))
                     for i in range(self.n_decisions))

    def encode(self, arch: ToyArch) -> Tuple[int, ...]:
        idx = getattr(arch, "idx", None)
        if not (isinstance(arch, ToyArch) and len(idx) == self.n_decisions and all(
                isinstance(i, int) and 0 <= i < self.n_choices for i in idx)):
            raise ValueError(f"encode: {arch!r} is not in {self!r}")
        return tuple(idx)

    def decode(self, indices) -> ToyArch:
        idx = tuple(int(i) for i in indices)
        if len(idx) != self.n_decisions or not all(0 <= i < self.n_choices for i in idx):
            raise ValueError(f"decode: bad indices {idx} for {self!r}")
        return ToyArch(idx)

    def active(self, arch: ToyArch) -> Tuple[bool, ...]:
        return (True,) * self.n_decisions

    def all_archs(self):
        """Every architecture (small spaces only)."""
        for idx in itertools.product(range(self.n_choices), repeat=self.n_decisions):
            yield ToyArch(tuple(idx))

    def to_config(self) -> Dict[str, int]:
        return {"n_decisions": self.n_decisions, "n_choices": self.n_choices}


def toy_weights(n_decisions: int, n_choices: int) -> np.ndarray:
    """W[i, j] = ((3 i + 5 j + 1) mod n_choices) + j sqrt(p_i) / 1000 with p_i the i-th prime.

    The integer part has a unique argmax per row (neither index 0 nor the same in every row);
    the small irrational part makes every architecture's total distinct (no ties), for up to
    10 decisions.
    """
    primes = np.array([2, 3, 5, 7, 11, 13, 17, 19, 23, 29], dtype=float)
    if n_decisions > len(primes):
        raise ValueError(f"toy_weights: at most {len(primes)} decisions, got {n_decisions}")
    i, j = np.meshgrid(np.arange(n_decisions), np.arange(n_choices), indexing="ij")
    return ((3 * i + 5 * j + 1) % n_choices) + j * np.sqrt(primes[i]) / 1000.0


def toy_objective(arch: ToyArch, n_choices: int = 4) -> float:
    """Additive score ``sum_i W[i, idx_i]`` of a toy architecture (higher is better)."""
    w = toy_weights(len(arch.idx), n_choices)
    return float(sum(w[i, j] for i, j in enumerate(arch.idx)))


def toy_cost(arch: ToyArch) -> Dict[str, float]:
    """Costs growing with the choice indices: params = sum, flops = sum of squares, latency =
    max index + params / 10."""
    idx = np.asarray(arch.idx, dtype=float)
    return {"params": float(idx.sum()), "flops": float((idx ** 2).sum()),
            "latency": float(idx.max() + idx.sum() / 10.0)}


def toy_optimum(space: ToySpace, constraints=None) -> Tuple[ToyArch, float]:
    """The best (feasible) architecture by enumeration and its score."""
    best, best_v = None, -np.inf
    for a in space.all_archs():
        if constraints is not None and not constraints.feasible(toy_cost(a)):
            continue
        v = toy_objective(a, space.n_choices)
        if v > best_v:
            best, best_v = a, v
    return best, best_v


class SimulatedKill(BaseException):
    """Raised by :class:`KillAfter` to simulate a killed process (not an ``Exception``, so the
    evaluator does not record it as a failure)."""


class KillAfter:
    """Wraps an objective; raises :class:`SimulatedKill` on call number ``k + 1``.

    Attributes:
        calls: completed calls.
    """

    def __init__(self, objective, k: int) -> None:
        self.objective, self.k, self.calls = objective, k, 0

    def __call__(self, arch):
        if self.calls >= self.k:
            raise SimulatedKill(f"killed after {self.k} evaluations")
        self.calls += 1
        return self.objective(arch)
