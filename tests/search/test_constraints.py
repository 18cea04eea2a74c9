"""Hard cost constraints: checked before scoring, counted, never violated by the result."""

import numpy as np
import pytest

from nascore.search import STRATEGIES, Constraints
from nascore.search.toy import ToySpace, toy_cost, toy_objective, toy_optimum

SPACE = ToySpace(4, 4)
SETTINGS = {"evolution": {"population": 16, "sample": 4}}
# the unconstrained optimum costs params 6, flops 14, latency 3.6
CASES = [Constraints(max_params=5), Constraints(max_flops=10),
         Constraints(max_latency=3.4), Constraints(max_params=6, max_flops=13, max_latency=3.6)]


class Spy:
    """Objective recording every architecture it is asked to score."""

    def __init__(self):
        self.seen = []

    def __call__(self, arch):
        self.seen.append(arch)
        return toy_objective(arch)


@pytest.mark.parametrize("name", STRATEGIES.names())
@pytest.mark.parametrize("cons", CASES, ids=["params", "flops", "latency", "all"])
def test_constraints_never_violated_and_checked_before_scoring(name, cons):
    unconstrained, _ = toy_optimum(SPACE)
    assert not cons.feasible(toy_cost(unconstrained))  # the bound cuts the optimum off
    spy = Spy()
    h = STRATEGIES.get(name)(**SETTINGS.get(name, {})).run(
        SPACE, spy, 60, np.random.default_rng(0), constraints=cons, cost_fn=toy_cost)
    assert h.n_rejected > 0
    assert all(cons.feasible(toy_cost(a)) for a in spy.seen)  # rejected before the objective
    assert len(spy.seen) == len(h)  # rejections do not use the budget
    assert all(cons.feasible(r.cost) for r in h)
    best = h.best()
    assert cons.feasible(toy_cost(best.arch))
    for r in h.rejected:
        assert not cons.feasible(r.cost) and r.reason
        assert r.arch_id not in {e.arch_id for e in h}


def test_constrained_optimum_found():
    cons = Constraints(max_params=5)
    opt, opt_v = toy_optimum(SPACE, cons)
    h = STRATEGIES.get("random")().run(SPACE, toy_objective, 256, np.random.default_rng(0),
                                       constraints=cons, cost_fn=toy_cost)
    n_feasible = sum(cons.feasible(toy_cost(a)) for a in SPACE.all_archs())
    assert len(h) == n_feasible and h.n_rejected == 256 - n_feasible
    assert h.best().arch_id == opt.arch_id and h.best().score == pytest.approx(opt_v)


def test_check_messages_and_errors():
    c = Constraints(max_flops=10, max_latency=2.0, latency_key="raspi4_latency")
    assert c.check({"flops": 10, "raspi4_latency": 2.0}) is None
    assert c.check({"flops": 11, "raspi4_latency": 3}) == "flops=11 > 10; raspi4_latency=3 > 2"
    assert c.check({"flops": float("nan"), "raspi4_latency": 1}) is not None
    with pytest.raises(KeyError, match="raspi4_latency"):
        c.check({"flops": 1})
    assert not Constraints().active and Constraints().check({}) is None
    with pytest.raises(ValueError, match="cost_fn"):
        STRATEGIES.get("random")().run(SPACE, toy_objective, 5, np.random.default_rng(0),
                                       constraints=c)


def _cost_fails_on_3(arch):
    if 3 in arch.idx:
        raise LookupError("not in the table")
    return toy_cost(arch)


def test_cost_fn_failure_rejects_the_candidate():
    spy = Spy()
    h = STRATEGIES.get("random")().run(SPACE, spy, 30, np.random.default_rng(0),
                                       cost_fn=_cost_fails_on_3)
    assert h.n_rejected > 0 and all(3 not in a.idx for a in spy.seen)
    assert all(r.reason == "cost_fn failed: LookupError: not in the table" for r in h.rejected)
    with pytest.raises(KeyError, match="latency"):  # a bound on a key never given: caller bug
        STRATEGIES.get("random")().run(SPACE, spy, 5, np.random.default_rng(0),
                                       constraints=Constraints(max_latency=1),
                                       cost_fn=lambda a: {"params": 1.0})
