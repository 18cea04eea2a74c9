"""SWAP (Peng et al., ICLR 2024): sample-wise activation patterns with a size regulariser."""

from __future__ import annotations

import math

import torch

from ._utils import activation_calls, forward_logits, no_activations, per_sample, unique_rows
from .base import register_proxy
from .signals import count_params


@register_proxy("swap", mode="train", options={"swap_mu": 1.5, "swap_sigma": 1.5})
def swap(model, batch, ctx):
    """Regularised SWAP in log space: log(#unique sample-wise patterns) − (P − μ)²/σ.
    Higher is better. Uses the real inputs, train mode.

    Every unit of every ReLU-like activation output (all channels × pixels for conv/dense nets,
    hidden units × tokens for ViTs; the official code hooks ReLU on 4-D maps only) gets the
    binary pattern sign(output) across the B samples; SWAP counts the distinct patterns. The
    paper's regularised score is SWAP·exp(−(P−μ)²/σ) with P the parameter count; the log of it is
    reported so large nets do not underflow. P is in millions; μ = ``options["swap_mu"]``
    (default 1.5), σ = ``options["swap_sigma"]`` (default 1.5), suited to NB201 sizes; pass
    values near the target model size for other spaces. ``extra`` holds the raw count.
    Activations applied functionally (``F.relu``) are read too; no activation at all → status
    ``"empty_layers"``. Activations whose leading dimension is not the batch (patch unfolding,
    window attention, sequence-first tokens) are regrouped by sample
    (:func:`~nascore.proxies._utils.per_sample`; ``extra["regrouped_activations"]`` counts them).
    """
    codes = []
    regrouped = [0]
    b = batch[0].shape[0]

    def hook(mod, inp, out):
        a, moved = per_sample(out.detach(), b)  # patch-unfolded / sequence-first: by sample
        codes.append((a > 0).T)
        regrouped[0] += moved

    with torch.no_grad(), activation_calls(model, hook) as n:
        forward_logits(model, batch[0])
    no_activations(n)
    n_unique = unique_rows(torch.cat(codes, 0))
    p = count_params(model) / 1e6
    mu = float(ctx.options["swap_mu"])
    sigma = float(ctx.options["swap_sigma"])
    log_reg = -((p - mu) ** 2) / sigma
    return {"value": math.log(n_unique) + log_reg, "swap": float(n_unique), "log_regulariser": log_reg,
            "regrouped_activations": float(regrouped[0])}
