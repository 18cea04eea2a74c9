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


class CheckpointBusy(RuntimeError):
    """A :func:`checkpoint_lock` is held elsewhere; ``holder`` says by whom (for messages)."""

    def __init__(self, message: str, holder: str):
        super().__init__(message)
        self.holder = holder


@contextlib.contextmanager
def checkpoint_lock(checkpoint_dir: Optional[os.PathLike]) -> Iterator[Optional[Path]]:
    """Holds an exclusive ``flock`` on ``checkpoint_dir/.lock`` while a run trains into the folder.

    The kernel releases the lock when its holder exits in any way (``SIGKILL`` included), so no
    lock outlives its process; the file itself stays (it holds the holder's pid and host while
    held, for the error message). Without ``fcntl`` (Windows) nothing is locked.
    ``checkpoint_dir=None``: no lock.

    Raises:
        CheckpointBusy: (a ``RuntimeError``) another process (or another ``checkpoint_lock``
            in this process) holds the lock; the message names the folder and the holder.
        OSError: the folder cannot be created or the lock file not opened (a read-only folder).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        fcntl = None
    if checkpoint_dir is None or fcntl is None:
        yield None
        return
    d = Path(checkpoint_dir)
    d.mkdir(parents=True, exist_ok=True)
    lock = d / LOCK
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)  # 0666 & ~umask, like the checkpoints
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                held = json.loads(lock.read_text() or "{}")
            except (OSError, ValueError):
                held = {}
            who = ("this process already holds it" if held.get("pid") == os.getpid()
                   and held.get("host") == socket.gethostname()
                   else f"process {held['pid']} on {held.get('host')} holds it" if "pid" in held
                   else "another process holds it")
            raise CheckpointBusy(f"checkpoint folder {d} is in use: {who} (lock {lock}); wait "
                                 "for that run to finish, or train into another folder",
                                 who) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
        try:
            yield lock
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
