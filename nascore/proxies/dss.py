"""DSS indicator of TF-TAS (Zhou et al., CVPR 2022): attention synaptic diversity + MLP saliency."""

from __future__ import annotations

import math
from typing import List, Tuple

import torch
from torch import nn

from ._utils import abs_weights, forward_logits, remove_norms, singular_values, weight_layers
from .base import register_proxy


def attention_linears(model: nn.Module) -> List[nn.Linear]:
    """The projections of every attention module: modules with ``qkv`` and ``proj`` Linear
    attributes (the hybrid's ``MHSA``, the ViT's ``Attention``) or ``nn.MultiheadAttention``'s
    ``out_proj`` (its packed ``in_proj_weight`` is not a Linear and is skipped)."""
    out = []
    for m in model.modules():
        if isinstance(getattr(m, "qkv", None), nn.Linear) and isinstance(getattr(m, "proj", None), nn.Linear):
            out += [m.qkv, m.proj]
        elif isinstance(m, nn.MultiheadAttention):
            out.append(m.out_proj)
    return out


def mlp_linears(model: nn.Module) -> List[nn.Linear]:
    """Linear layers inside MLP modules: modules with ``fc1``/``fc2`` Linear attributes or whose
    class name contains ``mlp``/``feedforward``."""
    out, seen = [], set()
    for m in model.modules():
        name = type(m).__name__.lower()
        if (isinstance(getattr(m, "fc1", None), nn.Linear) and isinstance(getattr(m, "fc2", None), nn.Linear)) \
                or "mlp" in name or "feedforward" in name:
            for l in m.modules():
                if isinstance(l, nn.Linear) and id(l) not in seen:
                    seen.add(id(l))
                    out.append(l)
    return out


def dss_terms(model: nn.Module, x: torch.Tensor) -> Tuple[float, float, bool]:
    """(attention diversity, MLP saliency, used_conv_fallback) on the linearised float64 net.

    Edits ``model`` in place (norms removed, |weights|, float64): pass a copy. Follows the
    official code: one all-ones input, R = Σ output, diversity Σ ‖∂R/∂W‖_nuc·‖W‖_nuc over the
    attention projections, saliency Σ |∂R/∂W ⊙ W| over the MLP Linear layers. A net with
    neither (a pure CNN) falls back to the saliency of all Conv/Linear weights (= SynFlow).
    """
    attn, mlp = attention_linears(model), mlp_linears(model)
    mlp = [l for l in mlp if all(l is not a for a in attn)]
    fallback = not attn and not mlp
    if fallback:
        mlp = weight_layers(model)
    remove_norms(model)
    model.double()
    abs_weights(model)
    ones = torch.ones((1,) + tuple(x.shape[1:]), dtype=torch.float64, device=x.device)
    layers = attn + mlp
    r = forward_logits(model, ones).sum()
    grads = torch.autograd.grad(r, [l.weight for l in layers], allow_unused=True)
    div = sal = 0.0
    for i, (l, g) in enumerate(zip(layers, grads)):
        if g is None:
            continue
        w = l.weight.detach()
        if i < len(attn):
            div += _nuclear(g) * _nuclear(w)
        else:
            sal += float((g * w).abs().sum())
    return div, sal, fallback


def _nuclear(m: torch.Tensor) -> float:
    """Nuclear norm, rescaled first: SynFlow-style gradients of deep ViTs reach 1e250, where the
    Gram matrix behind :func:`singular_values` would overflow float64."""
    s = float(m.detach().abs().max())
    if s == 0.0 or not math.isfinite(s):
        return 0.0 if s == 0.0 else float("inf")
    return s * float(singular_values(m / s).sum())


@register_proxy("dss", needs_data=False, changes_weights=True, mode="eval")
def dss(model, batch, ctx):
    """log(DSS) = log(attention synaptic diversity + MLP synaptic saliency). Higher is better.
    Data-free (one all-ones input, like SynFlow; norm layers removed, |weights|, float64).

    Works on the attention blocks of hybrid nets (their ``MHSA``/``MLP``) and on ViTs. For a
    pure CNN the attention term is 0 and the saliency falls back to all Conv/Linear weights,
    i.e. DSS reduces to SynFlow (``extra["cnn_fallback"] = 1``). The log is reported because the
    raw sum overflows float32 on deep nets; ``extra`` holds both log terms.
    """
    div, sal, fb = dss_terms(model, batch[0])
    tot = div + sal
    return {"value": math.log(tot) if tot > 0 else float("-inf"),
            "log_attn_diversity": math.log(div) if div > 0 else float("nan"),
            "log_mlp_saliency": math.log(sal) if sal > 0 else float("nan"),
            "cnn_fallback": float(fb)}
