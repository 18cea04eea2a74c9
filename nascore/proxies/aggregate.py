"""Population-level rank aggregation (AZ-NAS's non-linear ranking aggregation)."""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata


def rank_aggregate(table: pd.DataFrame, columns: Sequence[str],
                   higher_is_better: Optional[Mapping[str, bool]] = None) -> pd.Series:
    """Σ_m log(rank_m / N) over ``columns`` (AZ-NAS; higher is better).

    Ranks are ascending in "goodness" (the best net gets rank N), ties get their average rank.
    Non-finite entries (NaN, ±inf: failed or degenerate nets) get the worst rank of their column,
    explicitly, and are never dropped.

    Args:
        table: one row per network.
        columns: the component columns.
        higher_is_better: per column; missing columns default to True (e.g. pass
            ``{"ntk_cond": False}`` for TE-NAS).

    Raises:
        KeyError: naming a missing column.
    """
    hib = dict(higher_is_better or {})
    n = len(table)
    total = np.zeros(n)
    for c in columns:
        if c not in table.columns:
            raise KeyError(f"rank_aggregate: column {c!r} not in table (have {list(table.columns)})")
        v = table[c].to_numpy(dtype=float)
        if not hib.get(c, True):
            v = -v
        v = np.where(np.isfinite(v), v, -np.inf)
        total += np.log(rankdata(v, method="average") / n)
    return pd.Series(total, index=table.index, name="rank_aggregate")
