"""The Dask distributed executor path on a local cluster gives the serial history."""

import numpy as np
import pytest

from nascore.search import STRATEGIES, Constraints
from nascore.search.toy import ToySpace, toy_cost, toy_objective

distributed = pytest.importorskip("distributed", reason="needs the optional dask extra "
                                  "(pip install 'nascore[dask]')")

SPACE = ToySpace(4, 4)


@pytest.fixture(scope="module")
def client():
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                           dashboard_address=None)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.mark.parametrize("name", ["random", "evolution", "blockwise"])
def test_dask_executor_matches_serial(client, name):
    strat = STRATEGIES.get(name)(**({"population": 8, "sample": 3, "batch_size": 4}
                                    if name == "evolution" else {}))
    kw = dict(constraints=Constraints(max_flops=20), cost_fn=toy_cost)
    serial = strat.run(SPACE, toy_objective, 40, np.random.default_rng(5), **kw)
    dask_h = strat.run(SPACE, toy_objective, 40, np.random.default_rng(5),
                       executor=client.get_executor(), **kw)
    assert dask_h.signature() == serial.signature()
    assert dask_h.n_objective_calls == len(serial) > 0


def test_dask_failures_are_recorded(client):
    h = STRATEGIES.get("random")().run(SPACE, _fails_on_zero, 30, np.random.default_rng(0),
                                       executor=client.get_executor())
    failed = [r for r in h if not r.ok]
    assert failed and all(r.message.startswith("ZeroDivisionError") for r in failed)
    assert len(h) == 30


def _fails_on_zero(arch):
    return toy_objective(arch) / arch.idx[0]


def test_search_executor_on_a_local_cluster_of_two_processes():
    """``search_executor(2, dask="local")``: two worker processes, one torch thread each, the
    serial history."""
    import torch

    from nascore.search import search_executor

    strat = STRATEGIES.get("evolution")(population=6, sample=3, batch_size=2)
    kw = dict(constraints=Constraints(max_flops=20), cost_fn=toy_cost)
    serial = strat.run(SPACE, toy_objective, 20, np.random.default_rng(2), **kw)
    with search_executor(2, dask="local") as ex:
        assert type(ex).__name__ == "ClientExecutor"
        assert ex.submit(torch.get_num_threads).result() == 1
        h = strat.run(SPACE, toy_objective, 20, np.random.default_rng(2), executor=ex, **kw)
    assert h.signature() == serial.signature() and len(h) == 20


def test_scheduler_address_from_the_environment(client, monkeypatch):
    """A running cluster is used by address (``$NASCORE_DASK_SCHEDULER``), no code change."""
    from nascore.search import search_executor
    from nascore.search.workers import DASK_ENV

    monkeypatch.setenv(DASK_ENV, client.scheduler.address)
    serial = STRATEGIES.get("random")().run(SPACE, toy_objective, 25, np.random.default_rng(4))
    with search_executor() as ex:
        assert ex is not None and type(ex).__name__ == "ClientExecutor"
        h = STRATEGIES.get("random")().run(SPACE, toy_objective, 25, np.random.default_rng(4),
                                           executor=ex)
    assert h.signature() == serial.signature()
    assert client.status == "running"  # the cluster outlives the search's client
