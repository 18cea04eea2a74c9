"""Jacobian covariance (Mellor et al., "NAS without training", v1 2020; zero-cost benchmark form)."""

from __future__ import annotations

import torch

from ._utils import forward_logits
from .base import ProxyFailure, register_proxy
from .signals import sym_eigvals


def jacobian_score(jac: torch.Tensor, k: float = 1e-5) -> float:
    """−Σ_i [log(λ_i + k) + 1/(λ_i + k)] over eigenvalues of the correlation matrix of the rows."""
    j = jac.reshape(jac.shape[0], -1).double()
    corr = torch.corrcoef(j)
    if not torch.isfinite(corr).all():  # a constant (e.g. zero) Jacobian row
        return float("nan")
    lam = sym_eigvals(corr).clamp_min(0.0)
    return float(-(torch.log(lam + k) + 1.0 / (lam + k)).sum())


@register_proxy("jacob_cov", mode="train")
def jacob_cov(model, batch, ctx):
    """Jacobian-covariance score. Higher is better. Uses the real inputs (train mode).

    The per-sample Jacobian is ∂(Σ outputs of sample n)/∂x_n (dense outputs: summed over all
    pixels and classes), flattened; the score is −Σ[log(λ+k) + 1/(λ+k)], k = 1e-5, over the
    eigenvalues of the samples' correlation matrix (float64). Failures: a zero Jacobian (no
    input→output path) → ``"no_path"``; a constant Jacobian row (undefined correlation) →
    ``"degenerate"``; non-finite gradients → ``"nan"``.
    """
    x = batch[0].detach().clone().requires_grad_(True)
    out = forward_logits(model, x)
    (g,) = torch.autograd.grad(out.sum(), x)
    if not bool(torch.isfinite(g).all()):
        raise ProxyFailure("nan", "non-finite input gradients")
    if not bool(g.ne(0).any()):
        raise ProxyFailure("no_path", "the Jacobian is zero: no input→output path")
    v = jacobian_score(g)
    if v != v:
        raise ProxyFailure("degenerate", "a sample's Jacobian is constant (correlation undefined)")
    return v
