"""Signal primitives the proxies compose (proxy files import these, never each other).

* **Size:** :func:`count_params`, :func:`count_flops`.
* **Linearised network** (SynFlow, Tanaka et al. 2020; DSS, Zhou et al. 2022):
  :func:`linearise`, :func:`linearised_grads`, :func:`saliency`.
* **Spectra, scale-safe:** :func:`sym_eigvals`, :func:`singular_values` (Gram-matrix eigenvalues),
  :func:`nuclear_norm`, :func:`log_nuclear`, :func:`log_abs_sum` (rescaled by the max first, so
  gradients of 1e250 do not overflow float64).
* **Activation patterns** (NASWOT, Mellor et al. 2021): :func:`activation_codes`,
  :func:`hamming_kernel`.
* **Block signals** (AZ-NAS, Lee & Ham 2024): :func:`expressivity_scores`,
  :func:`align_gradients`, :func:`block_sigmas` (trainability's spectral-norm estimates).
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from ._utils import (abs_weights, activation_calls, forward_logits, hooks, no_activations,
                     per_sample, remove_norms, rows)

# --- size ------------------------------------------------------------------------------------


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def _sdpa_fwd(q_shape, k_shape, v_shape, *args, out_shape=None, **kwargs):
    return sdpa_flop_count(q_shape, k_shape, v_shape)


def _sdpa_mapping():
    """FLOP formula for the CPU flash-attention op, which FlopCounterMode lacks (recipes.md);
    passed as ``custom_mapping`` so no global registry is modified."""
    op = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    return {op: _sdpa_fwd} if op is not None else {}


def count_flops(model: nn.Module, x: torch.Tensor) -> float:
    """FLOPs of one forward pass on one sample, counted by ``FlopCounterMode`` (2 per MAC).

    The model runs in eval mode for the count (its per-module modes are restored), so heads
    with ``BatchNorm1d`` accept the batch of one and no running statistics move.
    """
    counter = FlopCounterMode(display=False, custom_mapping=_sdpa_mapping())
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with counter:
            forward_logits(model, x[:1])
    finally:
        for m, t in modes:
            m.training = t
    return float(counter.get_total_flops())


# --- linearised network ------------------------------------------------------------------------


def linearise(model: nn.Module) -> nn.Module:
    """SynFlow's linearisation, in place: norm layers → identity, float64, |every parameter and
    buffer|. Returns ``model`` (pass a copy)."""
    remove_norms(model)
    model.double()
    abs_weights(model)
    return model


def linearised_grads(model: nn.Module, x: torch.Tensor,
                     layers: Sequence[nn.Module]) -> Tuple[torch.Tensor, List[Optional[torch.Tensor]], bool]:
    """R = Σ model(1) on one all-ones input of ``x``'s sample shape (float64), and ∂R/∂W for
    each layer's ``weight`` (None where unused). ``model`` must be :func:`linearise`-d.

    Returns:
        (R, grads, overflowed): ``overflowed`` is whether any module output held ``inf`` (a
        float64 overflow; a later ``0 · inf`` turns it into NaN downstream).
    """
    ones = torch.ones((1,) + tuple(x.shape[1:]), dtype=torch.float64, device=x.device)
    seen_inf = [False]

    def hook(mod, inp, out):
        if not seen_inf[0] and isinstance(out, torch.Tensor) and out.is_floating_point():
            seen_inf[0] = bool(torch.isinf(out).any())

    # eval mode: the norms are removed anyway, and a batch-1 forward must not trip a
    # BatchNorm1d head's train-mode batch-size check before its removal hook runs
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with hooks(list(model.modules()), hook):
            r = forward_logits(model, ones).sum()
    finally:
        for m, t in modes:
            m.training = t
    grads = torch.autograd.grad(r, [m.weight for m in layers], allow_unused=True)
    overflowed = seen_inf[0] or any(bool(torch.isinf(g).any()) for g in grads if g is not None)
    return r, list(grads), overflowed


def saliency(layers: Sequence[nn.Module], grads: Sequence[Optional[torch.Tensor]]) -> float:
    """Σ |W ⊙ ∂R/∂W| over ``layers`` (SynFlow's score); layers without a gradient are skipped."""
    return float(sum((m.weight.detach() * g).abs().sum() for m, g in zip(layers, grads) if g is not None))


def all_finite(tensors) -> bool:
    """Whether every tensor (None entries skipped) holds only finite numbers."""
    return all(bool(torch.isfinite(t).all()) for t in tensors if t is not None)


# --- spectra ------------------------------------------------------------------------------


def sym_eigvals(m: torch.Tensor) -> torch.Tensor:
    """Eigenvalues (ascending, float64) of a symmetric matrix."""
    a = m.detach().double()
    return torch.linalg.eigvalsh((a + a.T) / 2.0)


def singular_values(m: torch.Tensor) -> torch.Tensor:
    """Singular values (ascending, float64) via the eigenvalues of the smaller Gram matrix
    (about 4x faster than ``svdvals`` on CPU; accurate for the top and the nuclear norm)."""
    a = m.detach().double()
    g = a @ a.T if a.shape[0] <= a.shape[1] else a.T @ a
    return sym_eigvals(g).clamp_min(0.0).sqrt()


def nuclear_norm(m: torch.Tensor) -> float:
    """Nuclear norm, rescaled first: SynFlow-style gradients of deep ViTs reach 1e250, where the
    Gram matrix behind :func:`singular_values` would overflow float64. ``inf`` for non-finite
    input, 0 for a zero matrix."""
    s = float(m.detach().abs().max())
    if s == 0.0 or not math.isfinite(s):
        return 0.0 if s == 0.0 else float("inf")
    return s * float(singular_values(m / s).sum())


def log_nuclear(m: torch.Tensor) -> float:
    """log of the nuclear norm, scale-safe; ``-inf`` for a zero matrix, NaN for non-finite."""
    m = m.detach().double()
    s = m.abs().max()
    if not torch.isfinite(s) or s <= 0:
        return float("-inf") if s == 0 else float("nan")
    return math.log(float(s)) + math.log(float(singular_values(m / s).sum()))


def log_abs_sum(t: torch.Tensor) -> float:
    """log Σ|t| without overflow (rescaled by its max first); ``-inf`` for an all-zero tensor."""
    t = t.detach().double().abs()
    s = t.max()
    if not torch.isfinite(s) or s <= 0:
        return float("-inf") if s == 0 else float("nan")
    return math.log(float(s)) + math.log(float((t / s).sum()))


# --- activation patterns ----------------------------------------------------------------------


def activation_codes(model: nn.Module, x: torch.Tensor, regrouped: Optional[List[int]] = None):
    """Forward pass collecting, per activation call (:func:`~nascore.proxies._utils.activation_calls`:
    modules and functional calls), the binary codes ``(B, units)`` (pre-activation > 0), each
    activation taken per sample by :func:`~nascore.proxies._utils.per_sample` (patch-unfolded
    and sequence-first activations are regrouped; ``regrouped[0]``, when given, counts them).

    Raises:
        ProxyFailure: ``"empty_layers"`` when the net applies no activation; ``"unbatched"``
            when an activation holds the samples in no dimension found.
    """
    codes = []
    b = x.shape[0]

    def hook(mod, inp, out):
        a, moved = per_sample(inp[0].detach(), b)
        codes.append(a > 0)
        if moved and regrouped is not None:
            regrouped[0] += 1

    with torch.no_grad(), activation_calls(model, hook) as n:
        logits = forward_logits(model, x)
    no_activations(n)
    return codes, logits


def hamming_kernel(codes) -> torch.Tensor:
    """K[i,j] = number of units where samples i and j agree (both on or both off), float64."""
    b = codes[0].shape[0]
    k = torch.zeros(b, b, dtype=torch.float64, device=codes[0].device)
    for c in codes:
        # agreements = on·on + off·off = 2·(c cᵀ) − s_i − s_j + n; float32 counts are exact
        # below 2^24 units per layer, the sum is accumulated in float64
        cf = c.float()
        on = (cf @ cf.T).double()
        s = cf.sum(1).double()
        k += 2 * on - s[:, None] - s[None, :] + c.shape[1]
    return k


# --- block signals ------------------------------------------------------------------------------


def expressivity_scores(feats: List[torch.Tensor]) -> List[float]:
    """Per feature: entropy of the normalised eigenvalues of the channel covariance
    (points = samples × pixels or samples × tokens). A zero feature scores 0."""
    out = []
    for f in feats:
        r = rows(f.detach()).double()
        r = r - r.mean(0, keepdim=True)
        cov = r.T @ r / r.shape[0]
        s = sym_eigvals(cov).clamp_min(0)
        tot = s.sum()
        if not torch.isfinite(tot) or tot <= 0:
            out.append(0.0)
            continue
        p = s / tot
        out.append(float((-p * torch.log(p + 1e-8)).sum()))
    return out


def align_gradients(g_in: torch.Tensor, g_out: torch.Tensor):
    """Rows ``(points, channels)`` of both gradients at a common resolution (pixel-unshuffle
    the finer one, as the official AZ-NAS code does for strided blocks); ``None`` if impossible."""
    if g_in.dim() == 4 and g_out.dim() == 4 and g_in.shape[2:] != g_out.shape[2:]:
        if g_in.shape[2] > g_out.shape[2]:
            s = g_in.shape[2] // g_out.shape[2]
            if s * g_out.shape[2] != g_in.shape[2] or s * g_out.shape[3] != g_in.shape[3]:
                return None
            g_in = F.pixel_unshuffle(g_in, s)
        else:
            s = g_out.shape[2] // g_in.shape[2]
            if s * g_in.shape[2] != g_out.shape[2] or s * g_in.shape[3] != g_out.shape[3]:
                return None
            g_out = F.pixel_unshuffle(g_out, s)
    a, b = rows(g_in), rows(g_out)
    return (a, b) if a.shape[0] == b.shape[0] else None


def block_sigmas(feats: List[torch.Tensor], ctx) -> List[Optional[float]]:
    """Per consecutive block pair (last first): σ, the top singular value of E[g_in g_outᵀ] for a
    Rademacher ``g_out`` drawn from ``ctx`` (an estimate of the block Jacobian's spectral norm),
    or ``None`` for an exact identity block. Pairs whose features are not connected or not
    alignable are skipped."""
    out: List[Optional[float]] = []
    for i in reversed(range(1, len(feats))):
        f_out, f_in = feats[i], feats[i - 1]
        if not (f_out.requires_grad and f_in.requires_grad):
            continue
        g_out = ctx.rademacher(f_out)
        (g_in,) = torch.autograd.grad(f_out, f_in, g_out, retain_graph=True, allow_unused=True)
        if g_in is None:
            continue
        if g_in.shape == g_out.shape and torch.equal(g_in, g_out):
            out.append(None)
            continue
        al = align_gradients(g_in, g_out)
        if al is None:
            continue
        a, b = al
        out.append(float(singular_values(a.double().T @ b.double() / a.shape[0]).max()))
    return out
