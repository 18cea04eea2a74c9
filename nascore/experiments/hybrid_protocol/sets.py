"""The declared fit (selection) and report sets of the ``hybrid`` v2 protocol, and their
component tables.

Declared before any report number is looked at (see :mod:`.protocol`):

* **NB201** (truth: 200-epoch test accuracy). Fit: the cells of
  :func:`~nascore.experiments.proxy_corr.inputs.hybrid_fit_indices` (CIFAR-10). Report: the
  notebook-02 sample (:func:`~nascore.experiments.proxy_corr.inputs.sample_nb201`, seed 0; 1,000
  cells on CIFAR-10 and its first 100 on CIFAR-100 and ImageNet16-120) minus every cell whose
  canonical form (:func:`~nascore.bench.nb201_objectives.nb201_canonical`: ops off every
  input→output path set to ``none``) equals that of a fit cell, so no report cell computes the
  same function as a fit cell.
* **AutoFormer** (truth: CIFAR-100 KD accuracy). Fit: the 100 ViTs of
  ``autoprox_gt_autoformer.json``. Report: the 100 of ``autoprox_gt_autoformer_2.json``.
* **Hybrid LGG mini-benchmark** (truth: validation tumour Dice, seed 0). Fit: :data:`LGG_FIT_PER_STRATUM`
  architectures of each (FLOPs bin × attention group) stratum, drawn with
  ``np.random.default_rng(LGG_SPLIT_SEED)`` over the sorted ``arch_id`` of the stratum. Report:
  the rest, the two reference rows included.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Mapping

import numpy as np
import pandas as pd

from ...bench.nb201_objectives import nb201_canonical
from ...bench.tables import load_nb201_accuracy
from ...proxies.hybrid.rule import POOL, component_row

#: The seed and per-stratum size of the LGG fit part (declared with the protocol).
LGG_SPLIT_SEED = 2026
LGG_FIT_PER_STRATUM = 4

#: The proxies whose outputs hold the component pool (v1 of ``hybrid`` as registered: see
#: :func:`v1_name`).
POOL_SOURCES = tuple(sorted({v[0] for v in POOL.values()}))


def v1_name() -> str:
    """The registry name of ``hybrid`` v1: ``hybrid_v1`` (``hybrid`` in code before v2)."""
    from ...proxies import PROXIES

    return "hybrid_v1" if "hybrid_v1" in PROXIES else "hybrid"


def pool_proxies() -> tuple:
    """:data:`POOL_SOURCES` with v1 under its registry name."""
    return tuple(v1_name() if p == "hybrid_v1" else p for p in POOL_SOURCES)


def is_v1_row(proxy: str, extra: Mapping) -> bool:
    """A score row of ``hybrid`` v1: ``hybrid_v1``, or ``hybrid`` written before v2 existed
    (its ``extra`` has v1's ``log_dss`` and no ``family_index``)."""
    return proxy == "hybrid_v1" or (proxy == "hybrid" and "family_index" not in extra
                                     and "log_dss" in extra)

BENCHMARKS = ("nb201", "autoformer", "hybrid_lgg")


def _extra(v: Any) -> Dict[str, float]:
    if isinstance(v, Mapping):
        return dict(v)
    if isinstance(v, str) and v.strip():
        return json.loads(v)
    return {}


def components_table(long: pd.DataFrame, key: str) -> pd.DataFrame:
    """One row per network (index ``key``), one column per :data:`POOL` component.

    Args:
        long: scores in long form with columns ``key``, ``proxy``, ``status``, ``extra`` and the
            raw value in ``raw_value`` (the hybrid benchmark's table) or ``value`` (notebook 02's
            ``scores.csv``, where ``value`` is the raw proxy value). Failed proxies give NaN
            components; ``extra`` may be a dict or its JSON.
    """
    val = "raw_value" if "raw_value" in long.columns else "value"
    out = {}
    for k, g in long.groupby(key, sort=False):
        outputs = {}
        for _, r in g.iterrows():
            ok = str(r.get("status", "ok")) == "ok"
            ex = _extra(r.get("extra")) if ok else {}
            name = "hybrid_v1" if is_v1_row(r["proxy"], ex) or (r["proxy"] == "hybrid" and not ok
                                                                 and "hybrid_v1" not in set(g["proxy"])) else r["proxy"]
            outputs[name] = {"value": float(r[val]) if ok else float("nan"), **ex}
        out[k] = component_row(outputs)
    df = pd.DataFrame.from_dict(out, orient="index")
    df.index.name = key
    return df


def nb201_split(report_cells: pd.Series, root=None) -> Dict[str, Any]:
    """The NB201 fit cells and the canonical-form-disjoint report cells.

    Args:
        report_cells: arch strings of the notebook-02 sample.

    Returns:
        ``{"fit": [arch_str], "report": [arch_str], "dropped": [arch_str]}`` (``dropped``:
        report cells whose canonical form equals a fit cell's).
    """
    from ..proxy_corr.inputs import hybrid_fit_indices

    acc = load_nb201_accuracy(root=root)
    fit = acc.loc[hybrid_fit_indices(), "arch_str"].tolist()
    fit_canon = {nb201_canonical(a) for a in fit}
    rep = [a for a in report_cells if nb201_canonical(a) not in fit_canon]
    dropped = [a for a in report_cells if nb201_canonical(a) in fit_canon]
    return {"fit": fit, "report": rep, "dropped": dropped}


def lgg_split(truth: pd.DataFrame) -> Dict[str, list]:
    """The declared fit/report split of the mini-benchmark's architectures.

    Args:
        truth: :func:`nascore.bench.hybrid_seg.analysis.truth_frame` (``arch_id``, ``role``,
            ``flops_bin``, ``attn_group``).
    """
    rng = np.random.default_rng(LGG_SPLIT_SEED)
    fit = []
    sampled = truth[truth["role"] == "sample"]
    for _, g in sampled.groupby(["flops_bin", "attn_group"], sort=True):
        ids = sorted(g["arch_id"])
        k = min(LGG_FIT_PER_STRATUM, len(ids))
        fit += [ids[i] for i in sorted(rng.choice(len(ids), k, replace=False))]
    report = [a for a in truth["arch_id"] if a not in set(fit)]
    return {"fit": fit, "report": report}
