"""Search strategies on a toy space with a known optimum: optimum found, determinism,
failures recorded, budget, executors."""

import math
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

from nascore.search import STRATEGIES, SearchHistory
from nascore.search.toy import ToyArch, ToySpace, toy_cost, toy_objective, toy_optimum

SPACE = ToySpace(4, 4)  # 256 archs
BUDGET = 80             # < 1/3 of the space
SETTINGS = {"random": {}, "evolution": {"population": 16, "sample": 4}, "reinforce": {},
            "blockwise": {}}


def make(name):
    return STRATEGIES.get(name)(**SETTINGS.get(name, {}))


def test_registry_has_the_four_strategies():
    assert set(STRATEGIES.names()) >= {"random", "evolution", "reinforce", "blockwise"}


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_finds_known_optimum_within_budget(name):
    opt, opt_v = toy_optimum(SPACE)
    # random search gets the whole space (with dedupe it must enumerate it); the others less
    # than a third of it, over three seeds
    budget = 256 if name == "random" else BUDGET
    for seed in range(3):
        h = make(name).run(SPACE, toy_objective, budget, np.random.default_rng(seed))
        assert len(h) <= budget
        assert h.best().arch_id == opt.arch_id, (name, seed, h.best().arch_id)
        assert h.best().score == pytest.approx(opt_v)
        assert h.n_objective_calls == len(h)
        # each architecture is evaluated at most once
        assert len({r.arch_id for r in h}) == len(h)


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_same_seed_same_history_other_seed_differs(name):
    a = make(name).run(SPACE, toy_objective, 40, np.random.default_rng(7))
    b = make(name).run(SPACE, toy_objective, 40, np.random.default_rng(7))
    c = make(name).run(SPACE, toy_objective, 40, np.random.default_rng(8))
    assert a.signature() == b.signature()
    assert len(a) == 40 or (name == "blockwise" and 30 <= len(a) <= 40)  # beam may end early
    assert a.signature() != c.signature()


def flaky_objective(arch):
    """Raises for archs starting with 1, returns NaN for archs starting with 2."""
    if arch.idx[0] == 1:
        raise RuntimeError("boom")
    if arch.idx[0] == 2:
        return float("nan")
    return {"score": toy_objective(arch), "aux": float(sum(arch.idx))}


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_failures_are_recorded_not_raised(name):
    h = make(name).run(SPACE, flaky_objective, 60, np.random.default_rng(0))
    assert len(h) == 60 or (name == "blockwise" and 40 <= len(h) <= 60)
    failed = [r for r in h if not r.ok]
    assert failed and h.n_failed == len(failed)
    assert all(r.arch_json and math.isnan(r.score) for r in failed)
    msgs = {r.message for r in failed}
    assert "RuntimeError: boom" in msgs and any("non-finite" in m for m in msgs)
    assert all(r.ok == (ToyArch.from_json(r.arch_json).idx[0] not in (1, 2)) for r in h)
    best = h.best()
    assert best.ok and best.arch.idx[0] not in (1, 2)
    assert best.scores["aux"] == sum(best.arch.idx)


def test_history_accessors():
    h = make("random").run(SPACE, flaky_objective, 30, np.random.default_rng(3),
                           cost_fn=toy_cost)
    any_ = h.anytime()
    ok = np.array([r.ok for r in h])
    first = int(np.argmax(ok))
    assert np.isnan(any_[:first]).all() and np.all(np.diff(any_[first:]) >= 0)
    assert any_[-1] == h.best().score
    df = h.to_frame()
    assert len(df) == 30 and {"arch_id", "arch", "score", "status", "wall_s", "cost_params",
                              "cost_latency"} <= set(df.columns)
    assert (df["status"] == "failed").sum() == h.n_failed
    # report another key of the best-so-far record
    rep = h.anytime(report="aux")
    assert rep[-1] == h.best().scores["aux"]
    assert h.best().cost == toy_cost(h.best().arch)


@pytest.mark.parametrize("name", ["random", "evolution", "reinforce", "blockwise"])
def test_zero_and_tiny_budgets(name):
    assert len(make(name).run(SPACE, toy_objective, 0, np.random.default_rng(0))) == 0
    h = make(name).run(SPACE, toy_objective, 3, np.random.default_rng(0))
    assert len(h) == 3 and h.stop_reason == "budget"


def test_a_search_of_an_exhausted_space_stops_and_says_so():
    tiny = ToySpace(2, 2)  # 4 archs
    h = make("random").run(tiny, toy_objective, 10, np.random.default_rng(0), max_proposals=200)
    assert len(h) == 4 and h.stop_reason == "space exhausted" and h.n_proposed < 200


class UnsizedToySpace(ToySpace):
    """A toy space that does not say its size (so only the proposal cap can stop a search)."""

    def log10_size(self):
        return float("inf")


def test_proposal_cap_stops_a_search_of_a_space_of_unknown_size():
    tiny = UnsizedToySpace(2, 2)
    h = make("random").run(tiny, toy_objective, 10, np.random.default_rng(0), max_proposals=200)
    assert len(h) == 4 and h.stop_reason == "proposal cap" and h.n_proposed == 200


def test_bad_rng_and_settings_raise():
    with pytest.raises(TypeError, match="Generator"):
        make("random").run(SPACE, toy_objective, 5, 0)
    with pytest.raises(ValueError, match="sample <= population"):
        STRATEGIES.get("evolution")(population=4, sample=5).run(
            SPACE, toy_objective, 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="completion"):
        STRATEGIES.get("blockwise")(completion="bogus").run(
            SPACE, toy_objective, 5, np.random.default_rng(0))


@pytest.fixture(scope="module")
def pool():
    with ProcessPoolExecutor(2) as p:
        yield p


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_process_pool_gives_the_serial_history(name, pool):
    serial = make(name).run(SPACE, toy_objective, 40, np.random.default_rng(1), cost_fn=toy_cost)
    par = make(name).run(SPACE, toy_objective, 40, np.random.default_rng(1), executor=pool,
                         cost_fn=toy_cost)
    assert par.signature() == serial.signature()
    assert par.n_objective_calls == len(serial)


def test_evolution_batches_with_threads_match_serial():
    s = STRATEGIES.get("evolution")(population=8, sample=3, batch_size=4)
    serial = s.run(SPACE, flaky_objective, 50, np.random.default_rng(2))
    with ThreadPoolExecutor(3) as pool:
        par = s.run(SPACE, flaky_objective, 50, np.random.default_rng(2), executor=pool)
    assert par.signature() == serial.signature()
    seq = STRATEGIES.get("evolution")(population=8, sample=3).run(
        SPACE, flaky_objective, 50, np.random.default_rng(2))
    assert seq.signature() != serial.signature()  # batch_size is part of the algorithm


def test_reinforce_learns_on_a_larger_space():
    big = ToySpace(8, 4)  # 65,536 archs; additive objective

    def gap(h):
        return toy_optimum_additive(big) - h.best().score

    r = STRATEGIES.get("reinforce")(lr=0.5, batch_size=8).run(
        big, _toy84, 400, np.random.default_rng(0))
    ra = STRATEGIES.get("random")().run(big, _toy84, 400, np.random.default_rng(0))
    assert gap(r) < gap(ra)
    assert gap(r) < 0.5


def _toy84(arch):
    return toy_objective(arch, 4)


def toy_optimum_additive(space):
    from nascore.search.toy import toy_weights

    return float(toy_weights(space.n_decisions, space.n_choices).max(axis=1).sum())
