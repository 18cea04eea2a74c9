"""How a loss is taken from a model output and targets, for classification and dense outputs.

* Model outputs: a tensor, or a tuple/list (the last element is the logits, as NB201's original
  ``(features, logits)``), or a dict with ``"logits"``/``"out"``. **Several heads** (deep
  supervision) are found by structure and the full-resolution head is scored: a tensor with one
  dimension more than the input (MONAI ``DynUNet`` stacks its heads on dim 1 in training: head
  0), or a list/tuple of dense tensors shaped like the input (``SegResNetDS``: the head with the
  most pixels, the first of ties). The harness records which (``ProxyResult.layers``:
  ``output=...``).
* Classification: logits ``(B, K)`` and labels ``(B,)`` → cross-entropy.
* Dense (segmentation): logits ``(B, K, *S)`` and masks ``(B, *S)`` or ``(B, 1, *S)`` →
  per-pixel cross-entropy averaged over all pixels (``K > 1``; mask values are class ids), or
  binary cross-entropy with logits (``K == 1``; mask ``> 0`` is foreground). Masks of another
  spatial size are resized with nearest-neighbour interpolation.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Optional

import torch
import torch.nn.functional as F

#: Where :func:`as_logits` says which head of several it took (set by the harness per call).
OUTPUT_NOTES: ContextVar[Optional[dict]] = ContextVar("OUTPUT_NOTES", default=None)


def _note(text: str) -> None:
    notes = OUTPUT_NOTES.get()
    if notes is not None:
        notes["output"] = text


def as_logits(out: Any, x: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The logits tensor in a model output (see the module docstring: tensor, several heads,
    tuple/list → last element, dict). ``x``: the input, by whose shape heads are recognised.

    Raises:
        TypeError: when no tensor can be found.
    """
    if isinstance(out, torch.Tensor):
        if x is not None and x.dim() >= 3 and out.dim() == x.dim() + 1 and out.shape[0] == x.shape[0]:
            _note(f"deep supervision: head 0 of {out.shape[1]} stacked (full resolution)")
            return out[:, 0]
        return out
    if isinstance(out, (tuple, list)) and out:
        dense = (x is not None and x.dim() >= 3 and len(out) > 1
                 and all(isinstance(t, torch.Tensor) and t.dim() == x.dim()
                         and t.shape[:2] == out[0].shape[:2] for t in out))
        if dense:
            sizes = [t[0, 0].numel() for t in out]
            k = sizes.index(max(sizes))
            _note(f"deep supervision: head {k} of {len(out)} (full resolution)")
            return out[k]
        return as_logits(out[-1])
    if isinstance(out, dict):
        for k in ("logits", "out", "pred"):
            if k in out:
                return as_logits(out[k])
    raise TypeError(f"cannot find logits in model output of type {type(out).__name__}")


def target_kind(logits: torch.Tensor, targets: torch.Tensor) -> str:
    """``"class"``, ``"dense"`` (multi-class masks) or ``"binary_dense"`` (one logit channel).

    Raises:
        ValueError: if the shapes do not fit any kind.
    """
    if logits.dim() == 2:
        if targets.dim() != 1 or targets.shape[0] != logits.shape[0]:
            raise ValueError(f"class logits {tuple(logits.shape)} need labels (B,), "
                             f"got targets {tuple(targets.shape)}")
        return "class"
    if logits.dim() >= 3:
        sdims = logits.dim() - 2
        if targets.dim() not in (sdims + 1, sdims + 2) or targets.shape[0] != logits.shape[0]:
            raise ValueError(f"dense logits {tuple(logits.shape)} need masks (B,*S) or (B,1,*S), "
                             f"got targets {tuple(targets.shape)}")
        return "binary_dense" if logits.shape[1] == 1 else "dense"
    raise ValueError(f"logits must be (B,K) or (B,K,*S), got {tuple(logits.shape)}")


def _dense_mask(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Masks as ``(B, *S)`` at the logits' spatial size."""
    sdims = logits.dim() - 2
    m = targets if targets.dim() == sdims + 1 else targets[:, 0]
    if tuple(m.shape[1:]) != tuple(logits.shape[2:]):
        m = F.interpolate(m[:, None].float(), size=logits.shape[2:], mode="nearest")[:, 0]
    return m


def task_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean loss for the kind given by :func:`target_kind` (see the module docstring)."""
    kind = target_kind(logits, targets)
    if kind == "class":
        return F.cross_entropy(logits, targets.long())
    m = _dense_mask(logits, targets)
    if kind == "binary_dense":
        return F.binary_cross_entropy_with_logits(logits[:, 0], (m > 0).to(logits.dtype))
    return F.cross_entropy(logits, m.long())


def per_sample_output(logits: torch.Tensor) -> torch.Tensor:
    """Logits flattened per sample, ``(B, K·∏S)`` (dense outputs: every pixel's logits)."""
    return logits.reshape(logits.shape[0], -1)
