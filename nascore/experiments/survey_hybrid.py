"""Driver of notebook 01, second ground: the strategies searching inside the trained hybrid
mini-benchmark table (``reports/benchmarks/hybrid_lgg.csv``; see its README).

The space is the table's architectures (:class:`nascore.search.table_space.TableSpace`;
mutation moves to one of the nearest rows by Hamming distance of their
:class:`~nascore.HybridSegSpace` encodings). Objectives (:func:`table_objective`):

* ``oracle``: the validation tumour Dice of the row itself (searching on the truth);
* ``params@table`` (and any other numeric column ``<col>@table``): a zero-cost baseline proxy;
* ``<proxy>@scores``: a proxy's scores from a scores CSV (``arch_id`` plus one column per
  proxy, or notebook 02's long ``hybrid_lgg_scores.csv``, see :func:`wide_scores`), when one
  exists;
* ``random``: a random score per row, drawn anew for each search seed (what a search without
  signal finds).

Every evaluation records ``quality``, the row's validation Dice, never seen by the search.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import pandas as pd

from ..arch import HybridSegArch
from ..bench.hybrid_seg.table import read_table
from ..search.table_space import TableSpace
from ..space import HybridSegSpace
from .survey_baselines import run_searches

TRUTH = "val_dice_tumor"
TRAINING = "training with the benchmark recipe"


def load_ground(path, seed: int = 0) -> Optional[pd.DataFrame]:
    """One row per architecture of the table (its ``seed`` rows at the most common budget), or
    None when the file is missing or holds no finished row.

    Returns:
        Columns ``arch_id, arch_json, val_dice_tumor, params, flops, train_time_s, budget``.
    """
    p = Path(path)
    if not p.is_file():
        return None
    df = read_table(p)
    df = df[(df["seed"] == seed) & np.isfinite(pd.to_numeric(df[TRUTH], errors="coerce"))]
    if df.empty:
        return None
    budget = df["budget"].value_counts().idxmax()
    df = df[df["budget"] == budget].drop_duplicates("arch_id")
    cols = ["arch_id", "arch_json", TRUTH, "params", "flops", "train_time_s", "budget"]
    return df[cols].reset_index(drop=True)


def table_space(ground: pd.DataFrame, k: int = 5):
    """The :class:`~nascore.search.table_space.TableSpace` of ``ground``'s rows (features: the
    HybridSegSpace encodings, or none when an architecture does not parse)."""
    try:
        space = HybridSegSpace()
        enc = [space.encode(HybridSegArch.from_json(j)) for j in ground["arch_json"]]
        n = max(len(e) for e in enc)
        feats = np.array([list(e) + [-1] * (n - len(e)) for e in enc])
    except (ValueError, TypeError, KeyError):
        feats = None
    return TableSpace(tuple(ground["arch_id"].astype(str)), feats, k=k)


class TableObjective:
    """``arch_id -> {"score": ..., "quality": val Dice}`` on a ground frame (see the module
    docstring). ``values``: arch_id -> score; ``truth``: arch_id -> Dice."""

    def __init__(self, values: Dict[str, float], truth: Dict[str, float]) -> None:
        self.values, self.truth = values, truth

    def __call__(self, arch: Any) -> Dict[str, float]:
        k = str(arch)
        return {"score": float(self.values[k]), "quality": float(self.truth[k])}


def _random_score(key: str, seed: int) -> float:
    h = hashlib.sha1(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0 ** 64


def wide_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """``arch_id`` plus one column per proxy (higher is better, NaN = failed).

    Accepts that form unchanged, or the long form of notebook 02's ``hybrid_lgg_scores.csv``
    (``arch_id, proxy, value, ..., extra``; ``value`` already oriented), where ``hybrid`` rows
    written before ``hybrid`` v2 existed are v1 and become the column ``hybrid_v1``.
    """
    if "proxy" not in scores.columns:
        return scores
    from .hybrid_protocol.sets import _extra, is_v1_row

    d = scores.copy()
    if "extra" in d.columns:
        d["proxy"] = ["hybrid_v1" if is_v1_row(p, _extra(e)) else p
                      for p, e in zip(d["proxy"], d["extra"])]
    w = d.pivot_table(index="arch_id", columns="proxy", values="value", aggfunc="first",
                      dropna=False)
    w.columns.name = None
    return w.reset_index()


def table_objective(name: str, ground: pd.DataFrame, scores: Optional[pd.DataFrame] = None,
                    seed: int = 0) -> TableObjective:
    """The objective ``name`` on ``ground`` (see the module docstring).

    Raises:
        ValueError: for an unknown name or a proxy missing from ``scores``, naming it.
    """
    keys = ground["arch_id"].astype(str)
    truth = dict(zip(keys, ground[TRUTH].astype(float)))
    if name == "oracle":
        vals = truth
    elif name == "random":
        vals = {k: _random_score(k, seed) for k in keys}
    elif name.endswith("@table"):
        col = name[: -len("@table")]
        if col not in ground.columns:
            raise ValueError(f"unknown table column {col!r} for objective {name!r}")
        vals = dict(zip(keys, ground[col].astype(float)))
    elif name.endswith("@scores"):
        col = name[: -len("@scores")]
        if scores is None or col not in scores.columns:
            raise ValueError(f"no scores column {col!r} for objective {name!r}")
        s = scores.drop_duplicates("arch_id").set_index("arch_id")[col]
        vals = {k: float(s.get(k, np.nan)) for k in keys}
    else:
        raise ValueError(f"unknown objective {name!r}: use 'oracle', 'random', '<column>@table' "
                         "or '<proxy>@scores'")
    return TableObjective(vals, truth)


def run_ground(ground: pd.DataFrame, strategies, objectives, seeds, budget: int,
               scores: Optional[pd.DataFrame] = None, k: int = 5,
               settings: Optional[Dict[str, Dict]] = None) -> pd.DataFrame:
    """:func:`nascore.experiments.survey_baselines.run_searches` inside the table (budget
    capped at the number of rows). ``quality`` is the found row's validation Dice."""
    space = table_space(ground, k)
    budget = min(int(budget), len(ground))
    return run_searches(strategies, objectives, seeds, budget, space=space,
                        make=lambda o, seed=0: table_objective(o, ground, scores, seed),
                        settings=settings or {}, truth="quality", per_seed=("random",))


def ground_summary(ground: pd.DataFrame) -> Dict[str, Any]:
    """Size, best and median Dice and mean training time of the table."""
    return {"n_archs": int(len(ground)), "budget_steps": int(ground["budget"].iloc[0]),
            "best_dice": float(ground[TRUTH].max()), "median_dice": float(ground[TRUTH].median()),
            "train_cpu_s_mean": float(ground["train_time_s"].mean())}
