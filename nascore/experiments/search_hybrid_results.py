"""Results of notebook 03's hybrid-space search (:mod:`nascore.experiments.search_hybrid`):
the candidates as a frame, a latency look-up table of their pieces, Pareto fronts, the best
architecture and its ``best_arch.json`` (schema in :mod:`~nascore.experiments.search_hybrid`),
and the headline numbers for ``metrics.json``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence

import numpy as np
import pandas as pd

from ..arch import HybridSegArch
from ..progress import tqdm
from ..provenance import write_metrics
from ..search import pareto_front

if TYPE_CHECKING:  # annotations only: search_hybrid re-exports this module's functions
    from .search_hybrid import HybridSearchConfig


def search_frame(history) -> pd.DataFrame:
    """One row per candidate (evaluated and rejected): ``arch_id, arch, status, score,
    feasible, params, flops, baseline_flops, flops_ratio, n_attn, resolution, reason``."""
    rows = []
    for r in history.records:
        rows.append({"arch_id": r.arch_id, "arch": r.arch_json, "status": r.status,
                     "score": r.score if r.ok else np.nan, "feasible": True,
                     "reason": r.message, **r.cost})
    for r in history.rejected:
        rows.append({"arch_id": r.arch_id, "arch": r.arch_json, "status": "rejected",
                     "score": np.nan, "feasible": False, "reason": r.reason, **r.cost})
    cols = ["arch_id", "arch", "status", "score", "feasible", "params", "flops",
            "baseline_flops", "flops_ratio", "n_attn", "reason"]
    df = pd.DataFrame(rows)
    for c in cols:
        if c not in df.columns:
            df[c] = np.nan
    df["resolution"] = [HybridSegArch.from_json(a).resolution for a in df["arch"]] if len(df) else []
    return df[cols + ["resolution"]]


def latency_lut(archs: Sequence[Any], path=None, in_channels: int = 3, out_channels: int = 1,
                repeats: int = 3, warmup: int = 1, progress: bool = False):
    """A latency :class:`~nascore.latency.LatencyLUT` covering ``archs``' pieces, loaded from
    ``path`` when it exists (same channels, repeats) and extended with the missing pieces."""
    import torch

    from ..latency import LatencyLUT, arch_pieces, measure_piece

    meta = {"metric": "latency", "in_channels": in_channels, "out_channels": out_channels,
            "spatial_dims": 2, "repeats": repeats, "warmup": warmup,
            "torch_threads": torch.get_num_threads(), "batch": 1}
    lut = None
    if path is not None and Path(path).is_file():
        lut = LatencyLUT.load(path)
        if any(lut.meta.get(k) != v for k, v in meta.items()):
            lut = None
    lut = lut or LatencyLUT({}, meta)
    todo = {}
    for a in archs:
        for k, spec in arch_pieces(a, in_channels, out_channels):
            if k not in lut.entries:
                todo[k] = spec
    items = sorted(todo.items())
    if progress:
        items = tqdm(items, desc="latency LUT pieces", mininterval=2.0)
    for k, spec in items:
        lut.entries[k] = measure_piece(spec, 2, "latency", repeats, warmup)
    if path is not None and todo:
        lut.save(path)
    return lut


def add_pareto(df: pd.DataFrame, lut=None) -> pd.DataFrame:
    """Adds ``pred_latency_ms`` (from ``lut``, feasible scored rows) and the Pareto flags
    ``front_flops`` / ``front_latency`` (non-dominated in (score up, cost down) among the
    feasible scored candidates, :func:`nascore.search.pareto_front`)."""
    df = df.copy()
    ok = (df["status"] == "ok") & df["feasible"] & np.isfinite(df["score"].astype(float))
    df["pred_latency_ms"] = np.nan
    if lut is not None:
        df.loc[ok, "pred_latency_ms"] = [lut.predict(HybridSegArch.from_json(a))
                                         for a in df.loc[ok, "arch"]]
    for col, cost in (("front_flops", "flops"), ("front_latency", "pred_latency_ms")):
        df[col] = False
        sub = df.loc[ok, ["score", cost]].to_numpy(float)
        if len(sub) and np.isfinite(sub).all():
            idx = df.index[ok][pareto_front(sub, maximize=(True, False))]
            df.loc[idx, col] = True
    return df


def select_best(history, min_attn_blocks: int = 1):
    """``(record, note)``: the best feasible evaluation with >= ``min_attn_blocks`` attention
    blocks (else the best feasible one, with a note); ``(None, note)`` when nothing was scored."""
    ok = [r for r in history.records if r.ok and math.isfinite(r.score)]
    if not ok:
        return None, "no feasible candidate was scored"
    with_attn = [r for r in ok if r.cost.get("n_attn", 0) >= min_attn_blocks]
    if with_attn:
        return max(with_attn, key=lambda r: r.score), ""
    return (max(ok, key=lambda r: r.score),
            f"no scored candidate has >= {min_attn_blocks} attention blocks: best feasible kept")


def best_arch_payload(record, cfg: HybridSearchConfig, info: Dict[str, Any], history,
                      note: str = "", pred_latency_ms: Optional[float] = None) -> Dict[str, Any]:
    """The ``best_arch.json`` content (without provenance; see the module docstring)."""
    arch = HybridSegArch.from_json(record.arch_json)
    c = record.cost
    return {"arch": arch.to_dict(), "arch_id": arch.arch_id, "describe": arch.describe(),
            "score": record.score, "proxy": cfg.proxy, "proxy_resolution": cfg.proxy_resolution,
            "proxy_batch_size": cfg.batch_size, "params": c.get("params"),
            "flops": c.get("flops"), "flops_ratio": c.get("flops_ratio"),
            "baseline": "hctnet_like", "baseline_flops": c.get("baseline_flops"),
            "budget": cfg.budget_info(), "pred_latency_ms": pred_latency_ms,
            "n_attn": arch.num_attn_blocks, "in_channels": cfg.in_channels,
            "out_channels": cfg.out_channels, "data": info["source"],
            "dataset": info.get("dataset"),
            "synthetic": bool(info["synthetic"]), "batch_ids": info.get("ids"),
            "batch_split": info.get("split"),
            "search": {"strategy": cfg.strategy, "settings": dict(cfg.settings or {}),
                       "budget": cfg.budget, "seed": cfg.seed, "n_evals": len(history.records),
                       "n_rejected": history.n_rejected, "n_failed": history.n_failed,
                       "min_attn_blocks": cfg.min_attn_blocks, "note": note}}


def write_best_arch(path, payload: Dict[str, Any], config: Optional[Dict[str, Any]] = None,
                    seed: Optional[int] = None) -> Path:
    """Writes ``best_arch.json`` (payload + ``provenance``) atomically."""
    return write_metrics(path, payload, config, seed)


def check_batch_split(path, fractions, split_seed: int) -> None:
    """Refuses an architecture searched on another patient split than the one given.

    Notebook 03 scores candidates on slices of the *training* patients of a split
    (``batch_split`` in its ``best_arch.json``); notebook 04 calls this with its own split, so
    that the proxy which picked its architecture never saw its validation or test patients.
    Files without ``batch_split`` (older runs, hand-written architectures) and missing or
    unreadable files pass (they are reported elsewhere); a ``batch_split`` that is present
    (not null) but not ``{"fractions": [3 numbers], "seed": int}`` is refused.

    Raises:
        ValueError: naming the file, both splits and the two ways out; or naming the file and
            the field when ``batch_split`` is malformed.
    """
    p = Path(path)
    try:
        d = json.loads(p.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(d, dict) or d.get("batch_split") is None:
        return
    bs = d["batch_split"]
    mine = ([float(f) for f in fractions], int(split_seed))
    try:
        fr, seed = bs["fractions"], bs["seed"]
        ok = (isinstance(fr, list) and len(fr) == 3
              and all(isinstance(f, (int, float)) and not isinstance(f, bool)
                      and math.isfinite(f) for f in fr)
              and isinstance(seed, int) and not isinstance(seed, bool))
        if not ok:
            raise TypeError("fractions must be 3 finite numbers and seed an integer")
        theirs = ([float(f) for f in fr], int(seed))
    except (TypeError, KeyError, ValueError, OverflowError) as e:
        raise ValueError(
            f"{p}: field 'batch_split' is malformed ({bs!r}; expected "
            f"{{\"fractions\": [train, val, test], \"seed\": int}}), so it cannot be checked that "
            f"the search's scoring batch came from this run's training patients. Re-run notebook "
            f"03, or delete the field if the architecture was written by hand.") from e
    if mine != theirs:
        raise ValueError(
            f"{p}: its search scored candidates on training-patient slices of the split "
            f"fractions={theirs[0]}, seed={theirs[1]}, but this run splits with "
            f"fractions={mine[0]}, split_seed={mine[1]}, so the proxy that chose the "
            f"architecture may have seen this run's validation or test patients. Re-run notebook "
            f"03 with split_seed={mine[1]}, or use split_seed={theirs[1]} here.")


def summary(history, frame: pd.DataFrame, cfg: HybridSearchConfig, info: Dict[str, Any],
            best: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Headline numbers for ``metrics.json``."""
    ok = frame[frame["status"] == "ok"]
    walls = [r.wall_s for r in history.records if math.isfinite(r.wall_s)]
    return {"config": cfg.to_dict(), "data": info["source"], "dataset": info.get("dataset"),
            "synthetic": bool(info["synthetic"]),
            "batch_ids": info.get("ids"), "batch_split": info.get("split"),
            "n_evals": len(history.records), "n_rejected": history.n_rejected,
            "n_failed": history.n_failed, "stop_reason": history.stop_reason,
            "n_proposed": history.n_proposed, "n_cached": history.n_cached,
            "median_eval_s": float(np.median(walls)) if walls else None,
            "n_front_flops": int(frame.get("front_flops", pd.Series(dtype=bool)).sum()),
            "n_front_latency": int(frame.get("front_latency", pd.Series(dtype=bool)).sum()),
            "score_range": [float(ok["score"].min()), float(ok["score"].max())] if len(ok) else None,
            "best": None if best is None else {k: best[k] for k in (
                "arch_id", "describe", "score", "params", "flops", "flops_ratio",
                "baseline_flops", "pred_latency_ms", "n_attn")}}
