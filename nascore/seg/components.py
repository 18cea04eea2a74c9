"""Connected components of binary predictions (scipy.ndimage): the small ones removed.

The removal rule and how its size is chosen on validation patients are in
:mod:`nascore.seg.postprocess`; :mod:`nascore.seg.evaluate` applies it while it predicts.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage


def remove_small_components(pred: torch.Tensor, min_size: int) -> torch.Tensor:
    """``pred`` with every connected component smaller than ``min_size`` pixels removed.

    Args:
        pred: binary predictions ``(B, 1, *spatial)`` (2D or 3D), any float or bool dtype.
        min_size: components with fewer pixels are removed; 0 or 1 returns ``pred`` as is.

    Returns:
        A tensor of ``pred``'s shape, dtype and device.

    Raises:
        ValueError: ``pred`` is not ``(B, 1, ...)`` with 2 or 3 spatial dimensions, or
            ``min_size`` is not an integer >= 0.
    """
    if pred.dim() not in (4, 5) or pred.shape[1] != 1:
        raise ValueError(f"pred must be (B, 1, H, W) or (B, 1, D, H, W), got {tuple(pred.shape)}")
    if isinstance(min_size, bool) or not isinstance(min_size, (int, np.integer)) or min_size < 0:
        raise ValueError(f"min_size must be an integer >= 0 (pixels), got {min_size!r}")
    if min_size <= 1:
        return pred
    arr = pred.detach().cpu().numpy() > 0.5
    out = np.zeros_like(arr)
    for b in range(arr.shape[0]):
        lab, n = ndimage.label(arr[b, 0])  # face connectivity (the scipy default)
        if n == 0:
            continue
        sizes = np.bincount(lab.ravel())
        keep = sizes >= min_size
        keep[0] = False
        out[b, 0] = keep[lab]
    return torch.from_numpy(out).to(device=pred.device, dtype=pred.dtype)
