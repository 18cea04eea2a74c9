"""NASWOT (Mellor et al., ICML 2021): log-determinant of the activation-pattern kernel."""

from __future__ import annotations

import torch

from .base import ProxyFailure, register_proxy
from .signals import activation_codes, hamming_kernel


@register_proxy("naswot", mode="train")
def naswot(model, batch, ctx):
    """log|det K_H| of the Hamming-agreement kernel of binary activation codes. Higher is better.

    Codes are taken at every ReLU-like activation (ReLU, GELU, SiLU, … modules, and the same
    functions applied functionally, e.g. in ``nn.TransformerEncoderLayer``; the unit is
    "on" when its pre-activation is > 0), per sample, over all units flattened (every channel ×
    pixel for conv/dense nets, every hidden unit × token for ViTs). Uses the real inputs, train
    mode. Failures: identical codes for two samples (singular kernel) → ``"degenerate"``; no
    activation → ``"empty_layers"``. Activations whose leading dimension is not the batch
    (patch unfolding, window attention, sequence-first tokens) are regrouped by sample
    (:func:`~nascore.proxies._utils.per_sample`; ``extra["regrouped_activations"]`` counts them).
    """
    regrouped = [0]
    codes, _ = activation_codes(model, batch[0], regrouped)
    sign, logdet = torch.linalg.slogdet(hamming_kernel(codes))
    if not sign > 0:
        raise ProxyFailure("degenerate", "the Hamming kernel is singular (samples share codes)")
    return {"value": float(logdet), "regrouped_activations": float(regrouped[0])}
