"""Provenance records and atomic result files (JSON, CSV, figures) for every result.

Every writer goes through a temporary file beside the target plus ``os.replace``, so a crash
never leaves a half-written file.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Sequence

from data_prep._files import atomic_write_bytes, atomic_write_text  # noqa: F401 - re-exported

from .paths import repo_root


def git_sha() -> str:
    """The current git commit (with ``-dirty`` when the tree has changes); outside a git
    checkout (a copy of the tree on another machine) the ``NASCORE_GIT_SHA`` environment
    variable, else ``unknown``."""
    fallback = os.environ.get("NASCORE_GIT_SHA") or "unknown"
    try:
        root = repo_root()
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        if not sha:
            return fallback
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return fallback


#: Entries every provenance record gains: ``name -> fn(config) -> JSON value``. A layer above
#: registers its own (:mod:`nascore.proxies` records the proxies' code versions), so this
#: module imports nothing above it.
PROVENANCE_EXTRAS: Dict[str, Callable[[Mapping[str, Any]], Any]] = {}


def register_provenance_extra(name: str, fn: Callable[[Mapping[str, Any]], Any]) -> None:
    """Adds ``name: fn(config)`` to every later :func:`provenance` record."""
    PROVENANCE_EXTRAS[name] = fn


def provenance(config: Optional[Mapping[str, Any]] = None, seed: Optional[int] = None) -> dict:
    """A provenance record: config, seed, git SHA, UTC timestamp and versions (plus the
    :data:`PROVENANCE_EXTRAS`, e.g. ``proxy_versions``; one that fails records why)."""
    import numpy as np

    rec = {
        "config": dict(config or {}),
        "seed": seed,
        "git_sha": git_sha(),
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "host": platform.machine(),
    }
    try:  # torch is a dependency, but keep provenance usable from torch-free code
        import torch

        rec["torch"] = torch.__version__
    except ImportError:  # pragma: no cover
        pass
    for name, fn in PROVENANCE_EXTRAS.items():
        try:
            rec[name] = fn(rec["config"])
        except Exception as e:  # noqa: BLE001 - provenance must not stop a result being written
            rec[name] = f"unavailable: {type(e).__name__}: {e}"
    return rec


def _json_default(o: Any):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_json(path: os.PathLike, obj: Any) -> Path:
    """Atomic JSON write with sorted keys."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_metrics(path: os.PathLike, metrics: Mapping[str, Any], config: Optional[Mapping] = None,
                  seed: Optional[int] = None) -> Path:
    """Writes ``metrics`` plus a ``provenance`` block atomically as JSON."""
    out = dict(metrics)
    out["provenance"] = provenance(config, seed)
    return write_json(path, out)


def write_csv(path: os.PathLike, df, config: Optional[Mapping] = None, seed: Optional[int] = None) -> Path:
    """Writes a pandas DataFrame atomically, with a ``# provenance: {...}`` first line.

    Read it back with ``pandas.read_csv(path, comment="#")``.
    """
    prov = json.dumps(provenance(config, seed), sort_keys=True, default=_json_default)
    return atomic_write_text(path, f"# provenance: {prov}\n" + df.to_csv(index=False))


def save_figure(fig, path: os.PathLike, dpi: int = 150) -> Path:
    """Saves a matplotlib figure atomically (PNG by suffix) with provenance in its metadata."""
    import io as _io

    path = Path(path)
    buf = _io.BytesIO()
    meta = {"Software": f"nascore git {git_sha()}"} if path.suffix.lower() == ".png" else None
    fig.savefig(buf, format=path.suffix.lstrip(".") or "png", dpi=dpi, bbox_inches="tight", metadata=meta)
    return atomic_write_bytes(path, buf.getvalue())


#: IPython's own globals that hold plain values (input/output history).
_IPYTHON_NAMES = frozenset({"In", "Out"})


def _is_literal(v: Any) -> bool:
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    if isinstance(v, (list, tuple)):
        return all(_is_literal(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _is_literal(x) for k, x in v.items())
    return False


def notebook_params(namespace: Mapping[str, Any], exclude: Sequence[str] = ()) -> dict:
    """The parameters of a notebook: every public name of ``namespace`` bound to a literal.

    Call it as ``config = notebook_params(globals())`` in the first cell after the
    ``parameters`` cell (and papermill's injected one), before the notebook defines anything
    else: the parameters cell holds literals only, so the result is exactly its names with
    their (possibly papermill-overridden) values, in definition order, ready for
    :func:`provenance`. Imports, functions and other objects are skipped, as are names
    starting with ``_`` and IPython's ``In``/``Out``.

    Args:
        namespace: the notebook's ``globals()``.
        exclude: names to leave out.

    Returns:
        ``{name: value}`` with values ``None``, ``bool``, ``int``, ``float``, ``str`` or
        lists/tuples/str-keyed dicts of those (a copy: lists are copied, not shared).

    Example:
        >>> n_samples, seed, proxies, np_mod = 24, 0, ["synflow"], __import__("math")
        >>> notebook_params({"n_samples": n_samples, "seed": seed, "proxies": proxies,
        ...                  "np_mod": np_mod, "_x": 1})
        {'n_samples': 24, 'seed': 0, 'proxies': ['synflow']}
    """
    import copy

    skip = set(exclude) | _IPYTHON_NAMES
    return {k: copy.deepcopy(v) for k, v in namespace.items()
            if not k.startswith("_") and k not in skip and _is_literal(v)}
