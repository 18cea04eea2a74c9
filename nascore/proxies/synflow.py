"""SynFlow (Tanaka et al., NeurIPS 2020), as in Abdelfattah et al.'s zero-cost benchmark."""

from __future__ import annotations

import math

import torch

from ._utils import abs_weights, forward_logits, remove_norms, weight_layers
from .base import register_proxy


def synflow_sum(model, x: torch.Tensor) -> float:
    """Σ |θ ⊙ ∂R/∂θ| over Conv/Linear weights, R = Σ net(1) of the linearised float64 net.

    Edits ``model`` in place (norm layers removed, |weights|, float64): pass a copy.
    """
    remove_norms(model)
    model.double()
    abs_weights(model)
    ones = torch.ones((1,) + tuple(x.shape[1:]), dtype=torch.float64, device=x.device)
    layers = weight_layers(model)
    r = forward_logits(model, ones).sum()
    grads = torch.autograd.grad(r, [m.weight for m in layers], allow_unused=True)
    return float(sum((m.weight.detach() * g).abs().sum() for m, g in zip(layers, grads) if g is not None))


@register_proxy("synflow", needs_data=False, changes_weights=True, mode="eval")
def synflow(model, batch, ctx):
    """Natural log of the SynFlow score. Higher is better. Data-free.

    Every normalisation layer (BatchNorm/LayerNorm/GroupNorm/InstanceNorm) is replaced by the
    identity, all parameters and buffers are made absolute, the net runs in float64 on one
    all-ones input of the batch's shape (eval mode: dropout off), and the score is
    Σ |θ ⊙ ∂(Σ output)/∂θ| over Conv/Linear weights. Dense outputs are summed over all pixels.
    The log is reported because the raw sum reaches 1e40+ (it is monotone, so ranks are
    unchanged); a net with no input→output path gives 0 → ``-inf`` (status ``"nan"``), and a
    float64 overflow gives ``inf`` (status ``"nan"``). The value does not depend on the batch
    contents or size, only on the input's channel/spatial shape.
    """
    s = synflow_sum(model, batch[0])
    return {"value": math.log(s) if s > 0 else float("-inf"), "raw": s if math.isfinite(s) else float("nan")}
