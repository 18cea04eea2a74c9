"""DSS indicator of TF-TAS (Zhou et al., CVPR 2022): attention synaptic diversity + MLP saliency."""

from __future__ import annotations

import math
from typing import Tuple

import torch
from torch import nn

from ._utils import weight_layers
from .base import ProxyFailure, register_proxy
from .signals import all_finite, linearise, linearised_grads, nuclear_norm


def dss_terms(model: nn.Module, x: torch.Tensor, ctx) -> Tuple[float, float, bool]:
    """(attention diversity, MLP saliency, used_conv_fallback) on the linearised float64 net.

    Edits ``model`` in place (norms removed, |weights|, float64): pass a copy. Follows the
    official code: one all-ones input, R = Σ output, diversity Σ ‖∂R/∂W‖_nuc·‖W‖_nuc over the
    attention projections, saliency Σ |∂R/∂W ⊙ W| over the MLP Linear layers (both found by
    structure, :meth:`ProxyContext.layers`). A net with neither (a pure CNN) falls back to the
    saliency of all Conv/Linear weights (= SynFlow).

    Raises:
        ProxyFailure: ``"overflow"`` when the linearised pass overflows float64.
    """
    found = ctx.layers(model, x)
    attn = found.modules(model, "attention_linears")
    mlp = found.modules(model, "mlp_linears")
    fallback = not attn and not mlp
    if fallback:
        mlp = weight_layers(model)
    linearise(model)
    layers = attn + mlp
    r, grads, overflowed = linearised_grads(model, x, layers)
    if not all_finite([r] + grads):
        if overflowed:
            raise ProxyFailure("overflow", "the linearised float64 forward/backward overflowed "
                                           f"(sum of outputs {float(r.detach())!r})")
        raise ProxyFailure("nan", "the linearised forward/backward gave NaN without overflowing")
    div = sal = 0.0
    for i, (l, g) in enumerate(zip(layers, grads)):
        if g is None:
            continue
        w = l.weight.detach()
        if i < len(attn):
            div += nuclear_norm(g) * nuclear_norm(w)
        else:
            sal += float((g * w).abs().sum())
    return div, sal, fallback


@register_proxy("dss", needs_data=False, changes_weights=True, mode="eval")
def dss(model, batch, ctx):
    """log(DSS) = log(attention synaptic diversity + MLP synaptic saliency). Higher is better.
    Data-free (one all-ones input, like SynFlow; norm layers removed, |weights|, float64).

    Works on any net whose attention/MLP layers :mod:`nascore.proxies.layers` finds (hybrid
    nets, ViTs, MONAI's UNETR/SwinUNETR, ``nn.MultiheadAttention``: its ``out_proj``). For a
    pure CNN the attention term is 0 and the saliency falls back to all Conv/Linear weights,
    i.e. DSS reduces to SynFlow (``extra["cnn_fallback"] = 1``). The log is reported because the
    raw sum overflows float32 on deep nets; ``extra`` holds both log terms (NaN for an absent
    term). Failures: ``"overflow"`` (float64 overflow), ``"no_path"`` (zero total).
    """
    div, sal, fb = dss_terms(model, batch[0], ctx)
    tot = div + sal
    if not math.isfinite(tot):
        raise ProxyFailure("overflow", f"DSS total {tot!r} overflowed float64")
    if tot <= 0:
        raise ProxyFailure("no_path", "DSS total is 0: no input→output path")
    return {"value": math.log(tot),
            "log_attn_diversity": math.log(div) if div > 0 else float("nan"),
            "log_mlp_saliency": math.log(sal) if sal > 0 else float("nan"),
            "cnn_fallback": float(fb)}
