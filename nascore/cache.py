"""On-disk score cache so a rerun recomputes nothing.

A :class:`ScoreCache` is a SQLite file (WAL journal, one transaction per write), keyed by
``(dataset, arch_key, proxy, batch_seed)`` and storing ``value``, ``time_s``, ``status`` and an
optional JSON ``extra``. SQLite makes every write atomic, so a killed process leaves either the
whole row or nothing, and several processes may append to one file at once (writers wait up to
``timeout`` seconds for the lock). ``arch_key`` is any string (NB201 arch string, arch id,
AutoFormer ``arch_key``); ints are stored as their decimal string. NaN values come back as NaN
(SQLite stores them as NULL).

:func:`source_hash` of a :func:`module_closure` is the code part of a score's key
(:func:`nascore.proxies.versions.proxy_version`): a hash of the proxy's module and of every module
of the package it imports, found automatically (no hand-kept file list), so editing a proxy or a
primitive it uses invalidates exactly the scores that depend on it.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import json
import math
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable, List, NamedTuple, Optional

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    dataset TEXT NOT NULL,
    arch_key TEXT NOT NULL,
    proxy TEXT NOT NULL,
    batch_seed INTEGER NOT NULL,
    value REAL,
    time_s REAL,
    status TEXT NOT NULL,
    extra TEXT,
    created REAL NOT NULL,
    PRIMARY KEY (dataset, arch_key, proxy, batch_seed)
)
"""


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _imports(name: str, package: str) -> List[str]:
    """Modules of ``package`` that module ``name`` imports (anywhere in its source), by AST
    (cached per source file, keyed by its modification time and size)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return []
    st = os.stat(spec.origin)
    return list(_parsed_imports(name, package, spec.origin, spec.submodule_search_locations is not None,
                                st.st_mtime_ns, st.st_size))


@functools.lru_cache(maxsize=4096)
def _parsed_imports(name: str, package: str, origin: str, is_package: bool, mtime_ns: int,
                    size: int) -> tuple:
    tree = ast.parse(Path(origin).read_text(), filename=origin)
    here = name if is_package else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.rsplit(".", node.level - 1)[0] if node.level > 1 else here
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            subs = [f"{base}.{a.name}" for a in node.names if _is_module(f"{base}.{a.name}")]
            found += subs
            if node.module or len(subs) < len(node.names):  # not only submodules of a package
                found.append(base)
    return tuple(m for m in found if (m == package or m.startswith(package + ".")) and _is_module(m))


def module_closure(roots: Iterable[str], package: str = "nascore") -> List[str]:
    """``roots`` and every module of ``package`` they import, transitively (sorted names)."""
    todo, seen = list(roots), set()
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo += _imports(m, package)
    return sorted(seen)


def source_hash(modules: Iterable[str]) -> str:
    """12-hex SHA-1 of the names and source bytes of ``modules``."""
    h = hashlib.sha1()
    for m in sorted(modules):
        h.update(m.encode())
        h.update(Path(importlib.util.find_spec(m).origin).read_bytes())
    return h.hexdigest()[:12]


class CacheEntry(NamedTuple):
    """One cached score."""

    value: float
    time_s: float
    status: str
    extra: Optional[dict] = None


class ScoreCache:
    """SQLite-backed cache of proxy scores.

    Args:
        path: the database file (created with its folder if missing).
        timeout: seconds a writer waits for another process's lock.

    Example:
        >>> cache = ScoreCache(tmp / "scores.sqlite")          # doctest: +SKIP
        >>> if ("|...|", "synflow", 0) not in cache:           # doctest: +SKIP
        ...     cache.put("|...|", "synflow", 0, value=1.2, time_s=0.3)
    """

    def __init__(self, path: os.PathLike, timeout: float = 60.0):
        self.path = Path(path)
        self.timeout = timeout
        self._conn: Optional[sqlite3.Connection] = None
        self._pid = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connect()

    # connection per process (the object may be pickled to workers)
    def _connect(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            try:
                conn = sqlite3.connect(str(self.path), timeout=self.timeout)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                with conn:
                    conn.execute(_SCHEMA)
            except sqlite3.DatabaseError as e:
                raise ValueError(f"score cache {self.path} is not a valid SQLite database: {e}") from e
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def __getstate__(self):
        return {"path": self.path, "timeout": self.timeout}

    def __setstate__(self, state):
        self.path, self.timeout = state["path"], state["timeout"]
        self._conn, self._pid = None, None

    def close(self) -> None:
        """Closes this process's connection (reopened on next use)."""
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def _key(arch_key, proxy, batch_seed, dataset) -> tuple:
        return (str(dataset), str(arch_key), str(proxy), int(batch_seed))

    def get(self, arch_key, proxy: str, batch_seed: int = 0, dataset: str = "") -> Optional[CacheEntry]:
        """The cached entry, or None."""
        row = self._connect().execute(
            "SELECT value, time_s, status, extra FROM scores WHERE dataset=? AND arch_key=? "
            "AND proxy=? AND batch_seed=?", self._key(arch_key, proxy, batch_seed, dataset)).fetchone()
        if row is None:
            return None
        value = float("nan") if row[0] is None else float(row[0])
        time_s = float("nan") if row[1] is None else float(row[1])
        return CacheEntry(value, time_s, row[2], json.loads(row[3]) if row[3] else None)

    def put(self, arch_key, proxy: str, batch_seed: int = 0, value: float = float("nan"),
            time_s: float = float("nan"), status: str = "ok", dataset: str = "",
            extra: Optional[dict] = None) -> None:
        """Stores (or replaces) one score; committed (durably) before returning."""
        v = None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
        ts = None if time_s is None or math.isnan(float(time_s)) else float(time_s)
        ex = json.dumps(extra, sort_keys=True, default=str) if extra is not None else None
        conn = self._connect()
        with conn:
            conn.execute("INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?,?,?,?)",
                         (*self._key(arch_key, proxy, batch_seed, dataset), v, ts, str(status), ex,
                          time.time()))

    def put_result(self, arch_key, proxy: str, batch_seed: int, result: Any, dataset: str = "") -> None:
        """Stores an object with ``value``, ``time_s``, ``status`` and (optionally) ``extra``
        attributes (e.g. a ProxyResult); ``extra`` is kept, so components survive the cache."""
        extra = getattr(result, "extra", None)
        self.put(arch_key, proxy, batch_seed, value=getattr(result, "value"),
                 time_s=getattr(result, "time_s", float("nan")),
                 status=str(getattr(result, "status", "ok")), dataset=dataset,
                 extra=dict(extra) if extra else None)

    def __contains__(self, key) -> bool:
        """``(arch_key, proxy, batch_seed)`` or ``(arch_key, proxy, batch_seed, dataset)`` in cache."""
        if not isinstance(key, tuple) or len(key) not in (3, 4):
            raise TypeError("key must be (arch_key, proxy, batch_seed[, dataset])")
        return self.get(*key) is not None

    def __len__(self) -> int:
        return int(self._connect().execute("SELECT COUNT(*) FROM scores").fetchone()[0])

    def to_frame(self):
        """All entries as a pandas DataFrame (columns dataset, arch_key, proxy, batch_seed,
        value, time_s, status, extra, created), sorted by key."""
        import pandas as pd

        rows = self._connect().execute(
            "SELECT dataset, arch_key, proxy, batch_seed, value, time_s, status, extra, created "
            "FROM scores ORDER BY dataset, arch_key, proxy, batch_seed").fetchall()
        df = pd.DataFrame(rows, columns=["dataset", "arch_key", "proxy", "batch_seed", "value",
                                         "time_s", "status", "extra", "created"])
        df["value"] = df["value"].astype(float)
        df["time_s"] = df["time_s"].astype(float)
        return df
