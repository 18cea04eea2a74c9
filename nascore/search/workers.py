"""Warm workers for a search: process pools and Dask clusters that stay up for the whole
search, with one torch thread per worker and the objective installed once per worker.

* :class:`ResidentObjective` wraps an objective so that each worker process unpickles it
  once and keeps it (with its open score cache, imported proxies and warmed-up allocator)
  for every later candidate; the :class:`~nascore.search.executor.Evaluator` wraps the
  objective this way whenever it is given an executor.
* :func:`search_executor` opens the executor a search runs on and closes it afterwards:
  nothing (serial, in this process), a process pool of ``workers`` processes (``spawn``
  start, ``threads_per_worker`` torch threads each), or Dask.

**Dask.** ``dask="local"`` starts a :class:`distributed.LocalCluster` of ``workers``
processes on this machine. Any other string is a scheduler address: the search runs on
that cluster (``Client(address)``), with no code change. Without ``dask`` the environment
variable ``NASCORE_DASK_SCHEDULER`` is used when set, e.g.::

    dask-scheduler                                          # on one machine: tcp://host:8786
    dask-worker tcp://host:8786 --nworkers 16 --nthreads 1  # on each of the others
    NASCORE_DASK_SCHEDULER=tcp://host:8786 python perf/search_throughput.py ...

The workers need the same ``nascore`` install and the data the objective reads (the proxy
batch travels with the objective; a :class:`nascore.cache.ScoreCache` path must be on a
shared file system or left out). The history does not depend on the executor.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import uuid
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Dict, Iterator, Optional

#: environment variable naming a Dask scheduler address (used when ``dask`` is not given).
DASK_ENV = "NASCORE_DASK_SCHEDULER"

_RESIDENT: Dict[str, Any] = {}  # key -> objective, per worker process


def set_torch_threads(threads: Optional[int]) -> None:
    """``torch.set_num_threads(threads)`` when torch is installed (no-op for None)."""
    if threads is None:
        return
    try:
        import torch
    except ImportError:  # pragma: no cover - searches with table objectives need no torch
        return
    torch.set_num_threads(int(threads))


class ResidentObjective:
    """An objective that each worker process unpickles once and then keeps.

    Pickling sends a key and the objective's pickled bytes (made once, in this process); a
    worker that already holds the key reuses its copy instead of unpickling a new one, so
    per-worker state (caches, lazily built parts) survives between candidates. Calling it
    calls the objective.

    Args:
        objective: ``arch -> float | dict`` (picklable).
        threads: torch threads to set in a worker when it installs the objective (None:
            leave the worker's setting).
    """

    def __init__(self, objective: Callable, threads: Optional[int] = None) -> None:
        if isinstance(objective, ResidentObjective):
            objective = objective.objective
        self.objective, self.threads = objective, threads
        self.key = uuid.uuid4().hex
        self._payload: Optional[bytes] = None

    def __getstate__(self):
        if self._payload is None:
            self._payload = pickle.dumps(self.objective, protocol=pickle.HIGHEST_PROTOCOL)
        return {"key": self.key, "threads": self.threads, "payload": self._payload}

    def __setstate__(self, state) -> None:
        self.key, self.threads, self._payload = state["key"], state["threads"], state["payload"]
        obj = _RESIDENT.get(self.key)
        if obj is None:
            set_torch_threads(self.threads)
            obj = _RESIDENT[self.key] = pickle.loads(self._payload)
        self.objective = obj

    def __call__(self, arch: Any) -> Any:
        return self.objective(arch)


def _init_worker(threads: Optional[int]) -> None:
    set_torch_threads(threads)


def _warm(threads: Optional[int], seconds: float) -> int:
    import time

    set_torch_threads(threads)
    try:
        import nascore.proxies  # noqa: F401  (the objective's heavy imports)
    except ImportError:  # pragma: no cover
        pass
    time.sleep(seconds)  # keeps this worker busy so that the next task starts another one
    return os.getpid()


def warm_up(executor: Any, workers: int, threads: Optional[int] = None,
            seconds: float = 0.5) -> int:
    """Starts the executor's workers and runs the objective's imports in them, so that a
    search (or a timing) does not pay for it; returns the number of distinct worker
    processes that answered (``workers`` when each got one task)."""
    if executor is None:
        return 0
    futs = [executor.submit(_warm, threads, seconds) for _ in range(int(workers))]
    return len({f.result() for f in futs})


@contextlib.contextmanager
def search_executor(workers: int = 1, dask: Optional[str] = None,
                    threads_per_worker: int = 1) -> Iterator[Optional[Any]]:
    """The executor a search runs on (a context manager; closed on exit).

    Args:
        workers: processes. ``<= 1`` without Dask: None (serial, in this process).
        dask: None (use ``$NASCORE_DASK_SCHEDULER`` when set), ``""`` (no Dask, whatever the
            environment says), ``"local"`` (a LocalCluster of ``workers`` processes) or a
            scheduler address such as ``"tcp://host:8786"``.
        threads_per_worker: torch threads per worker process (process pool and LocalCluster).

    Yields:
        None, a :class:`concurrent.futures.ProcessPoolExecutor` (started with ``spawn`` and
        kept warm) or a Dask ``ClientExecutor``.

    Raises:
        ValueError: for ``workers < 1`` or ``threads_per_worker < 1``.
        ImportError: naming the ``dask`` extra when Dask is asked for but not installed.
    """
    if int(workers) < 1 or int(threads_per_worker) < 1:
        raise ValueError(f"workers and threads_per_worker must be >= 1, got {workers}, "
                         f"{threads_per_worker}")
    dask = os.environ.get(DASK_ENV) if dask is None else dask
    if not dask:
        if int(workers) <= 1:
            yield None
            return
        import multiprocessing

        ex = ProcessPoolExecutor(int(workers), mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_worker, initargs=(int(threads_per_worker),))
        try:
            yield ex
        finally:
            ex.shutdown(wait=True, cancel_futures=True)
        return
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("a Dask executor needs the optional dask extra "
                          "(pip install 'nascore[dask]')") from e
    cluster = None
    if dask == "local":
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                               dashboard_address=None,
                               env={"OMP_NUM_THREADS": str(threads_per_worker)})
        client = Client(cluster)
    else:
        client = Client(dask)
    try:
        yield client.get_executor()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
