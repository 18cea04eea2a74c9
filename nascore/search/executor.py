"""Candidate evaluation shared by every strategy: budget, dedupe, constraints, scale-out, resume.

Strategies never call the objective themselves; they hand batches of candidates to an
:class:`Evaluator`, which, for each candidate in order:

1. answers an architecture already seen in this run from the history (``"cached"``; not
   counted in the budget: the budget counts objective calls, i.e. distinct architectures);
2. computes its cost (``cost_fn``) and rejects it when over the :class:`Constraints`
   (``"rejected"``, recorded and counted, never scored); a candidate whose ``cost_fn`` raises
   is rejected too (reason ``"cost_fn failed: ..."``);
3. skips it when the budget is spent (``"skipped"``);
4. otherwise scores it: from the resumed log when the file already holds it (no objective
   call), else by ``objective(arch)``, serially or on ``executor``.

Results are recorded in proposal order, whatever order the workers finish in, so a run with an
executor gives exactly the history of a serial run.

**Scale-out.** ``executor`` is any :class:`concurrent.futures.Executor`. The objective and the
architectures must be picklable for process-based executors (module-level functions or classes
such as :class:`nascore.bench.nb201_objectives.NB201AccuracyOracle`); the objective is sent as a
:class:`~nascore.search.workers.ResidentObjective`, unpickled once per worker process and kept
there for the whole search. :func:`nascore.search.workers.search_executor` opens a warm
process pool (one torch thread per worker) or a Dask client from a worker count or a
scheduler address. With Dask ``distributed`` directly::

    from dask.distributed import Client, LocalCluster
    client = Client(LocalCluster(n_workers=2, threads_per_worker=1))   # on this machine
    # client = Client("tcp://scheduler-host:8786")                    # a running Dask cluster
    history = STRATEGIES.get("random")().run(space, objective, 1000, rng,
                                             executor=client.get_executor())

On a real cluster the workers need the same ``nascore`` install and the data the objective
reads (e.g. the same ``NASCORE_DATA`` path or a shared file system); a
:class:`nascore.cache.ScoreCache` on a shared file system lets workers share scores.

**Resume.** With ``history_path``, every evaluation and rejection is appended to a JSONL file
(durably, see :mod:`nascore.search.history`). Strategies are deterministic given the ``rng``
state, so a resumed run re-runs the strategy from the start and *replays* the logged
evaluations instead of calling the objective: nothing logged is scored twice and nothing is
lost. The log's meta line records the strategy, its config, the initial ``rng`` state, the space
and the constraints; resuming with different ones raises ValueError. The budget may change.
A kill while a line is being written loses only that line's evaluation, which is redone.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ..progress import tqdm
from .constraints import Constraints
from .history import EvalRecord, HistoryLog, RejectRecord, SearchHistory, _clean
from .workers import ResidentObjective


# ----------------------------------------------------------------------------- arch identity
def arch_json(space: Any, arch: Any) -> str:
    """The architecture's JSON: ``arch.to_json()`` when it has one, else its encoding."""
    if hasattr(arch, "to_json"):
        return arch.to_json()
    return json.dumps(list(space.encode(arch)))


def arch_key(space: Any, arch: Any) -> str:
    """The architecture's identity: ``arch.arch_id`` when present, else its JSON."""
    aid = getattr(arch, "arch_id", None)
    return str(aid) if aid is not None else arch_json(space, arch)


def space_size(space: Any, limit: float = 1e12) -> Optional[int]:
    """The number of distinct architectures of ``space`` (``10 ** space.log10_size()``,
    rounded), or None when the space does not say or has more than ``limit``."""
    fn = getattr(space, "log10_size", None)
    if fn is None:
        return None
    try:
        lg = float(fn())
    except (TypeError, ValueError, NotImplementedError):
        return None
    return int(round(10 ** lg)) if math.isfinite(lg) and 10 ** lg <= limit else None


