"""Atomic file writes with normal permissions, and the provenance of a prepared folder.

``data_prep`` imports nothing from ``nascore`` (``nascore`` imports ``data_prep``, one way
only), so these few helpers live here.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Mapping, Optional

_REPO = Path(__file__).resolve().parent.parent


def _umask() -> int:
    """The process umask: read from ``/proc/self/status`` where the kernel reports it (Linux
    4.7+), so that no other thread ever sees a changed umask; elsewhere set and restored."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def atomic_write_bytes(path: os.PathLike, data: bytes) -> Path:
    """Writes ``data`` to a temporary file beside ``path``, then renames it into place.

    The file gets the permissions a plain ``open(path, "w")`` would give (``0666 & ~umask``,
    i.e. 0644 under umask 022), not ``mkstemp``'s 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: os.PathLike, text: str) -> Path:
    """Atomic UTF-8 text write (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _git_sha() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=_REPO, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        return sha or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(config: Optional[Mapping[str, Any]] = None, seed: Optional[int] = None) -> dict:
    """Config, seed, git SHA of the checkout, UTC time and versions (for ``prepared.json``)."""
    import numpy as np

    return {"config": dict(config or {}), "seed": seed, "git_sha": _git_sha(),
            "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(), "numpy": np.__version__,
            "host": platform.machine()}
