"""Gradient-based pruning-at-init proxies (Abdelfattah et al., ICLR 2021, "Zero-Cost Proxies").

All four take the task loss on the real batch (:mod:`nascore.proxies.losses`: CE for labels,
per-pixel CE/BCE for masks) with the model's current weights, in train mode, and sum per-weight
scores over every Conv/Linear weight (:func:`~nascore.proxies._utils.weight_layers`).
Higher is better for all four (as used in the zero-cost benchmarks). Failures: non-finite loss
or gradients → status ``"nan"``; no Conv/Linear layer → ``"empty_layers"``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from ._utils import forward_logits, loss_grads, nonempty, weight_layers
from .base import ProxyFailure, register_proxy
from .signals import all_finite


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
    Fused attention (``scaled_dot_product_attention``, used by ``nn.MultiheadAttention``) runs
    on its math backend here, the one with a double backward.
    """
    with sdpa_kernel(SDPBackend.MATH):
        return _grasp(model, batch, ctx)


def _grasp(model, batch, ctx):
    x, y = batch
    layers = nonempty(weight_layers(model), "Conv/Linear weight layers")
    ws = [m.weight for m in layers]
    g0 = torch.autograd.grad(ctx.loss_fn(forward_logits(model, x), y), ws, allow_unused=True)
    g0 = [torch.zeros_like(w) if g is None else g.detach() for w, g in zip(ws, g0)]
    loss = ctx.loss_fn(forward_logits(model, x), y)
    g1 = torch.autograd.grad(loss, ws, create_graph=True, allow_unused=True)
    z = sum((a * b).sum() for a, b in zip(g0, g1) if b is not None)
    hg = torch.autograd.grad(z, ws, allow_unused=True)
    if not all_finite(list(g0) + list(hg)):
        raise ProxyFailure("nan", "non-finite gradients or Hessian-gradient products")
    return float(sum((-w.detach().double() * h.double()).sum() for w, h in zip(ws, hg) if h is not None))


def _mha_out_proj(model: nn.Module):
    """``{out_proj: its nn.MultiheadAttention}``: MHA applies ``out_proj`` functionally, so
    its output is read at the MHA module's output (``out[0]`` is exactly ``out_proj``'s)."""
    return {m.out_proj: m for m in model.modules() if isinstance(m, nn.MultiheadAttention)}


@register_proxy("fisher", needs_targets=True)
def fisher(model, batch, ctx):
    """Fisher channel saliency (Turner et al., 2020; Theis et al., 2018):
    Σ_layers Σ_channels ½·mean_n (Σ_spatial a ⊙ ∂L/∂a)², with ``a`` every Conv/Linear output.
    Token outputs ``(B,N,C)`` sum over tokens; dense nets over all pixels. Higher is better.

    Each hooked output is passed on as a copy, so an inplace activation that follows (e.g.
    ``SiLU(inplace=True)``) cannot overwrite the ``a`` that is read. ``nn.MultiheadAttention``'s
    ``out_proj`` (applied functionally) is read at the attention module's output.
    ``extra["layers_unseen"]`` counts Conv/Linear layers whose output was never seen (layers
    used only functionally elsewhere; they contribute nothing).
    """
    x, y = batch
    layers = nonempty(weight_layers(model), "Conv/Linear weight layers")
    mha = _mha_out_proj(model)
    acts, flip, seen = [], [], set()

    def hook(mod, inp, out):
        seen.add(id(mod))
        a = out[0] if isinstance(mod, nn.MultiheadAttention) else out
        if not (isinstance(a, torch.Tensor) and a.requires_grad):
            return None
        acts.append(a)
        flip.append(isinstance(mod, nn.MultiheadAttention) and not mod.batch_first and a.dim() == 3)
        c = a.clone()  # what the rest of the net sees (and may overwrite in place)
        return (c,) + tuple(out[1:]) if isinstance(mod, nn.MultiheadAttention) else c

    targets = [mha.get(m, m) for m in layers]
    handles = [m.register_forward_hook(hook) for m in dict.fromkeys(targets)]
    try:
        loss = ctx.loss_fn(forward_logits(model, x), y)
    finally:
        for h in handles:
            h.remove()
    grads = torch.autograd.grad(loss, acts, allow_unused=True)
    if not (all_finite(list(grads)) and bool(torch.isfinite(loss))):
        raise ProxyFailure("nan", "non-finite loss or activation gradients")
    total = torch.zeros((), dtype=torch.float64)
    for a, g, f in zip(acts, grads, flip):
        if g is None:
            continue
        prod = (a.detach() * g).double()
        if f:  # sequence-first MHA output (N, B, C)
            prod = prod.transpose(0, 1)
        if prod.dim() == 3:  # tokens (B, N, C)
            per = prod.sum(1)
        elif prod.dim() > 2:  # (B, C, *S)
            per = prod.flatten(2).sum(-1)
        else:
            per = prod
        total = total + 0.5 * per.pow(2).mean(0).sum()
    unseen = sum(1 for t in dict.fromkeys(targets) if id(t) not in seen)
    return {"value": float(total), "layers_unseen": float(unseen)}
