"""The signals of the ``hybrid`` proxies (v1 and v2), measured on one network.

Not a proxy file: :mod:`nascore.proxies.hybrid.hybrid_v1` (``hybrid_v1``) and
:mod:`nascore.proxies.hybrid.hybrid_v2` (``hybrid``) both compose these, and proxy files never import
each other. See :func:`hybrid_components` for the components and the passes they cost.
"""

from __future__ import annotations

import math
from typing import Dict, Optional

import numpy as np
import torch

from torch import nn

from .._utils import (activation_calls, block_features, copy_model, hooks, init_weights, per_sample,
                     weight_layers)
from ..base import ProxyFailure
from ..layers import Layers, discover
from ..signals import (block_sigmas, count_params, expressivity_scores, hamming_kernel, linearise,
                      linearised_grads, log_abs_sum, log_nuclear)

_TRANSPOSED = (torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)

#: Trainability score of a block whose Jacobian is exactly the identity (AZ-NAS uses -inf).
IDENTITY_PENALTY = -2.0

COMPONENTS = ("log_expressivity", "progressivity", "trainability", "naswot", "log_dss",
              "log_params", "log_flops")


def attention_share(model: nn.Module, x: torch.Tensor, layers: Optional[Layers] = None) -> float:
    """Share ``a`` of the trainable parameters that sit in attention and MLP (Transformer) layers.

    Layers are found by structure (:func:`nascore.proxies.layers.discover`, one batch-1 forward
    of ``x``): every parameter of an attention module (the hybrid's ``MHSA``, the ViT's
    ``Attention``, ``nn.MultiheadAttention``, MONAI's ``SABlock``/``WindowAttention``) and the
    Linear layers of MLPs. 0 for NB201 cells and pure CNNs, about 0.98 for the AutoFormer ViTs
    (patch embedding, tokens and head are the rest), in between for hybrid nets.
    """
    return (layers or discover(model, x)).attention_share(model)


def log_dss(model: nn.Module, x: torch.Tensor, layers: Optional[Layers] = None) -> float:
    """log(DSS) as the ``dss`` proxy defines it (attention diversity + MLP saliency on the
    linearised float64 net, batch 1 of ones; SynFlow of all Conv/Linear layers when there is
    neither), computed in log space so that deep ViTs do not overflow. ``layers``: discovered on
    ``model`` or a copy of it (looked up by name). Edits ``model`` in place: pass a copy."""
    layers = layers or discover(model, x)
    attn = layers.modules(model, "attention_linears")
    mlp = layers.modules(model, "mlp_linears")
    if not attn and not mlp:
        mlp = weight_layers(model)
    linearise(model)
    layers_ = attn + mlp
    _, grads, _ = linearised_grads(model, x, layers_)
    logs = []
    for i, (l, g) in enumerate(zip(layers_, grads)):
        if g is None:
            continue
        w = l.weight.detach()
        logs.append(log_nuclear(g) + log_nuclear(w) if i < len(attn) else log_abs_sum(g * w))
    logs = [v for v in logs if v != float("-inf")]
    if not logs:
        return float("-inf")
    return float(torch.logsumexp(torch.tensor(logs, dtype=torch.float64), 0))


def _trainability(feats, ctx) -> float:
    vals = [IDENTITY_PENALTY if s is None else (-abs(math.log(s)) if s > 0 else float("-inf"))
            for s in block_sigmas(feats, ctx)]
    return float(np.mean(vals)) if vals else float("nan")


def hybrid_components(model, x: torch.Tensor, ctx, need=None) -> Dict[str, float]:
    """The components of :data:`COMPONENTS` for ``model`` (train mode), plus ``attn_share``.
    Edits ``model``: pass a copy.

    The DSS term is taken on a copy with the model's own initialisation (as TF-TAS does; a
    Kaiming re-init makes the linearised float64 pass overflow on 12-block ViTs), then ``model``
    is Kaiming fan-in re-initialised (global RNG, seeded and isolated by the harness) for the
    AZ-NAS-style and NASWOT-like terms. ``x`` only gives the input shape; the noise is drawn from
    ``ctx.generator``.

    Args:
        need: the component names to compute (default: all of :data:`COMPONENTS`). The DSS pass
            runs only for ``log_dss``, the Rademacher backward only for ``trainability``, the
            noise forward only for the others; components not needed are absent.
    """
    need = set(COMPONENTS if need is None else need)
    unknown = need - set(COMPONENTS)
    if unknown:
        raise ValueError(f"hybrid_components: unknown components {sorted(unknown)}")
    found = ctx.layers(model, x)
    comp: Dict[str, float] = {"attn_share": found.attention_share(model)}
    if "log_dss" in need:
        comp["log_dss"] = log_dss(copy_model(model), x, found)
    if not need - {"log_dss"}:
        return comp
    init_weights(model, "kaiming_fanin")
    noise = ctx.randn(x.shape, x)
    codes = []

    def code_hook(mod, inp, out):
        codes.append(per_sample(inp[0].detach(), x.shape[0])[0] > 0)

    macs = [0.0]

    def mac_hook(mod, inp, out):
        per_out = mod.weight[0].numel()  # MACs per output (per input for transposed convs)
        t = inp[0] if isinstance(mod, _TRANSPOSED) else out
        macs[0] += t.numel() / t.shape[0] * per_out

    with activation_calls(model, code_hook), hooks(weight_layers(model), mac_hook):
        if "trainability" in need:
            feats, _ = block_features(model, noise, ctx=ctx)
        else:
            with torch.no_grad():
                feats, _ = block_features(model, noise, ctx=ctx)
    if len(feats) < 2:
        raise ProxyFailure("empty_layers", f"{type(model).__name__}: hybrid needs >= 2 block "
                                           f"features, found {len(feats)}")
    ex = expressivity_scores(feats)
    comp["log_expressivity"] = math.log(sum(ex)) if sum(ex) > 0 else float("-inf")
    comp["progressivity"] = float(np.min(np.diff(ex)))
    if "trainability" in need:
        comp["trainability"] = _trainability(feats, ctx)
    del feats
    if codes:
        sign, logdet = torch.linalg.slogdet(hamming_kernel(codes))
        comp["naswot"] = float(logdet) / x.shape[0] if sign > 0 else float("-inf")
    else:
        comp["naswot"] = float("nan")
    comp["log_params"] = math.log(max(count_params(model), 1))
    comp["log_flops"] = math.log(max(macs[0], 1.0))
    return {k: v for k, v in comp.items() if k in need or k == "attn_share"}
