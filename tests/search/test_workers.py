"""Warm worker pools: the objective is installed once per worker, workers run one torch
thread each, and the history is the serial one."""

import pickle

import numpy as np
import pytest

from nascore.search import STRATEGIES, Constraints, ResidentObjective, search_executor
from nascore.search.toy import ToySpace, toy_cost, toy_objective
from nascore.search.workers import DASK_ENV


def test_resident_objective_is_unpickled_once_per_process():
    h = ResidentObjective(toy_objective)
    data = pickle.dumps(h)
    a, b = pickle.loads(data), pickle.loads(pickle.dumps(h))
    assert a.objective is b.objective  # the second copy reuses the first one's objective
    arch = ToySpace(4, 4).decode([1, 2, 3, 0])
    assert a(arch) == toy_objective(arch)
    assert ResidentObjective(h).objective is toy_objective  # no double wrapping


def test_one_worker_is_serial_and_bad_counts_raise(monkeypatch):
    monkeypatch.delenv(DASK_ENV, raising=False)
    with search_executor(1) as ex:
        assert ex is None
    with pytest.raises(ValueError, match="workers"):
        with search_executor(0):
            pass


def test_warm_process_pool_gives_the_serial_history(monkeypatch):
    import torch

    monkeypatch.delenv(DASK_ENV, raising=False)
    space = ToySpace(4, 4)
    strat = STRATEGIES.get("evolution")(population=6, sample=3, batch_size=2)
    kw = dict(constraints=Constraints(max_flops=20), cost_fn=toy_cost)
    serial = strat.run(space, toy_objective, 24, np.random.default_rng(1), **kw)
    with search_executor(2) as ex:
        assert ex.submit(torch.get_num_threads).result() == 1
        h = strat.run(space, toy_objective, 24, np.random.default_rng(1), executor=ex, **kw)
        again = strat.run(space, toy_objective, 24, np.random.default_rng(1), executor=ex, **kw)
    assert h.signature() == serial.signature() == again.signature()
    assert h.n_objective_calls == len(serial) == 24
