"""Zen-NAS score (Lin et al., ICCV 2021)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._utils import forward_logits, hooks
from .base import ProxyFailure, register_proxy


@register_proxy("zen", needs_data=False, init="gaussian", mode="train", options={"zen_alpha": 0.01})
def zen(model, batch, ctx):
    """Zen score: log E‖f(x) − f(x + αε)‖₁ + Σ_BN log σ_BN. Higher is better. Data-free.

    As in Zen-NAS: weights ~ N(0,1) (harness re-init on a copy), train mode, x and ε standard
    Gaussian (from the harness generator) of the batch's shape, α = 0.01. ``f`` is the feature
    map entering the last global-average-pooling module (Zen's pre-GAP features) or, when there
    is none (ViTs, dense segmentation nets), the model output (all pixels). σ_BN is the square
    root of the mean per-channel variance of each BatchNorm input on the perturbed batch
    (Zen reads it from BN's running variance after that forward; the batch variance is what it
    estimates). Nets without BatchNorm get only the first term. Dropout/drop-path are off (the
    harness), so both forwards see the same network. Failures: f(x) = f(x + αε) exactly (the
    output does not depend on the input) → ``"no_path"``; a non-finite difference → ``"nan"``.
    """
    alpha = float(ctx.options["zen_alpha"])
    x0 = batch[0]
    x = ctx.randn(x0.shape, x0)
    x2 = x + alpha * ctx.randn(x0.shape, x0)
    pools = [m for m in model.modules() if isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
                                                          nn.AdaptiveAvgPool3d))]
    feats, bn_vars = [], []

    def pre_gap(mod, inp):
        feats.append(inp[0])

    def bn_hook(mod, inp, out):
        a = inp[0].double()
        dims = [0] + list(range(2, a.dim()))
        bn_vars.append(a.var(dim=dims, unbiased=False).mean())

    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        with hooks(pools[-1:], pre_gap, "pre"):
            out1 = forward_logits(model, x)
        f1 = feats[-1] if pools else out1
        with hooks(pools[-1:], pre_gap, "pre"), hooks(bns, bn_hook):
            out2 = forward_logits(model, x2)
        f2 = feats[-1] if pools else out2
    diff = (f1.double() - f2.double()).abs().reshape(f1.shape[0], -1).sum(1).mean()
    log_bn = sum(0.5 * math.log(float(v)) for v in bn_vars if float(v) > 0)
    if not math.isfinite(float(diff)):
        raise ProxyFailure("nan", f"non-finite feature difference {float(diff)!r}")
    if diff <= 0:
        raise ProxyFailure("no_path", "f(x) = f(x + αε): the output does not depend on the input")
    return {"value": math.log(float(diff)) + log_bn, "log_diff": math.log(float(diff)),
            "log_bn": log_bn}
