"""What notebook 02 scores and against what: seeded NB201 / AutoFormer samples, their ground
truth, the minibatches (real images, surrogate or Gaussian) and the cache namespace.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from ...bench.images import default_split, has_images, make_batch  # noqa: F401  (re-exported)
from ...bench.nb201 import is_degenerate
from ...bench.tables import AUTOFORMER_GT_COLUMN, load_autoformer_gt, load_nb201_accuracy
from ...paths import repo_root
from ...proxies.versions import builder_version

NB201_DATASETS = ("cifar10", "cifar100", "imagenet16_120")


SURROGATE_NOTE = ("ImageNet16-120 minibatches are a SURROGATE (one real ImageNet photo per class, "
                  "box-downsampled to 16x16), not the benchmark's images")


def hybrid_fit_indices() -> np.ndarray:
    """The NB201 indices the ``hybrid`` constants were fitted on (disclosed; never reported).

    ``np.unique(np.random.default_rng(12345).choice(15625, 200))`` as in
    ``perf/fit_hybrid.py``.
    """
    return np.unique(np.random.default_rng(12345).choice(15625, 200))


def sample_nb201(n: Optional[int], seed: int = 0, exclude_fit: bool = True, root=None) -> pd.DataFrame:
    """A seeded sample of NB201 cells with their 200-epoch test accuracies.

    The sample is a prefix of one seeded permutation, so smaller samples (smoke, default) are
    subsets of larger ones (full) and share cached scores.

    Args:
        n: number of cells (None: all eligible cells).
        exclude_fit: leave out :func:`hybrid_fit_indices`.

    Returns:
        DataFrame with ``nb201_index``, ``arch_str``, ``cifar10``, ``cifar100``,
        ``imagenet16_120`` (test accuracy, %) and ``degenerate`` (bool).
    """
    acc = load_nb201_accuracy(root=root)
    idx = np.random.default_rng(seed).permutation(len(acc))
    if exclude_fit:
        idx = idx[~np.isin(idx, hybrid_fit_indices())]
    if n is not None:
        if not 1 <= n <= len(idx):
            raise ValueError(f"n must be in 1..{len(idx)}, got {n}")
        idx = idx[:n]
    out = acc.loc[idx].reset_index()
    out["degenerate"] = [is_degenerate(s) for s in out["arch_str"]]
    return out


def sample_autoformer(n: Optional[int] = None, seed: int = 0, root=None) -> pd.DataFrame:
    """``n`` of the 200 AutoFormer subnets (seeded permutation prefix; None: all 200, in order)."""
    gt = load_autoformer_gt(root=root)
    if n is None or n >= len(gt):
        return gt
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return gt.iloc[np.sort(np.random.default_rng(seed).permutation(len(gt))[:n])].reset_index(drop=True)


def truth_nb201(cells: pd.DataFrame, dataset: str) -> pd.Series:
    """Test accuracy of ``cells`` (from :func:`sample_nb201`) indexed by ``arch_str``."""
    if dataset not in cells.columns:
        raise ValueError(f"unknown NB201 dataset {dataset!r}: use one of {NB201_DATASETS}")
    return cells.set_index("arch_str")[dataset].astype(float)


def truth_autoformer(rows: pd.DataFrame) -> pd.Series:
    """CIFAR-100 (KD) accuracy of AutoFormer ``rows`` indexed by ``arch_key``."""
    return rows.set_index("arch_key")[AUTOFORMER_GT_COLUMN].astype(float)


def namespace(benchmark: str, dataset: str, input_kind: str, split: str, batch_size: int,
              tag: str = "") -> str:
    """The cache namespace (ScoreCache ``dataset`` field) for one scoring setting."""
    ns = f"{benchmark}/{dataset}/{input_kind}/{split}/b{batch_size}/{builder_version()}"
    return f"{ns}/{tag}" if tag else ns


def default_cache_path() -> Path:
    """``<repo>/reports/cache/02_proxy_correlation/scores.sqlite`` (git-ignored; shared by profiles)."""
    return repo_root() / "reports" / "cache" / "02_proxy_correlation" / "scores.sqlite"
