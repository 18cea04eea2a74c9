"""SynFlow (Tanaka et al., NeurIPS 2020), as in Abdelfattah et al.'s zero-cost benchmark."""

from __future__ import annotations

import math

from ._utils import nonempty, weight_layers
from .base import ProxyFailure, register_proxy
from .signals import all_finite, linearise, linearised_grads, saliency


@register_proxy("synflow", needs_data=False, changes_weights=True, mode="eval")
def synflow(model, batch, ctx):
    """Natural log of the SynFlow score. Higher is better. Data-free.

    Every normalisation layer (BatchNorm/LayerNorm/GroupNorm/InstanceNorm) is replaced by the
    identity, all parameters and buffers are made absolute, the net runs in float64 on one
    all-ones input of the batch's shape (eval mode: dropout off), and the score is
    Σ |θ ⊙ ∂(Σ output)/∂θ| over Conv/Linear weights. Dense outputs are summed over all pixels.
    The log is reported because the raw sum reaches 1e40+ (it is monotone, so ranks are
    unchanged). Failures: a float64 overflow of the linearised forward or its gradients →
    status ``"overflow"``; a zero sum (no input→output path) → ``"no_path"``; no Conv/Linear
    layer → ``"empty_layers"``. The value does not depend on the batch contents or size, only
    on the input's channel/spatial shape.
    """
    layers = nonempty(weight_layers(model), "Conv/Linear weight layers")
    linearise(model)
    r, grads, overflowed = linearised_grads(model, batch[0], layers)
    s = saliency(layers, grads)
    if not (all_finite([r] + grads) and math.isfinite(s)):
        if overflowed:
            raise ProxyFailure("overflow", "the linearised float64 forward/backward overflowed "
                                           f"(sum of outputs {float(r.detach())!r})")
        raise ProxyFailure("nan", "the linearised forward/backward gave NaN without overflowing")
    if s <= 0:
        raise ProxyFailure("no_path", "SynFlow sum is 0: no input→output path")
    return {"value": math.log(s), "raw": s}
