"""TE-NAS (Chen et al., ICLR 2021): NTK condition number and linear-region count."""

from __future__ import annotations

import math

import torch

from ._utils import activation_calls, forward_logits, no_activations, rows, unique_rows
from .base import ProxyFailure, register_proxy
from .signals import all_finite, sym_eigvals


def ntk_condition(model, x: torch.Tensor) -> float:
    """κ = λ_max/λ_min of the empirical NTK Θ = J Jᵀ, J_n = ∂(Σ logits of sample n)/∂θ.

    Each sample is forwarded alone (batch 1, train mode), so each row costs one small
    forward+backward and the total is about one forward+backward of the batch (recipes.md);
    nets that reject batch 1 (e.g. BatchNorm1d) fall back to one batch forward and n backwards.
    """
    params = [p for p in model.parameters() if p.requires_grad]

    def row(out):
        g = torch.autograd.grad(out.sum(), params, allow_unused=True, retain_graph=True)
        return torch.cat([(torch.zeros_like(p) if gi is None else gi).reshape(-1).double()
                          for p, gi in zip(params, g)])

    try:
        jac = torch.stack([row(forward_logits(model, x[i:i + 1])) for i in range(x.shape[0])])
    except (ValueError, RuntimeError):
        out = forward_logits(model, x)
        jac = torch.stack([row(out[i]) for i in range(x.shape[0])])
    if not all_finite([jac]):
        raise ProxyFailure("nan", "non-finite NTK gradients")
    lam = sym_eigvals(jac @ jac.T)
    return float(lam[-1] / lam[0]) if lam[0] > 0 else float("inf")


def local_regions(model, x: torch.Tensor, max_channels: int = 64) -> float:
    """Σ_layers log(#distinct channel activation patterns over all positions of the batch).

    Adaptation of TE-NAS's linear-region count (which counts distinct whole-network patterns of
    1,000 3×3 inputs through a 1-channel copy of the net, not buildable for arbitrary nets):
    every (sample, pixel) — or (sample, token) — of an activation layer is a point whose code is
    the on/off state of its first ``max_channels`` channels; the per-layer counts of distinct
    codes multiply (log-sum), an estimate of the linear pieces the batch crosses.
    """
    total = 0.0

    def hook(mod, inp, out):
        nonlocal total
        a = inp[0].detach()
        if a.dim() < 2:
            return
        r = rows(a)[:, :max_channels] > 0
        u = unique_rows(r)
        if u > 0:
            total += math.log(u)

    with torch.no_grad(), activation_calls(model, hook) as n:
        forward_logits(model, x)
    no_activations(n)
    return total


@register_proxy("tenas", mode="train", options={"tenas_samples": 8})
def tenas(model, batch, ctx):
    """TE-NAS per-net score: log(regions) − log κ_NTK. Higher is better. Real inputs, train mode.

    TE-NAS ranks a population by rank(−κ) + rank(regions); a single net needs a scalar, so the
    value is the monotone surrogate log-regions minus log-condition-number (use
    :func:`nascore.proxies.rank_aggregate` on ``extra`` columns ``ntk_cond`` (lower better) and
    ``regions_log`` for the official population form). The NTK uses the first
    ``options["tenas_samples"]`` (default 8) samples; regions use the whole batch (see
    :func:`local_regions`). Dense outputs: the NTK row is ∂(Σ all pixel logits)/∂θ.
    Failures: a singular NTK (κ = ∞) → ``"degenerate"``; non-finite gradients → ``"nan"``;
    no activation → ``"empty_layers"``.
    """
    x = batch[0]
    n = int(ctx.options["tenas_samples"])
    kappa = ntk_condition(model, x[:n])
    lr = local_regions(model, x)
    if not (math.isfinite(kappa) and kappa > 0):
        raise ProxyFailure("degenerate", f"NTK condition number {kappa!r} (singular NTK)",
                           {"ntk_cond": float("nan"), "regions_log": lr})
    return {"value": lr - math.log(kappa), "ntk_cond": kappa, "regions_log": lr}
