"""Search histories: in-memory records and the resumable JSONL log.

A :class:`SearchHistory` holds one :class:`EvalRecord` per evaluation (objective call), in
proposal order, plus the candidates rejected by the constraints before scoring
(:class:`RejectRecord`, counted by :attr:`SearchHistory.n_rejected`).

On disk a history is a JSONL file (:class:`HistoryLog`): a ``meta`` line describing the run,
then one ``eval`` or ``rejected`` line per event. Every line is written with ``flush`` +
``os.fsync`` before the search goes on, so a killed run loses at most the line being written;
a torn last line (no trailing newline, unparsable) is ignored on reload and cut off before
appending. Non-finite floats are stored as ``null`` and read back as NaN.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

FORMAT_VERSION = 1


def _clean(v: Any) -> Any:
    """Floats -> JSON-safe (NaN/inf -> None), recursively."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _floats(d: Optional[Dict[str, Any]]) -> Dict[str, float]:
    return {str(k): (float("nan") if v is None else float(v)) for k, v in (d or {}).items()}


@dataclass
class EvalRecord:
    """One evaluation.

    Attributes:
        index: position in the history (0-based evaluation count).
        arch_id: the architecture's identity (``arch.arch_id`` or a JSON-derived key).
        arch_json: the architecture as JSON text.
        scores: the objective's outputs; ``"score"`` is the primary one (higher is better);
            NaN for a failed evaluation.
        cost: the cost function's outputs (params, flops, latency ...); empty without one.
        status: ``"ok"`` or ``"failed"``.
        message: the failure message (empty when ok).
        wall_s: wall time of the objective call (seconds).
        arch: the architecture object (None when loaded from disk without an arch class).
    """

    index: int
    arch_id: str
    arch_json: str
    scores: Dict[str, float]
    cost: Dict[str, float] = field(default_factory=dict)
    status: str = "ok"
    message: str = ""
    wall_s: float = float("nan")
    arch: Any = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def score(self) -> float:
        """The primary score (NaN when failed)."""
        return float(self.scores.get("score", float("nan")))

    def to_line(self) -> Dict[str, Any]:
        return _clean({"type": "eval", "index": self.index, "arch_id": self.arch_id,
                       "arch": self.arch_json, "scores": self.scores, "cost": self.cost,
                       "status": self.status, "message": self.message, "wall_s": self.wall_s})

    @classmethod
    def from_line(cls, d: Dict[str, Any]) -> "EvalRecord":
        return cls(index=int(d["index"]), arch_id=str(d["arch_id"]), arch_json=str(d["arch"]),
                   scores=_floats(d.get("scores")), cost=_floats(d.get("cost")),
                   status=str(d.get("status", "ok")), message=str(d.get("message", "")),
                   wall_s=float("nan") if d.get("wall_s") is None else float(d["wall_s"]))

    def signature(self) -> Tuple:
        """Everything but the wall time, for comparing runs (NaN-safe)."""
        fl = lambda d: tuple(sorted((k, None if math.isnan(v) else v) for k, v in d.items()))
        return (self.index, self.arch_id, self.arch_json, fl(self.scores), fl(self.cost),
                self.status, self.message)


@dataclass
class RejectRecord:
    """A candidate rejected by the constraints before it was scored."""

    arch_id: str
    arch_json: str
    cost: Dict[str, float]
    reason: str
    arch: Any = field(default=None, repr=False, compare=False)

    def to_line(self) -> Dict[str, Any]:
        return _clean({"type": "rejected", "arch_id": self.arch_id, "arch": self.arch_json,
                       "cost": self.cost, "reason": self.reason})

    @classmethod
    def from_line(cls, d: Dict[str, Any]) -> "RejectRecord":
        return cls(arch_id=str(d["arch_id"]), arch_json=str(d["arch"]), cost=_floats(d.get("cost")),
                   reason=str(d.get("reason", "")))


