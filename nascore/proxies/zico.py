"""ZiCo (Li et al., ICLR 2023): inverse coefficient of variation of gradients."""

from __future__ import annotations

import math

import torch

from ._utils import forward_logits, nonempty, weight_layers
from .base import ProxyFailure, register_proxy


@register_proxy("zico", needs_targets=True, mode="train", options={"zico_splits": 2})
def zico(model, batch, ctx):
    """ZiCo = Σ_layers log( Σ_θ mean_b|g_θ| / std_b(g_θ) ) over weights with non-zero std.
    Higher is better.

    The batch is split into ``options["zico_splits"]`` (default 2, as in the paper) equal
    chunks; ``g`` is the task-loss gradient of each chunk (labels: CE; masks: per-pixel
    CE/BCE). Layers are the Conv/Linear weights; ``std`` is the population std (ddof 0).
    Failures: non-finite loss/gradients → ``"nan"``; no Conv/Linear layer → ``"empty_layers"``.
    """
    x, y = batch
    n = int(ctx.options["zico_splits"])
    if x.shape[0] < n:
        raise ValueError(f"zico needs at least {n} samples, got {x.shape[0]}")
    layers = nonempty(weight_layers(model), "Conv/Linear weight layers")
    per_layer = [[] for _ in layers]
    for xs, ys in zip(torch.chunk(x, n), torch.chunk(y, n)):
        loss = ctx.loss_fn(forward_logits(model, xs), ys)
        grads = torch.autograd.grad(loss, [m.weight for m in layers], allow_unused=True)
        for i, (m, g) in enumerate(zip(layers, grads)):
            per_layer[i].append((torch.zeros_like(m.weight) if g is None else g).reshape(-1).double())
    score = 0.0
    for gl in per_layer:
        g = torch.stack(gl)
        if not bool(torch.isfinite(g).all()):
            raise ProxyFailure("nan", "non-finite gradients")
        std = g.std(0, unbiased=False)
        nz = std > 0
        if nz.any():
            t = float((g.abs().mean(0)[nz] / std[nz]).sum())
            if t > 0:
                score += math.log(t)
    return score