def space_config(space: Any) -> Any:
    """A JSON-able description of the space (for the log's meta line)."""
    cfg = space.to_config() if hasattr(space, "to_config") else repr(space)
    return {"type": type(space).__name__, "config": json.loads(json.dumps(_clean(cfg), default=str))}


# ----------------------------------------------------------------------------- objective call
def normalize_scores(out: Any) -> Dict[str, float]:
    """Objective output -> ``{"score": ..., ...}`` (a bare number becomes ``"score"``).

    Raises:
        ValueError: when a dict lacks ``"score"`` or a value is not a number.
    """
    if isinstance(out, Mapping):
        if "score" not in out:
            raise ValueError(f"objective returned a dict without 'score': keys {sorted(out)}")
        return {str(k): float(v) for k, v in out.items()}
    return {"score": float(out)}


def call_objective(objective: Callable, arch: Any) -> Tuple[Dict[str, float], str, str, float]:
    """Runs ``objective(arch)`` and catches its failures (runs on the workers).

    Returns:
        ``(scores, status, message, wall_s)``; status ``"failed"`` after an exception (any
        ``Exception``; a ``BaseException`` such as KeyboardInterrupt propagates) or a
        non-finite ``score``.
    """
    t0 = time.perf_counter()
    try:
        scores = normalize_scores(objective(arch))
        if math.isfinite(scores["score"]):
            status, msg = "ok", ""
        else:
            status, msg = "failed", f"non-finite score {scores['score']!r}"
    except Exception as e:  # noqa: BLE001 - recorded, not raised
        scores, status, msg = {"score": float("nan")}, "failed", f"{type(e).__name__}: {e}"
    return scores, status, msg, time.perf_counter() - t0


# ----------------------------------------------------------------------------- outcome
@dataclass
class Outcome:
    """What the evaluator says about one proposed candidate.

    Attributes:
        arch: the candidate.
        status: ``"ok"``, ``"failed"``, ``"cached"`` (seen before; ``score`` is the earlier
            one), ``"rejected"`` (over a constraint) or ``"skipped"`` (budget spent).
        score: the primary score; ``-inf`` for a failed evaluation, None when not scored
            (rejected or skipped).
        record: the history record (ok/failed/cached), else None.
    """

    arch: Any
    status: str
    score: Optional[float]
    record: Optional[EvalRecord] = None

    @property
    def scored(self) -> bool:
        """Whether the candidate has a score (possibly -inf) a strategy may use."""
        return self.score is not None


def _primary(rec: EvalRecord) -> float:
    return rec.score if rec.ok and math.isfinite(rec.score) else -math.inf


def _same_setting(key: str, old: Any, new: Any, defaults: Mapping[str, Any]) -> bool:
    """Whether a log's meta value ``old`` matches this run's ``new`` (a ``config`` may lack
    settings added since, when this run uses their defaults)."""
    if old == new:
        return True
    if key != "config" or not isinstance(old, dict) or not isinstance(new, dict):
        return False
    return set(old) <= set(new) and all(old[k] == new[k] for k in old) and all(
        k in defaults and new[k] == defaults[k] for k in set(new) - set(old))


