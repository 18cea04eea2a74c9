"""Evolution and REINFORCE spend their budget: when their proposals keep hitting the cache or
the constraints they widen (more mutation steps / more exploration, then random samples)
instead of stopping at the proposal cap; a finite space that runs out of architectures stops
the search with ``stop_reason == "space exhausted"``."""

import numpy as np
import pytest

from nascore.search import STRATEGIES, Constraints
from nascore.search.toy import ToySpace, toy_cost, toy_objective

SPACE = ToySpace(4, 4)                 # 256 architectures
TIGHT = Constraints(max_flops=6)       # 44 feasible (sum of squared indices <= 6)
N_FEASIBLE = sum(TIGHT.feasible(toy_cost(a)) for a in SPACE.all_archs())
# population == sample: the parent is always the population's best, so the population
# collapses onto a local optimum whose one-step neighbours are all seen: the case that made
# evolution stop at its proposal cap (NB201: ~745 of 1,000 evaluations).
GREEDY = {"population": 4, "sample": 4}
NEVER_WIDEN = 10 ** 9


def run(name, budget, seed, **settings):
    return STRATEGIES.get(name)(**settings).run(SPACE, toy_objective, budget,
                                                np.random.default_rng(seed), constraints=TIGHT,
                                                cost_fn=toy_cost)


def test_the_toy_case_is_tight():
    assert N_FEASIBLE == 44


@pytest.mark.parametrize("seed", [0, 2, 3])  # seeds where the old algorithm stalls
def test_evolution_spends_exactly_its_budget(seed):
    old = run("evolution", 40, seed, patience=NEVER_WIDEN, **GREEDY)  # the algorithm before
    assert old.stop_reason == "proposal cap" and len(old) < 40
    h = run("evolution", 40, seed, **GREEDY)
    s = h.summary()
    assert h.stop_reason == "budget" and len(h) == 40 == s["n_evals"] == s["budget"]
    assert s["n_proposed"] == 40 + s["n_cached"] + s["n_rejected"]
    assert s["n_objective_calls"] == 40 and s["n_failed"] == 0
    assert all(TIGHT.feasible(r.cost) for r in h) and len({r.arch_id for r in h}) == 40
    assert s["info"]["widenings"] > 0 and sum(s["info"]["children"].values()) > 0
    # identical to the old algorithm until the first widening
    k = s["info"]["first_widening_at"]
    assert 0 < k <= len(old)
    assert [r.signature() for r in h][:k] == [r.signature() for r in old][:k]


def test_evolution_stops_when_the_feasible_space_is_exhausted():
    h = run("evolution", 60, 0, **GREEDY)
    assert h.stop_reason == "space exhausted"
    assert len(h) == N_FEASIBLE and h.n_rejected == 256 - N_FEASIBLE
    assert "random" in h.info["children"]  # it widened up to random samples


@pytest.mark.parametrize("seed", [0, 1])
def test_reinforce_spends_exactly_its_budget(seed):
    old = run("reinforce", 40, seed, patience=NEVER_WIDEN)
    assert old.stop_reason == "proposal cap" and len(old) < 40
    h = run("reinforce", 40, seed)
    assert h.stop_reason == "budget" and len(h) == 40 and h.info["widenings"] > 0
    k = h.info["first_widening_at"]
    assert [r.signature() for r in h][:k] == [r.signature() for r in old][:k]


def test_bad_widening_settings_raise():
    with pytest.raises(ValueError, match="patience"):
        run("evolution", 5, 0, patience=0)
    with pytest.raises(ValueError, match="patience"):
        run("reinforce", 5, 0, explore_steps=0)
