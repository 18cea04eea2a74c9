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
