"""Atomic, resumable training checkpoints.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (so it loads with
``torch.load(weights_only=True)``), written with ``torch.save`` to a temporary file beside the
target and moved into place with ``os.replace`` (:func:`nascore.provenance.atomic_write_bytes`), so an
interrupted write never leaves a truncated checkpoint.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from nascore.provenance import atomic_write_bytes

LAST = "last.pt"
BEST = "best.pt"


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
