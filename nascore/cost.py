"""Cost model: parameters, FLOPs (``torch.utils.flop_counter``) and measured CPU latency."""

from __future__ import annotations

import statistics
import time
from typing import Dict, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

_aten = torch.ops.aten


def _custom_mapping() -> Dict:
    """Formulas for ops FlopCounterMode misses on CPU (fused SDPA, used by MONAI's SABlock
    with flash attention and by ``nn.MultiheadAttention``); passed per call, never registered
    globally."""
    mapping = {}
    op = getattr(_aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if op is not None:
        mapping[op] = lambda q, k, v, *a, out_shape=None, **kw: sdpa_flop_count(q, k, v)
    return mapping


def count_params(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_flops(model: nn.Module, input_shape: Sequence[int], **forward_kwargs) -> int:
    """FLOPs of one forward pass, counted by ``torch.utils.flop_counter.FlopCounterMode``.

    A multiply-add counts as 2 FLOPs (fvcore counts half of this). Convolutions, linear
    layers and attention matmuls (``q @ k^T``, ``attn @ v``, and fused SDPA on CPU) are
    counted; norms, activations and softmax are not. The model runs in eval mode on zeros;
    its mode is restored.

    Args:
        model: the module.
        input_shape: full input shape including the batch, e.g. ``(1, 1, 128, 128)``.
    """
    was_training = model.training
    p = next(model.parameters(), None)
    x = torch.zeros(tuple(input_shape), dtype=p.dtype if p is not None else torch.float32,
                    device=p.device if p is not None else "cpu")
    model.eval()
    try:
        counter = FlopCounterMode(display=False, custom_mapping=_custom_mapping())
        with torch.no_grad(), counter:
            model(x, **forward_kwargs)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def measure_latency(model: nn.Module, input_shape: Sequence[int], repeats: int = 10,
                    warmup: int = 2) -> Dict[str, float]:
    """Measured forward latency (eval mode, no grad) on the model's device.

    Args:
        model: the module.
        input_shape: full input shape including the batch.
        repeats: timed runs.
        warmup: untimed runs first.

    Returns:
        ``{"median_ms", "iqr_ms", "min_ms", "repeats"}``; spread is the inter-quartile range.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    was_training = model.training
    p = next(model.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")
    x = torch.randn(tuple(input_shape), device=device, generator=None)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    model.eval()
    times = []
    try:
        with torch.inference_mode():
            for i in range(warmup + repeats):
                sync()
                t0 = time.perf_counter()
                model(x)
                sync()
                if i >= warmup:
                    times.append((time.perf_counter() - t0) * 1e3)
    finally:
        model.train(was_training)
    q = statistics.quantiles(times, n=4) if len(times) >= 2 else [times[0]] * 3
    return {"median_ms": statistics.median(times), "iqr_ms": q[2] - q[0], "min_ms": min(times),
            "repeats": repeats}
