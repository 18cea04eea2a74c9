"""A protocol rule (:class:`~nascore.proxies.hybrid.rule.Rule`) as a per-network proxy.

Not a proxy file: ``hybrid_v3`` (:mod:`nascore.proxies.hybrid.hybrid`) is one of these, and the
protocol's measured cost check (:mod:`nascore.experiments.hybrid_protocol.cost`) times any
candidate rule through the same code, so the cost it measures is the cost the proxy pays.

The components of a rule are the values its source proxies give (:data:`POOL`), computed in one
call and, for the noise passes, only those the rule needs:

* components of ``hybrid_v1`` (the noise forward, the Rademacher backward, the linearised DSS
  pass): :func:`~nascore.proxies.hybrid.signals.hybrid_components` with ``need`` limited to
  them, on the harness's copy (the same seeded global RNG and generator as ``hybrid_v1`` sees,
  so the values equal that proxy's);
* components of any other proxy (task-data ones: ``snip``, ``grad_norm``, ``naswot``,
  ``jacob_cov``): that proxy run through the harness first, on the model's own initialisation;
  a failure there makes the component −inf (ranked below every finite value), as the protocol
  counts failures.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict, Mapping

from ..base import ProxyFailure
from .rule import POOL, Calibration, Rule, _transform
from .signals import hybrid_components

#: The calibration families (see :func:`family`).
FAMILIES = ("cnn", "vit", "segmentation")

_NOISE_SOURCE = "hybrid_v1"


def family(targets, attn_share: float) -> str:
    """``"segmentation"`` for dense targets (``(B, ...spatial)`` masks), ``"vit"`` for
    ``attn_share >= 0.5``, else ``"cnn"``. Without targets a segmentation net is taken as a
    cnn or vit: pass its masks to get the segmentation calibration."""
    if targets is not None and getattr(targets, "dim", lambda: 1)() >= 3:
        return "segmentation"
    return "vit" if attn_share >= 0.5 else "cnn"


def rule_components(model, batch, ctx, rule: Rule) -> Dict[str, float]:
    """The components of ``rule`` for ``model`` (train mode), plus ``attn_share``.

    Edits ``model`` (Kaiming fan-in re-initialisation for the noise passes): pass the harness's
    copy. Task-data components are taken first, on the model's own initialisation.

    Raises:
        ProxyFailure: from the noise passes (e.g. ``"empty_layers"`` for fewer than two block
            features), as ``hybrid_v1`` raises it.
    """
    from ..harness import score

    comp: Dict[str, float] = {}
    for src in rule.sources:
        if src == _NOISE_SOURCE:
            continue
        r = score(src, model, batch, seed=ctx.seed)
        out = {"value": r.value, **r.extra} if r.ok else {}
        for c in rule.components:
            s, key, how, _ = POOL[c]
            if s == src:
                v = _transform(out.get(key, float("nan")), how)
                comp[c] = v if math.isfinite(v) or v == float("-inf") else float("-inf")
    need = {POOL[c][1] for c in rule.components if POOL[c][0] == _NOISE_SOURCE}
    if not need:  # no noise pass: the attention share needs only the layer discovery
        comp["attn_share"] = ctx.layers(model, batch[0]).attention_share(model)
        return comp
    noise = hybrid_components(model, batch[0], ctx, need=need)
    for c in rule.components:
        s, key, how, _ = POOL[c]
        if s == _NOISE_SOURCE:
            comp[c] = _transform(noise[key], how)
    comp["attn_share"] = noise["attn_share"]
    return comp


def load_calibrations(path: Path, rule: Rule) -> Dict[str, Calibration]:
    """``{family: Calibration}`` of ``rule`` from ``path`` (the protocol's ``calibration.json``).

    Raises:
        FileNotFoundError: naming the file when it is missing.
        ValueError: when it calibrates another rule or lacks a family of :data:`FAMILIES`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"rule calibration {path} is missing (a copy of the protocol's "
                                "calibration.json: python -m nascore.experiments.hybrid_protocol)")
    d = json.loads(path.read_text())
    if d.get("rule") != rule.name:
        raise ValueError(f"{path} calibrates {d.get('rule')!r}, not {rule.name!r}")
    missing = [f for f in FAMILIES if f not in d.get("families", {})]
    if missing:
        raise ValueError(f"{path} has no calibration for {missing}")
    return {f: Calibration.from_dict(d["families"][f]) for f in FAMILIES}


def rule_result(comp: Mapping[str, float], targets, rule: Rule,
                calibrations: Mapping[str, Calibration], family_name: str = "auto") -> Dict[str, float]:
    """The proxy output for components ``comp``: ``value`` (the rule's mean percentile against
    the network's family calibration), every component, ``attn_share``, ``family_index`` (index
    in :data:`FAMILIES`) and ``n_unmeasured`` (components that are not finite).

    Args:
        family_name: the calibration family, one of :data:`FAMILIES`, or ``"auto"``
            (:func:`family`: from the targets' shape and the attention share).

    Raises:
        ProxyFailure: ``"bad_input"`` for an unknown ``family_name``.
    """
    if family_name == "auto":
        fam = family(targets, comp["attn_share"])
    elif family_name in FAMILIES:
        fam = family_name
    else:
        raise ProxyFailure("bad_input", f"unknown calibration family {family_name!r}; use one of "
                                        f"{list(FAMILIES)} or 'auto'")
    value = calibrations[fam].value(comp, rule)
    unmeasured = sum(not math.isfinite(comp[c]) for c in rule.components)
    return {"value": value, **comp, "family_index": float(FAMILIES.index(fam)),
            "n_unmeasured": float(unmeasured)}


def check_batch(rule: Rule, batch) -> None:
    """Raises ``ProxyFailure("bad_input")`` for a batch a rule proxy should not score: inputs
    that are not floating point (the noise passes copy their dtype), targets that are not a
    tensor with one entry per input, or no targets when ``rule`` reads the task loss."""
    x, y = batch
    if not x.is_floating_point():
        raise ProxyFailure("bad_input", f"the inputs are {x.dtype}, not floating point: convert "
                                        "and scale them first")
    if y is not None and not (hasattr(y, "shape") and len(y.shape) >= 1 and y.shape[0] == x.shape[0]):
        raise ProxyFailure("bad_input", f"the targets must be a tensor with one entry per input "
                                        f"({x.shape[0]}), got {type(y).__name__} "
                                        f"{tuple(getattr(y, 'shape', ()))}")
    if any(POOL[c][0] in ("snip", "grad_norm") for c in rule.components) and y is None:
        raise ProxyFailure("bad_input", f"{rule.name} reads the targets (labels or masks) for "
                                        "its task-loss component: pass (inputs, targets)")
