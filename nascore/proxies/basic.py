"""Size proxies: ``params`` and ``flops`` (higher is better for both, as accuracy baselines)."""

from __future__ import annotations

from .base import register_proxy
from .signals import count_flops, count_params


@register_proxy("params", needs_data=False, mode="eval")
def params(model, batch, ctx):
    """Trainable parameter count. Higher is better. Data-free."""
    return float(count_params(model))


@register_proxy("flops", needs_data=False, mode="eval")
def flops(model, batch, ctx):
    """Multiply-accumulates of one forward pass per sample (``FlopCounterMode`` FLOPs / 2, the
    NB201/fvcore convention). Higher is better. Needs only the input shape (eval mode).
    ``extra["flops_2x"]`` is the raw FlopCounterMode count.
    """
    f = count_flops(model, batch[0])
    return {"value": f / 2.0, "flops_2x": f}
