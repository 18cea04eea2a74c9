"""ZiCo (Li et al., ICLR 2023): inverse coefficient of variation of gradients."""

from __future__ import annotations

import math

import torch

from ._utils import forward_logits, weight_layers
from .base import register_proxy


@register_proxy("zico", needs_targets=True, mode="train")
def zico(model, batch, ctx):
    """ZiCo = Σ_layers log( Σ_θ mean_b|g_θ| / std_b(g_θ) ) over weights with non-zero std.
    Higher is better.

    The batch is split into ``options["zico_splits"]`` (default 2, as in the paper) equal
    chunks; ``g`` is the task-loss gradient of each chunk (labels: CE; masks: per-pixel
    CE/BCE). Layers are the Conv/Linear weights; ``std`` is the population std (ddof 0).
    """
    x, y = batch
    n = int(ctx.options.get("zico_splits", 2))
    if x.shape[0] < n:
        raise ValueError(f"zico needs at least {n} samples, got {x.shape[0]}")
    layers = weight_layers(model)
    per_layer = [[] for _ in layers]
    for xs, ys in zip(torch.chunk(x, n), torch.chunk(y, n)):
        loss = ctx.loss_fn(forward_logits(model, xs), ys)
        grads = torch.autograd.grad(loss, [m.weight for m in layers], allow_unused=True)
        for i, (m, g) in enumerate(zip(layers, grads)):
            per_layer[i].append((torch.zeros_like(m.weight) if g is None else g).reshape(-1).double())
    score = 0.0
    for gl in per_layer:
        g = torch.stack(gl)
        std = g.std(0, unbiased=False)
        nz = std > 0
        if nz.any():
            t = float((g.abs().mean(0)[nz] / std[nz]).sum())
            if t > 0:
                score += math.log(t)
    return score
