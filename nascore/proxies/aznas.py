"""AZ-NAS (Lee & Ham, CVPR 2024): expressivity, progressivity, trainability (+ complexity).

Block features ``f_0..f_L`` are the input of the first block (stem output) and every block
output (:func:`nascore.proxies._utils.find_blocks`: NB201 cells and reduction blocks, ViT blocks,
the hybrid's conv/MBConv/attention/decoder blocks). As in the official code the weights are
Kaiming-normal (fan-in) re-initialised (on a copy), the net is in train mode and the inputs are
standard Gaussian noise of the batch's shape (the official NB201 setting; recipes.md measured
0.910 Spearman this way). Covariances and eigenvalues use float64 (float32 overflows).
"""

from __future__ import annotations

import math
from typing import Dict, List

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import norm

from ._utils import block_features, rows, singular_values, sym_eigvals
from .base import register_proxy
from .basic import count_flops


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


def _align(g_in: torch.Tensor, g_out: torch.Tensor):
    """Rows ``(points, channels)`` of both gradients at a common resolution (pixel-unshuffle
    the finer one, as the official code does for strided blocks); ``None`` if impossible."""
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


def trainability_scores(feats: List[torch.Tensor], ctx) -> List[float]:
    """Per consecutive block pair: −σ − 1/σ + 2 with σ the top singular value of
    E[g_in g_outᵀ] for a Rademacher ``g_out`` (an estimate of the block Jacobian's spectral
    norm); an exact identity block gives ``-inf`` as in the official code. Pairs whose
    features are not connected or not alignable are skipped."""
    out = []
    for i in reversed(range(1, len(feats))):
        f_out, f_in = feats[i], feats[i - 1]
        if not (f_out.requires_grad and f_in.requires_grad):
            continue
        g_out = ctx.rademacher(f_out)
        (g_in,) = torch.autograd.grad(f_out, f_in, g_out, retain_graph=True, allow_unused=True)
        if g_in is None:
            continue
        if g_in.shape == g_out.shape and torch.equal(g_in, g_out):
            out.append(float("-inf"))
            continue
        al = _align(g_in, g_out)
        if al is None:
            continue
        a, b = al
        mat = a.double().T @ b.double() / a.shape[0]
        smax = float(singular_values(mat).max())
        out.append(-smax - 1.0 / (smax + 1e-6) + 2.0)
    return out


def az_components(model, x: torch.Tensor, ctx, with_flops: bool = True) -> Dict[str, float]:
    """All AZ-NAS components for one net (noise input drawn from ``ctx``)."""
    noise = ctx.randn(x.shape, x)
    feats, _ = block_features(model, noise)
    if len(feats) < 2:
        raise ValueError(f"{type(model).__name__}: AZ-NAS needs >= 2 block features, found {len(feats)}")
    ex = expressivity_scores(feats)
    tr = trainability_scores(feats, ctx)
    comp = {"expressivity": float(np.sum(ex)),
            "progressivity": float(np.min(np.diff(ex))),
            "trainability": float(np.mean(tr)) if tr else float("nan")}
    if with_flops:
        comp["complexity"] = count_flops(model, x) / 2.0
    return comp


# Reference statistics for the per-net az_nas surrogate: median and IQR/1.349 of each component
# on the disclosed NB201 fit split np.random.default_rng(12345).choice(15625, 200) (input shape
# (16, 3, 32, 32), seed 0; benchmarks/fit_hybrid.py). Only location/scale are taken from it.
AZ_REF = {
    "expressivity": (49.1655, 11.7421),
    "progressivity": (-0.1741, 0.165),
    "trainability": (-0.2718, 0.2282),
    "log_complexity": (17.6679, 1.1961),
}


def az_surrogate(comp: Dict[str, float]) -> float:
    """Σ_m log Φ((s_m − μ_m)/σ_m): a population-free surrogate of AZ-NAS's Σ_m log(rank_m/N)
    (Φ = standard normal CDF, (μ, σ) = :data:`AZ_REF`, complexity in log FLOPs)."""
    vals = {"expressivity": comp["expressivity"], "progressivity": comp["progressivity"],
            "trainability": comp["trainability"], "log_complexity": math.log(comp["complexity"])}
    tot = 0.0
    for k, v in vals.items():
        mu, sd = AZ_REF[k]
        tot += float(norm.logcdf((v - mu) / sd)) if math.isfinite(v) else float("-inf")
    return tot


def _reg(name, key, doc):
    @register_proxy(name, needs_data=False, init="kaiming_fanin", mode="train")
    def fn(model, batch, ctx):
        comp = az_components(model, batch[0], ctx, with_flops=False)
        return {"value": comp[key], **comp}

    fn.__doc__ = doc
    fn.__name__ = name
    return fn


az_expressivity = _reg("az_expressivity", "expressivity",
                       "AZ-NAS expressivity: Σ over block features of the eigenvalue entropy of the "
                       "channel covariance. Higher is better. Data-free (Gaussian inputs).")
az_progressivity = _reg("az_progressivity", "progressivity",
                        "AZ-NAS progressivity: min over consecutive features of the expressivity "
                        "increase. Higher is better. Data-free (Gaussian inputs).")
az_trainability = _reg("az_trainability", "trainability",
                       "AZ-NAS trainability: mean over block pairs of −σ − 1/σ + 2 (σ: Jacobian "
                       "spectral-norm estimate); ≤ 0, higher is better, ``-inf`` (status nan) "
                       "when a block is the identity. Data-free (Gaussian inputs).")


@register_proxy("az_nas", needs_data=False, init="kaiming_fanin", mode="train")
def az_nas(model, batch, ctx):
    """AZ-NAS per-net surrogate. Higher is better. Data-free (Gaussian inputs).

    The official score is a population rank aggregation Σ_m log(rank_m / N) over expressivity,
    progressivity, trainability and complexity (FLOPs); use
    :func:`nascore.proxies.rank_aggregate` on the ``extra`` columns for that. A single net gets
    the monotone surrogate :func:`az_surrogate` (log normal-CDF of each component standardised
    with NB201 reference statistics, summed), which needs no population.
    """
    comp = az_components(model, batch[0], ctx)
    return {"value": az_surrogate(comp), **comp}
