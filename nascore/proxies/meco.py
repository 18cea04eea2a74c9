"""MeCo (Jiang et al., NeurIPS 2023): minimum eigenvalue of feature-map correlation."""

from __future__ import annotations

import torch

from ._utils import forward_logits, hooks
from .base import register_proxy
from .signals import sym_eigvals


def _min_eig_corr(f: torch.Tensor) -> float:
    corr = torch.corrcoef(f.double())
    corr = torch.nan_to_num(corr, nan=0.0, posinf=0.0, neginf=0.0)
    return float(sym_eigvals(corr).min())


@register_proxy("meco", mode="train")
def meco(model, batch, ctx):
    """MeCo = Σ over every module output of λ_min(Pearson correlation of its channels).
    Higher is better. Uses the real inputs, train mode.

    As in the official code, every module (containers included) is hooked and only the first
    sample's feature map is used: ``(C, *S)`` → C channels × all pixels (dense nets: full
    resolution), tokens ``(N, C)`` → C channels × N tokens; NaN/inf correlations (constant
    channels) are set to 0. Outputs with one value per channel (logits ``(B,K)``) contribute 0
    there and are skipped.
    """
    vals = []

    def hook(mod, inp, out):
        if isinstance(out, torch.Tensor) and out.dim() >= 3:
            f = out[0].detach()
            f = f.T if out.dim() == 3 else f.reshape(f.shape[0], -1)
            if f.shape[0] > 1 and f.shape[1] > 1:
                vals.append(_min_eig_corr(f))

    with torch.no_grad(), hooks(list(model.modules()), hook):
        forward_logits(model, batch[0])
    return float(sum(vals))
