"""``hybrid`` (v3): the project's proxy for CNN, Transformer and hybrid CNN+Transformer nets: the
rule the protocol's v3 (the measured cost check) selected, as a per-network proxy.

v2 (now ``hybrid_v2``) was chosen under *declared* pass costs and measured 2.0-2.8x one
forward+backward, over the issue's 2-pass limit. The protocol's v3
(:mod:`nascore.experiments.hybrid_protocol`, ``--version v3``) keeps v2's candidates and
selection order and takes the first rule whose **measured** cost is within 2.0x on every cost
net (:mod:`nascore.experiments.hybrid_protocol.cost`); its outputs, with every candidate passed
over and its measured cost, are in ``reports/benchmarks/hybrid_v3/``.

The value, like v2's, has **no fitted weight**: the mean, over the rule's components
(:data:`RULE`), of each component's percentile against a label-free calibration of the fit sets
of the network's family (:func:`nascore.proxies.hybrid.calibrated.family`: ``"segmentation"`` for
dense targets, else ``"vit"`` when at least half of the trainable parameters are in
attention/MLP layers, else ``"cnn"``). The components are those of ``hybrid_v1``
(AZ-NAS-style expressivity and trainability, NASWOT on Gaussian-noise inputs, log MACs; one
noise forward after a Kaiming fan-in re-init and one Rademacher backward,
:func:`nascore.proxies.hybrid.signals.hybrid_components`), so the input pixels are not read,
only their shape; targets, when given, pick the segmentation calibration.

Cost: ``measured_costs.csv`` beside the selection (the largest ratio over the cost nets) and
``reports/benchmarks/hybrid_cost.json`` (``perf/bench_hybrid_cost.py``).

Calibrated at the fit sets' settings (NB201 CIFAR-10 batch 64, AutoFormer CIFAR-100 batch 32,
LGG 64 px batch 8 tumour slices); compare per-network values within one setting. A component
that cannot be measured counts as the worst value (``extra["n_unmeasured"]``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Dict

from ..base import register_proxy
from .rule import Calibration, Rule
from .calibrated import check_batch, load_calibrations, rule_components, rule_result

#: The rule the v3 protocol selected (reports/benchmarks/hybrid_v3/selection.json).
RULE = Rule(("log_expressivity", "trainability", "naswot_noise", "log_flops"), "rank")

#: Per-family calibration, a copy of ``reports/benchmarks/hybrid_v3/calibration.json``.
CALIBRATION_FILE = Path(__file__).with_name("data") / "hybrid_v3_calibration.json"

#: Files whose bytes are part of this proxy's cache version (:func:`nascore.proxies.versions.proxy_version`).
VERSION_FILES = (CALIBRATION_FILE,)


@lru_cache(maxsize=1)
def calibrations() -> Dict[str, Calibration]:
    """``{family: Calibration}`` from :data:`CALIBRATION_FILE` (errors: see
    :func:`~nascore.proxies.hybrid.calibrated.load_calibrations`)."""
    return load_calibrations(CALIBRATION_FILE, RULE)


@register_proxy("hybrid", needs_data=RULE.uses_data, needs_targets=False,
                changes_weights=True, mode="train", options={"hybrid_family": "auto"})
def hybrid(model, batch, ctx):
    """``hybrid`` v3 (see :mod:`nascore.proxies.hybrid.hybrid`). Higher is better.

    ``extra`` holds every component, ``attn_share``, ``family_index`` (the index in
    :data:`nascore.proxies.hybrid.calibrated.FAMILIES` of the calibration used) and ``n_unmeasured``.
    The calibration family is the option ``hybrid_family``: ``"cnn"``, ``"vit"``,
    ``"segmentation"``, or ``"auto"`` (default): segmentation when the targets have spatial
    dimensions (``(B, H, W)``, ``(B, 1, H, W)``), else vit when at least half of the trainable
    parameters are in attention/MLP layers, else cnn. Say it explicitly for a network of a
    family the guess would miss, e.g. ``score("hybrid", net, batch, options={"hybrid_family":
    "segmentation"})`` for a segmentation net scored without masks.
    """
    check_batch(RULE, batch)
    comp = rule_components(model, batch, ctx, RULE)
    return rule_result(comp, batch[1], RULE, calibrations(),
                       family_name=ctx.options.get("hybrid_family", "auto"))
