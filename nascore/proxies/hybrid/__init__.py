"""The project's own proxy, every version in one place.

Each registered version is one file named as its registry name: ``hybrid.py`` (the current
``hybrid``, v3), ``hybrid_v2.py`` and ``hybrid_v1.py`` (kept registered for comparison). What
they compose is beside them: :mod:`.signals` (the shared components: AZ-NAS-style
expressivity/progressivity/trainability, NASWOT, DSS, log params/FLOPs), :mod:`.rule` (protocol
rules, their pool and calibrations) and :mod:`.calibrated` (a rule as a per-network proxy). The
calibration files are in ``data/``.

:data:`VERSIONS` is the one table of the versions: the rule, its calibration file, the measured
cost, the sets it was fitted or selected on, and what superseded it. Result files record the
version they used (:func:`nascore.proxies.versions.proxy_version` hashes a version's code and
calibration; the notebooks' provenance also names ``hybrid_version``).
"""

from __future__ import annotations

from typing import Any, Dict

from ...registry import import_submodules
from ..versions import proxy_version

#: Every version of ``hybrid``: registry name -> what it is (see the module docstring).
#: ``measured_cost`` is the largest ratio to one forward+backward over the cost nets, from the
#: file named in ``cost_source`` (``perf/bench_hybrid_cost.py``, the v3 protocol's
#: ``measured_costs.csv``).
VERSIONS: Dict[str, Dict[str, Any]] = {
    "hybrid_v1": {
        "version": "v1",
        "rule": "(1 - a) * sum_k WEIGHTS[k] z_k + a * sum_k ATTN_WEIGHTS[k] z_k over log_expressivity, "
                "progressivity, trainability, naswot, log_dss, log_params, log_flops "
                "(a = attention share of the parameters)",
        "calibration": "constants in hybrid_v1.py (CENTER, SCALE, WEIGHTS, ATTN_*)",
        "measured_cost": 2.38, "cost_source": "reports/benchmarks/hybrid_cost.json",
        "fit_sets": ["NB201 CIFAR-10: 200 cells, default_rng(12345).choice(15625, 200)",
                     "AutoFormer file 1 (autoprox_gt_autoformer.json, CIFAR-100 KD accuracy)"],
        "selected_by": "weights fitted on the fit sets (perf/fit_hybrid.py)",
        "superseded_by": "hybrid_v2",
    },
    "hybrid_v2": {
        "version": "v2",
        "rule": "rank:log_expressivity+trainability+naswot_noise+log_snip",
        "calibration": "data/hybrid_v2_calibration.json",
        "measured_cost": 2.84, "cost_source": "reports/benchmarks/hybrid_v3/measured_costs.csv",
        "fit_sets": ["NB201 fit cells", "AutoFormer file 1",
                     "hybrid LGG mini-benchmark, 48-architecture fit part"],
        "selected_by": "protocol v2: max mean Kendall tau over the fit sets "
                       "(nascore.experiments.hybrid_protocol --version v2)",
        "superseded_by": "hybrid",
    },
    "hybrid": {
        "version": "v3",
        "rule": "rank:log_expressivity+trainability+naswot_noise+log_flops",
        "calibration": "data/hybrid_v3_calibration.json",
        "measured_cost": 1.73, "cost_source": "reports/benchmarks/hybrid_v3/measured_costs.csv",
        "fit_sets": ["NB201 fit cells", "AutoFormer file 1",
                     "hybrid LGG mini-benchmark, 48-architecture fit part"],
        "selected_by": "protocol v3: v2's order, first rule with measured cost <= 2.0 "
                       "(nascore.experiments.hybrid_protocol --version v3)",
        "superseded_by": None,
    },
}

#: The registry name of the current version.
CURRENT = next(n for n, v in VERSIONS.items() if v["superseded_by"] is None)

#: Every module of this package, imported: each version file registers itself.
PLUGINS = import_submodules(__name__, __path__)


def version_record(name: str = CURRENT) -> Dict[str, Any]:
    """What a result file records of the ``hybrid`` version ``name``: its registry name,
    version, rule and code version (:func:`~nascore.proxies.versions.proxy_version`).

    Raises:
        KeyError: ``name`` is not a version in :data:`VERSIONS`.
    """
    if name not in VERSIONS:
        raise KeyError(f"{name!r} is not a hybrid version; known: {sorted(VERSIONS)}")
    v = VERSIONS[name]
    return {"name": name, "version": v["version"], "rule": v["rule"],
            "code_version": proxy_version(name)}
