"""Atomic, resumable training checkpoints.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (so it loads with
``torch.load(weights_only=True)``), written with ``torch.save`` to a temporary file beside the
target and moved into place with ``os.replace`` (:func:`nascore.provenance.atomic_write_bytes`), so an
interrupted write never leaves a truncated checkpoint.

:func:`checkpoint_lock` keeps two processes (say a ``seg_prefill`` job and the notebook started
by mistake at the same time) from training into one checkpoint folder at once.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import warnings
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import torch

from nascore.provenance import atomic_write_bytes

LAST = "last.pt"
BEST = "best.pt"
LOCK = ".lock"


def save_checkpoint(path: os.PathLike, state: Dict[str, Any]) -> Path:
    """Writes ``state`` atomically to ``path`` (parents are created)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: os.PathLike, map_location: Any = "cpu") -> Dict[str, Any]:
    """Loads a checkpoint written by :func:`save_checkpoint`.

    Raises:
        FileNotFoundError: naming ``path`` when it is absent.
        ValueError: naming ``path`` when it cannot be read as a checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a bad file
        raise ValueError(f"checkpoint {path} is unreadable: {e}") from e
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {path}: expected a dict, got {type(state).__name__}")
    return state


def find_checkpoint(checkpoint_dir: Optional[os.PathLike], name: str = LAST) -> Optional[Path]:
    """``checkpoint_dir/name`` if it exists, else None."""
    if checkpoint_dir is None:
        return None
    p = Path(checkpoint_dir) / name
    return p if p.is_file() else None


def cpu_state_dict(module: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """A detached CPU copy of ``module.state_dict()``."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@contextlib.contextmanager
def checkpoint_lock(checkpoint_dir: Optional[os.PathLike]) -> Iterator[Optional[Path]]:
    """Holds ``checkpoint_dir/.lock`` (pid and host, created exclusively) while training.

    A lock left by a process that is gone (same host, pid not running, or an unreadable lock
    file) is taken over with a warning. ``checkpoint_dir=None``: no lock.

    Raises:
        RuntimeError: another live process on this host, or any process on another host (a
            shared file system), holds the lock; the message names the folder, the holder and
            the file to delete if that holder is known to be gone.
    """
    if checkpoint_dir is None:
        yield None
        return
    d = Path(checkpoint_dir)
    d.mkdir(parents=True, exist_ok=True)
    lock = d / LOCK
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                held = json.loads(lock.read_text())
                pid, host = int(held["pid"]), str(held["host"])
            except (OSError, ValueError, KeyError, TypeError):
                pid, host = None, None
            if pid is not None and (host != me["host"] or _alive(pid)):
                raise RuntimeError(
                    f"checkpoint folder {d} is in use by process {pid} on {host} (lock file "
                    f"{lock}); wait for it to finish, or delete the lock file if that process "
                    "is gone") from None
            warnings.warn(f"taking over the stale lock {lock} (holder {pid} on {host} is gone)",
                          stacklevel=3)
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        break
    else:  # another process took the stale lock between our unlink and create
        raise RuntimeError(f"checkpoint folder {d} is in use (lock file {lock})")
    try:
        yield lock
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