class SearchHistory:
    """Evaluations of one search, in proposal order.

    Attributes:
        records: the evaluations (ok and failed).
        rejected: the candidates rejected before scoring (unique by arch_id).
        meta: the run description (strategy, config, seed state, constraints).
        n_cached: proposals of an already evaluated architecture (answered from the history,
            not counted in the budget).
        n_proposed: every candidate the strategy proposed.
        n_objective_calls: objective calls made by this process (replayed evaluations of a
            resumed run are not calls).
        stop_reason: why the search stopped: ``"budget"`` (every evaluation spent),
            ``"space exhausted"`` (every distinct architecture of a finite space evaluated or
            rejected), ``"strategy"`` (the strategy finished, e.g. blockwise's last stage) or
            ``"proposal cap"`` (the evaluator's last guard).
        info: strategy-specific counters, e.g. evolution's children per mutation width
            (``{"children": {"1": 812, "2": 95, "random": 12}, "widenings": 30}``).

    :meth:`summary` gathers the counts (evaluations actually spent against the budget).
    """

    def __init__(self, meta: Optional[Dict[str, Any]] = None) -> None:
        self.records: List[EvalRecord] = []
        self.rejected: List[RejectRecord] = []
        self.meta: Dict[str, Any] = dict(meta or {})
        self.n_cached = 0
        self.n_proposed = 0
        self.n_objective_calls = 0
        self.stop_reason = ""
        self.info: Dict[str, Any] = {}

    # --- basic access -----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[EvalRecord]:
        return iter(self.records)

    def __getitem__(self, i: int) -> EvalRecord:
        return self.records[i]

    @property
    def n_rejected(self) -> int:
        """Number of distinct candidates rejected by the constraints."""
        return len(self.rejected)

    @property
    def n_failed(self) -> int:
        return sum(not r.ok for r in self.records)

    def summary(self) -> Dict[str, Any]:
        """What the search spent (JSON-able): ``budget`` (from the meta line), ``n_evals``
        (evaluations actually spent: ok + failed), ``n_ok``, ``n_failed``, ``n_proposed``
        (every candidate proposed), ``n_cached`` (proposals of an architecture already seen),
        ``n_rejected`` (distinct candidates over a constraint), ``n_objective_calls`` (made by
        this process), ``stop_reason`` and the strategy's ``info``."""
        return _clean({"budget": self.meta.get("budget"), "n_evals": len(self.records),
                       "n_ok": len(self.records) - self.n_failed, "n_failed": self.n_failed,
                       "n_proposed": self.n_proposed, "n_cached": self.n_cached,
                       "n_rejected": self.n_rejected, "n_objective_calls": self.n_objective_calls,
                       "stop_reason": self.stop_reason, "info": dict(self.info)})

    def best(self, metric: str = "score") -> Optional[EvalRecord]:
        """The ok record with the highest finite ``metric`` (first one on ties), or None."""
        best = None
        for r in self.records:
            v = r.scores.get(metric, float("nan"))
            if r.ok and math.isfinite(v) and (best is None or v > best.scores[metric]):
                best = r
        return best

    def anytime(self, metric: str = "score", report: Optional[str] = None) -> np.ndarray:
        """Best-so-far after each evaluation (NaN before the first ok one).

        Args:
            metric: the key that ranks records (higher is better).
            report: if given, report this key (from ``scores`` or ``cost``) of the
                best-so-far record instead of ``metric`` itself, e.g. the true accuracy of the
                architecture a proxy search would return after each evaluation.
        """
        out = np.full(len(self.records), np.nan)
        best: Optional[EvalRecord] = None
        for i, r in enumerate(self.records):
            v = r.scores.get(metric, float("nan"))
            if r.ok and math.isfinite(v) and (best is None or v > best.scores[metric]):
                best = r
            if best is not None:
                key = metric if report is None else report
                out[i] = best.scores.get(key, best.cost.get(key, float("nan")))
        return out

    def values(self, key: str, source: str = "scores") -> np.ndarray:
        """One value per record from ``scores`` or ``cost`` (NaN where missing)."""
        return np.array([getattr(r, source).get(key, np.nan) for r in self.records], dtype=float)

    def to_frame(self):
        """One row per evaluation: ``index``, ``arch_id``, ``arch``, ``status``, ``message``,
        ``wall_s``, one column per score and one ``cost_<key>`` column per cost."""
        import pandas as pd

        rows = []
        for r in self.records:
            row = {"index": r.index, "arch_id": r.arch_id, "arch": r.arch_json,
                   "status": r.status, "message": r.message, "wall_s": r.wall_s}
            row.update(r.scores)
            row.update({f"cost_{k}": v for k, v in r.cost.items()})
            rows.append(row)
        return pd.DataFrame(rows, columns=None if rows else
                            ["index", "arch_id", "arch", "status", "message", "wall_s", "score"])

    def signature(self) -> List[Tuple]:
        """The records and rejections without wall times (equal for equal runs)."""
        return [r.signature() for r in self.records] + [
            ("rejected", r.arch_id, r.arch_json, r.reason) for r in self.rejected]

    # --- disk -------------------------------------------------------------------------
    @classmethod
    def open(cls, path: os.PathLike, arch_cls: Any = None) -> "SearchHistory":
        """Loads a JSONL history (see :class:`HistoryLog`).

        Args:
            path: the file.
            arch_cls: optional class with ``from_json`` to rebuild ``record.arch``.

        Raises:
            FileNotFoundError: naming the path. ValueError: naming the file and line when a
            line other than a torn last one is malformed.
        """
        meta, events, _ = read_jsonl(path)
        h = cls(meta)
        for ev in events:
            if isinstance(ev, EvalRecord):
                ev.index = len(h.records)
                h.records.append(ev)
            else:
                h.rejected.append(ev)
            if arch_cls is not None:
                ev.arch = arch_cls.from_json(ev.arch_json)
        return h