# ----------------------------------------------------------------------------- evaluator
class Evaluator:
    """Budgeted, deduplicating, constraint-checking, resumable candidate evaluation.

    Args:
        space: the search space (for identities of archs without ``arch_id``).
        objective: ``arch -> float | dict`` with a ``"score"`` key (higher is better).
        budget: number of objective evaluations (distinct architectures scored).
        executor: optional :class:`concurrent.futures.Executor` for batches.
        constraints: optional :class:`Constraints` (needs ``cost_fn``).
        cost_fn: ``arch -> dict`` of costs, recorded with every evaluation.
        history_path: JSONL log to append to / resume from.
        meta: run description written to (and checked against) the log's meta line.
        max_proposals: stop after this many proposals (a last guard against a strategy that
            keeps proposing seen or infeasible architectures; strategies widen their proposals
            long before, see :class:`~nascore.search.evolution.RegularizedEvolution`); default
            ``max(1000, 50 * budget)``.

    The search is also done (``stop_reason = "space exhausted"``) once every distinct
    architecture of a space of known size (:func:`space_size`) has been evaluated or
    rejected.
        progress: show a tqdm bar over the budget.
        config_defaults: the strategy's default settings: a log written before a setting
            existed (its meta ``config`` lacks the key) resumes when this run uses the default.
    """

    #: meta keys that must match when resuming.
    RESUME_KEYS = ("strategy", "config", "rng_state", "space", "constraints")

    def __init__(self, space: Any, objective: Callable, budget: int, *, executor=None,
                 constraints: Optional[Constraints] = None, cost_fn: Optional[Callable] = None,
                 history_path=None, meta: Optional[Dict[str, Any]] = None,
                 max_proposals: Optional[int] = None, progress: bool = False,
                 config_defaults: Optional[Dict[str, Any]] = None) -> None:
        if int(budget) < 0:
            raise ValueError(f"budget must be >= 0, got {budget}")
        if constraints is not None and constraints.active and cost_fn is None:
            raise ValueError("constraints need a cost_fn (arch -> dict of costs)")
        self.space, self.objective, self.budget = space, objective, int(budget)
        # sent to the executor's workers: each worker unpickles the objective once and keeps it
        self._remote = ResidentObjective(objective) if executor is not None else objective
        self.executor, self.constraints, self.cost_fn = executor, constraints, cost_fn
        self.max_proposals = int(max_proposals) if max_proposals else max(1000, 50 * self.budget)
        meta = json.loads(json.dumps(_clean(dict(meta or {})), default=str))
        self.history = SearchHistory(meta)
        self._seen: Dict[str, Any] = {}  # arch_id -> EvalRecord | RejectRecord
        self._replay: Dict[str, Any] = {}
        self.n_objective_calls = 0
        self.log: Optional[HistoryLog] = None
        if history_path is not None:
            self.log = HistoryLog(history_path, meta)
            defaults = json.loads(json.dumps(_clean(dict(config_defaults or {})), default=str))
            for k in self.RESUME_KEYS:
                if k in meta and not _same_setting(k, self.log.meta.get(k), meta[k], defaults):
                    self.log.close()
                    raise ValueError(f"cannot resume {history_path}: its {k!r} differs from this "
                                     f"run's ({self.log.meta.get(k)!r} vs {meta[k]!r})")
            self._replay = {ev.arch_id: ev for ev in self.log.events}
        self.space_size = space_size(space)
        self._bar = None
        if progress:
            self._bar = tqdm(total=self.budget, desc=str(meta.get("strategy", "search")))

    # --- state ------------------------------------------------------------------------
    @property
    def used(self) -> int:
        return len(self.history.records)

    @property
    def remaining(self) -> int:
        return max(0, self.budget - self.used)

    @property
    def n_seen(self) -> int:
        """Distinct architectures evaluated or rejected in this run."""
        return len(self._seen)

    @property
    def exhausted(self) -> bool:
        """Whether every architecture of the (finite, known-size) space has been seen."""
        return self.space_size is not None and self.n_seen >= self.space_size

    @property
    def done(self) -> bool:
        """Budget spent, space exhausted or proposal cap reached."""
        if self.remaining == 0:
            self.history.stop_reason = self.history.stop_reason or "budget"
            return True
        if self.exhausted:
            self.history.stop_reason = self.history.stop_reason or "space exhausted"
            return True
        if self.history.n_proposed >= self.max_proposals:
            self.history.stop_reason = self.history.stop_reason or "proposal cap"
            return True
        return False

    def seen(self, arch: Any) -> bool:
        """Whether ``arch`` was already evaluated or rejected in this run."""
        return arch_key(self.space, arch) in self._seen

    def lookup(self, arch: Any) -> Optional[Outcome]:
        """The outcome of an already seen architecture, without proposing it again."""
        rec = self._seen.get(arch_key(self.space, arch))
        if rec is None:
            return None
        if isinstance(rec, RejectRecord):
            return Outcome(arch, "rejected", None)
        return Outcome(arch, "cached", _primary(rec), rec)

    # --- evaluation -------------------------------------------------------------------
    def evaluate(self, archs: Sequence[Any]) -> List[Outcome]:
        """Evaluates a batch of candidates (see the module docstring for the steps)."""
        outs: List[Optional[Outcome]] = [None] * len(archs)
        todo: List[Tuple[int, Any, str, str, Dict[str, float]]] = []
        pending: Dict[str, int] = {}
        for i, arch in enumerate(archs):
            if self.history.n_proposed >= self.max_proposals:
                outs[i] = Outcome(arch, "skipped", None)
                continue
            self.history.n_proposed += 1
            aid = arch_key(self.space, arch)
            if aid in self._seen or aid in pending:
                self.history.n_cached += 1
                continue  # filled in below once the batch is scored
            aj = arch_json(self.space, arch)
            old = self._replay.get(aid)
            try:
                cost, reason = self._cost(arch, old), None
            except Exception as e:  # noqa: BLE001 - the candidate cannot be costed: rejected
                cost, reason = {}, f"cost_fn failed: {type(e).__name__}: {e}"
            if reason is None and self.constraints is not None:
                reason = self.constraints.check(cost)  # KeyError (caller bug) propagates
            if reason is not None:
                rec = RejectRecord(aid, aj, cost, reason, arch=arch)
                self._seen[aid] = rec
                self.history.rejected.append(rec)
                if self.log is not None and not isinstance(old, RejectRecord):
                    self.log.write(rec.to_line())
                outs[i] = Outcome(arch, "rejected", None)
                continue
            if len(todo) >= self.remaining:
                self.history.n_proposed -= 1  # not proposed: the budget was spent
                outs[i] = Outcome(arch, "skipped", None)
                continue
            pending[aid] = i
            todo.append((i, arch, aid, aj, cost))
        self._score(todo, outs)
        for i, arch in enumerate(archs):  # duplicates of this run's (or this batch's) archs
            if outs[i] is None:
                outs[i] = self.lookup(arch)
                if outs[i] is None:  # duplicate of a candidate skipped in this batch
                    outs[i] = Outcome(arch, "skipped", None)
        return outs  # type: ignore[return-value]

    def _cost(self, arch: Any, old: Any) -> Dict[str, float]:
        if old is not None and (old.cost or self.cost_fn is None):
            return dict(old.cost)
        if self.cost_fn is None:
            return {}
        return {str(k): float(v) for k, v in self.cost_fn(arch).items()}

    def _score(self, todo, outs) -> None:
        futures: Dict[int, Any] = {}
        replayed: Dict[int, EvalRecord] = {}
        for i, arch, aid, _, _ in todo:
            old = self._replay.get(aid)
            if isinstance(old, EvalRecord):
                replayed[i] = old
            elif self.executor is not None:
                futures[i] = self.executor.submit(call_objective, self._remote, arch)
        try:
            for i, arch, aid, aj, cost in todo:
                if i in replayed:
                    old = replayed[i]
                    rec = EvalRecord(self.used, aid, aj, dict(old.scores), cost, old.status,
                                     old.message, old.wall_s, arch=arch)
                else:
                    if i in futures:
                        scores, status, msg, wall = futures.pop(i).result()
                    else:
                        scores, status, msg, wall = call_objective(self.objective, arch)
                    self.n_objective_calls += 1
                    rec = EvalRecord(self.used, aid, aj, scores, cost, status, msg, wall, arch=arch)
                    if self.log is not None:
                        self.log.write(rec.to_line())
                self.history.records.append(rec)
                self._seen[aid] = rec
                outs[i] = Outcome(arch, rec.status, _primary(rec), rec)
                if self._bar is not None:
                    self._bar.update(1)
        finally:
            for f in futures.values():
                f.cancel()

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
        if self._bar is not None:
            self._bar.close()
