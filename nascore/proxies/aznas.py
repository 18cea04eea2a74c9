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
from scipy.stats import norm

from ._utils import block_features
from .base import ProxyFailure, register_proxy
from .signals import block_sigmas, count_flops, expressivity_scores


def trainability_scores(feats: List[torch.Tensor], ctx) -> List[float]:
    """Per consecutive block pair: −σ − 1/σ + 2 with σ from
    :func:`nascore.proxies.signals.block_sigmas`; an exact identity block gives ``-inf`` as in
    the official code."""
    return [float("-inf") if s is None else -s - 1.0 / (s + 1e-6) + 2.0
            for s in block_sigmas(feats, ctx)]


def az_components(model, x: torch.Tensor, ctx, with_flops: bool = True) -> Dict[str, float]:
    """All AZ-NAS components for one net (noise input drawn from ``ctx``).

    Raises:
        ProxyFailure: ``"empty_layers"`` with fewer than 2 block features.
    """
    noise = ctx.randn(x.shape, x)
    feats, _ = block_features(model, noise, ctx=ctx)
    if len(feats) < 2:
        raise ProxyFailure("empty_layers", f"{type(model).__name__}: AZ-NAS needs >= 2 block "
                                           f"features, found {len(feats)}")
    ex = expressivity_scores(feats)
    tr = trainability_scores(feats, ctx)
    comp = {"expressivity": float(np.sum(ex)),
            "progressivity": float(np.min(np.diff(ex))),
            "trainability": float(np.mean(tr)) if tr else float("nan")}
    if with_flops:
        comp["complexity"] = count_flops(model, x) / 2.0
    return comp


def _checked(value: float, comp: Dict[str, float]) -> Dict[str, float]:
    """``{"value": value, **comp}``, or a named failure (components kept in ``extra``)."""
    if comp.get("trainability") == float("-inf"):
        raise ProxyFailure("degenerate", "a block is exactly the identity (AZ-NAS trainability "
                                         "-inf)", comp)
    if math.isnan(comp.get("trainability", 0.0)):
        raise ProxyFailure("empty_layers", "no pair of connected, alignable block features for "
                                           "AZ-NAS trainability", comp)
    if not math.isfinite(value):
        raise ProxyFailure("nan", f"non-finite AZ-NAS value {value!r}", comp)
    return {"value": value, **comp}


# Reference statistics for the per-net az_nas surrogate: median and IQR/1.349 of each component
# on the disclosed NB201 fit split np.random.default_rng(12345).choice(15625, 200) (input shape
# (16, 3, 32, 32), seed 0; perf/fit_hybrid.py). Only location/scale are taken from it.
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
        return _checked(comp[key], comp) if key == "trainability" else {"value": comp[key], **comp}

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
                       "spectral-norm estimate); ≤ 0, higher is better; status ``degenerate`` "
                       "when a block is exactly the identity (AZ-NAS: -inf). Data-free (Gaussian "
                       "inputs).")


@register_proxy("az_nas", needs_data=False, init="kaiming_fanin", mode="train")
def az_nas(model, batch, ctx):
    """AZ-NAS per-net surrogate. Higher is better. Data-free (Gaussian inputs).

    The official score is a population rank aggregation Σ_m log(rank_m / N) over expressivity,
    progressivity, trainability and complexity (FLOPs); use
    :func:`nascore.proxies.rank_aggregate` on the ``extra`` columns for that. A single net gets
    the monotone surrogate :func:`az_surrogate` (log normal-CDF of each component standardised
    with NB201 reference statistics, summed), which needs no population. A net with an exact
    identity block gets status ``"degenerate"`` (its components stay in ``extra``).
    """
    comp = az_components(model, batch[0], ctx)
    return _checked(az_surrogate(comp), comp)
