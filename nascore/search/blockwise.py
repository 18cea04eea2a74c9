"""Block-wise progressive search with a beam (after BossNAS, Li et al., ICCV 2021).

BossNAS searches a hybrid network block by block, scoring a block's candidates on the partial
network built from the blocks already chosen, and keeps a beam of the best partial networks.
Here a "block" is a group of decisions (``space.groups()``, e.g. ``global``, ``stage0`` ...
``decoder`` in :class:`~nascore.HybridSegSpace`, ``node1``..``node3`` in NB201), and a partial
network is scored as a full architecture: the searched prefix, the candidate for the current
group, and a fixed completion of the groups not searched yet.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from .base import STRATEGIES, Strategy


@STRATEGIES.register("blockwise")
@dataclass
class Blockwise(Strategy):
    """BossNAS-style block-wise progressive beam search.

    For each group ``g`` in ``space.groups()`` order (stage ``s`` of ``G``):

    * stage budget = ``remaining budget // (G - s)``;
    * for every prefix in the beam, the candidates are the assignments of ``g``'s decisions:
      all of them when ``beam x combinations`` fits the stage budget, else
      ``stage budget // beam`` random distinct ones (drawn from ``rng``) per prefix;
    * decisions of later groups take the *completion*: ``"zeros"`` = index 0, each
      decision's canonical default (see :mod:`nascore.decisions`); ``"random"`` = one random
      architecture drawn from ``rng`` at the start and kept for the whole search; or an
      architecture of the space whose encoding is used;
    * every candidate is scored with the objective (one batch per stage), and the ``beam``
      best ``prefix + candidate`` assignments (failed/rejected ones excluded; earlier ones
      first on ties) become the next beam.

    Candidates that decode to an architecture seen before (e.g. differing only in inactive
    block slots) are answered from the history without using the budget. The best
    architecture found is ``history.best()``, which includes every stage's candidates.

    Attributes:
        beam: beam width.
        completion: ``"zeros"``, ``"random"`` or an architecture.
    """

    beam: int = 4
    completion: Any = "zeros"
    name = "blockwise"

    def config(self):
        c = {"beam": self.beam}
        comp = self.completion
        c["completion"] = comp if isinstance(comp, str) else getattr(comp, "to_json", lambda: repr(comp))()
        return c

    def _completion(self, space, rng) -> Tuple[int, ...]:
        if isinstance(self.completion, str):
            if self.completion == "zeros":
                return tuple(0 for _ in space.decisions())
            if self.completion == "random":
                return tuple(int(v) for v in space.encode(space.sample(rng)))
            raise ValueError(f"blockwise.completion must be 'zeros', 'random' or an architecture, "
                             f"got {self.completion!r}")
        if not space.contains(self.completion):
            raise ValueError("blockwise.completion is not an architecture of the space")
        return tuple(int(v) for v in space.encode(self.completion))

    def search(self, space, ev, rng) -> None:
        if self.beam < 1:
            raise ValueError(f"blockwise.beam must be >= 1, got {self.beam}")
        decisions = space.decisions()
        groups = list(space.groups())
        members: Dict[str, List[int]] = {g: [] for g in groups}
        for i, d in enumerate(decisions):
            if d.group not in members:
                raise ValueError(f"decision {d.name!r} has group {d.group!r} not in space.groups()")
            members[d.group].append(i)
        base = self._completion(space, rng)
        beam: List[Dict[int, int]] = [{}]
        for s, g in enumerate(groups):
            if ev.done:
                break
            idx = members[g]
            sizes = [len(decisions[i]) for i in idx]
            n_comb = math.prod(sizes)
            stage_budget = max(1, ev.remaining // (len(groups) - s))
            if len(beam) * n_comb <= stage_budget:
                combos = list(itertools.product(*[range(n) for n in sizes]))
                per_prefix = [combos for _ in beam]
            else:
                k = max(1, stage_budget // len(beam))
                per_prefix = [_sample_combos(sizes, min(k, n_comb), rng) for _ in beam]
            cands: List[Dict[int, int]] = []
            for prefix, combos in zip(beam, per_prefix):
                for c in combos:
                    a = dict(prefix)
                    a.update(zip(idx, c))
                    cands.append(a)
            archs = [space.decode([a.get(i, base[i]) for i in range(len(decisions))])
                     for a in cands]
            outs = ev.evaluate(archs)
            ranked = sorted((k for k, o in enumerate(outs) if o.scored and o.score > -math.inf),
                            key=lambda k: -outs[k].score)
            new_beam, keys = [], set()
            for k in ranked:
                key = tuple(sorted(cands[k].items()))
                if key not in keys:
                    keys.add(key)
                    new_beam.append(cands[k])
                if len(new_beam) == self.beam:
                    break
            if not new_beam:
                return  # nothing scorable at this stage
            beam = new_beam


def _sample_combos(sizes: Sequence[int], k: int, rng: np.random.Generator) -> List[Tuple[int, ...]]:
    """``k`` distinct assignments of decisions with ``sizes`` choices (uniform, no repeats)."""
    n = math.prod(sizes)
    if n <= 1_000_000:
        flat = rng.choice(n, size=k, replace=False)
    else:  # huge: draw with replacement (repeats are answered from the history)
        flat = rng.integers(n, size=k)
    out = []
    for f in flat:
        f, c = int(f), []
        for m in reversed(sizes):
            c.append(f % m)
            f //= m
        out.append(tuple(reversed(c)))
    return out
