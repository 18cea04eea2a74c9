"""Gradient-based pruning-at-init proxies (Abdelfattah et al., ICLR 2021, "Zero-Cost Proxies").

All four take the task loss on the real batch (:mod:`nascore.proxies.losses`: CE for labels,
per-pixel CE/BCE for masks) with the model's current weights, in train mode, and sum per-weight
scores over every Conv/Linear weight (:func:`~nascore.proxies._utils.weight_layers`).
Higher is better for all four (as used in the zero-cost benchmarks).
"""

from __future__ import annotations

import torch

from ._utils import forward_logits, loss_grads, weight_layers
from .base import register_proxy


@register_proxy("grad_norm", needs_targets=True)
def grad_norm(model, batch, ctx):
    """Σ_layers ‖∂L/∂W_l‖₂ (per-layer Frobenius norms, summed). Higher is better."""
    _, grads, _ = loss_grads(model, batch, ctx)
    return float(sum(g.double().norm() for g in grads))


@register_proxy("snip", needs_targets=True)
def snip(model, batch, ctx):
    """SNIP saliency Σ |∂L/∂W ⊙ W| (Lee et al., 2019). Higher is better."""
    layers, grads, _ = loss_grads(model, batch, ctx)
    return float(sum((g.double() * m.weight.detach().double()).abs().sum() for m, g in zip(layers, grads)))


@register_proxy("grasp", needs_targets=True)
def grasp(model, batch, ctx):
    """GraSP Σ −W ⊙ (H g) (Wang et al., 2020), with ``g = ∂L/∂W`` and the Hessian-gradient
    product from a double backward. Higher is better (the zero-cost benchmarks' sign).
    """
    x, y = batch
    layers = weight_layers(model)
    ws = [m.weight for m in layers]
    g0 = torch.autograd.grad(ctx.loss_fn(forward_logits(model, x), y), ws, allow_unused=True)
    g0 = [torch.zeros_like(w) if g is None else g.detach() for w, g in zip(ws, g0)]
    loss = ctx.loss_fn(forward_logits(model, x), y)
    g1 = torch.autograd.grad(loss, ws, create_graph=True, allow_unused=True)
    z = sum((a * b).sum() for a, b in zip(g0, g1) if b is not None)
    hg = torch.autograd.grad(z, ws, allow_unused=True)
    return float(sum((-w.detach().double() * h.double()).sum() for w, h in zip(ws, hg) if h is not None))


@register_proxy("fisher", needs_targets=True)
def fisher(model, batch, ctx):
    """Fisher channel saliency (Turner et al., 2020; Theis et al., 2018):
    Σ_layers Σ_channels ½·mean_n (Σ_spatial a ⊙ ∂L/∂a)², with ``a`` every Conv/Linear output.
    Token outputs ``(B,N,C)`` sum over tokens; dense nets over all pixels. Higher is better.
    """
    x, y = batch
    acts = []

    def hook(mod, inp, out):
        if isinstance(out, torch.Tensor) and out.requires_grad:
            acts.append(out)

    handles = [m.register_forward_hook(hook) for m in weight_layers(model)]
    try:
        loss = ctx.loss_fn(forward_logits(model, x), y)
    finally:
        for h in handles:
            h.remove()
    grads = torch.autograd.grad(loss, acts, allow_unused=True)
    total = torch.zeros((), dtype=torch.float64)
    for a, g in zip(acts, grads):
        if g is None:
            continue
        prod = (a.detach() * g).double()
        if prod.dim() == 3:  # tokens (B, N, C)
            per = prod.sum(1)
        elif prod.dim() > 2:  # (B, C, *S)
            per = prod.flatten(2).sum(-1)
        else:
            per = prod
        total = total + 0.5 * per.pow(2).mean(0).sum()
    return float(total)
