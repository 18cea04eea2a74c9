"""Size proxies: ``params`` and ``flops`` (higher is better for both, as accuracy baselines)."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from ._utils import forward_logits
from .base import register_proxy


def count_params(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


@register_proxy("params", needs_data=False, mode="eval")
def params(model, batch, ctx):
    """Trainable parameter count. Higher is better. Data-free."""
    return float(count_params(model))


def _sdpa_fwd(q_shape, k_shape, v_shape, *args, out_shape=None, **kwargs):
    return sdpa_flop_count(q_shape, k_shape, v_shape)


def _sdpa_mapping():
    """FLOP formula for the CPU flash-attention op, which FlopCounterMode lacks (recipes.md);
    passed as ``custom_mapping`` so no global registry is modified."""
    op = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    return {op: _sdpa_fwd} if op is not None else {}


def count_flops(model: torch.nn.Module, x: torch.Tensor) -> float:
    """FLOPs of one forward pass on one sample, counted by ``FlopCounterMode`` (2 per MAC)."""
    counter = FlopCounterMode(display=False, custom_mapping=_sdpa_mapping())
    with counter:
        forward_logits(model, x[:1])
    return float(counter.get_total_flops())


@register_proxy("flops", needs_data=False, mode="eval")
def flops(model, batch, ctx):
    """Multiply-accumulates of one forward pass per sample (``FlopCounterMode`` FLOPs / 2, the
    NB201/fvcore convention). Higher is better. Needs only the input shape (eval mode).
    ``extra["flops_2x"]`` is the raw FlopCounterMode count.
    """
    f = count_flops(model, batch[0])
    return {"value": f / 2.0, "flops_2x": f}
