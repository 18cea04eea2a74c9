"""NASWOT (Mellor et al., ICML 2021): log-determinant of the activation-pattern kernel."""

from __future__ import annotations

import torch

from ._utils import activation_modules, forward_logits, hooks
from .base import register_proxy


def activation_codes(model, x):
    """Forward pass collecting, per activation call, the binary codes ``(B, units)`` (pre-activation > 0)."""
    codes = []

    def hook(mod, inp, out):
        a = inp[0].detach()
        codes.append((a.reshape(a.shape[0], -1) > 0))

    with torch.no_grad(), hooks(activation_modules(model), hook):
        logits = forward_logits(model, x)
    return codes, logits


def hamming_kernel(codes) -> torch.Tensor:
    """K[i,j] = number of units where samples i and j agree (both on or both off), float64."""
    b = codes[0].shape[0]
    k = torch.zeros(b, b, dtype=torch.float64, device=codes[0].device)
    for c in codes:
        # agreements = on·on + off·off = 2·(c cᵀ) − s_i − s_j + n; float32 counts are exact
        # below 2^24 units per layer, the sum is accumulated in float64
        cf = c.float()
        on = (cf @ cf.T).double()
        s = cf.sum(1).double()
        k += 2 * on - s[:, None] - s[None, :] + c.shape[1]
    return k


@register_proxy("naswot", mode="train")
def naswot(model, batch, ctx):
    """log|det K_H| of the Hamming-agreement kernel of binary activation codes. Higher is better.

    Codes are taken at every ReLU-like activation module (ReLU, GELU, SiLU, …; the unit is
    "on" when its pre-activation is > 0), per sample, over all units flattened (every channel ×
    pixel for conv/dense nets, every hidden unit × token for ViTs). Uses the real inputs, train
    mode. A degenerate net (identical codes for all samples) gives ``-inf`` (status ``"nan"``).
    """
    codes, _ = activation_codes(model, batch[0])
    sign, logdet = torch.linalg.slogdet(hamming_kernel(codes))
    return float(logdet) if sign > 0 else float("-inf")