def read_jsonl(path: os.PathLike):
    """Parses a history file.

    Returns:
        ``(meta, events, good_bytes)``: the meta dict, the eval/rejected records in file order
        and the byte length of the well-formed prefix (a torn last line is excluded).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"search history {p} does not exist")
    data = p.read_bytes()
    lines = data.split(b"\n")
    meta: Dict[str, Any] = {}
    events: List[Any] = []
    good = 0
    pos = 0
    for i, raw in enumerate(lines):
        last = i == len(lines) - 1
        end = pos + len(raw) + (0 if last else 1)
        if not raw.strip():
            if not last:
                good = end
            pos = end
            continue
        try:
            d = json.loads(raw.decode("utf-8"))
            if not isinstance(d, dict) or "type" not in d:
                raise ValueError("not a JSON object with a 'type'")
            if last:  # complete JSON but no newline: a write cut just before "\n"
                raise ValueError("no trailing newline")
        except (ValueError, UnicodeDecodeError) as e:
            if last:  # torn last line from a kill: ignored
                break
            raise ValueError(f"malformed search history {p}, line {i + 1}: {e}") from None
        try:
            if d["type"] == "meta":
                meta = d
            elif d["type"] == "eval":
                events.append(EvalRecord.from_line(d))
            elif d["type"] == "rejected":
                events.append(RejectRecord.from_line(d))
            else:
                raise ValueError(f"unknown record type {d['type']!r}")
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"malformed search history {p}, line {i + 1}: {e!r}") from None
        good = end
        pos = end
    return meta, events, good


class HistoryLog:
    """Append-only JSONL writer with a durable write per line.

    Opening an existing file cuts off a torn last line so that new lines start clean.

    Args:
        path: the file (created with its folder).
        meta: written as the first line of a new (or empty) file.
    """

    def __init__(self, path: os.PathLike, meta: Dict[str, Any]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.meta: Dict[str, Any] = {}
        self.events: List[Any] = []
        if self.path.is_file() and self.path.stat().st_size > 0:
            self.meta, self.events, good = read_jsonl(self.path)
            if good < self.path.stat().st_size:
                with open(self.path, "r+b") as f:
                    f.truncate(good)
                    f.flush()
                    os.fsync(f.fileno())
        self._f = open(self.path, "ab")
        if not self.meta:
            self.meta = dict(meta, type="meta", version=FORMAT_VERSION)
            self.write(self.meta)

    def write(self, line: Dict[str, Any]) -> None:
        """Appends one JSON line and makes it durable (flush + fsync)."""
        self._f.write((json.dumps(_clean(line), sort_keys=True) + "\n").encode("utf-8"))
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
