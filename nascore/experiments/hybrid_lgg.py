"""Notebook 02's section on the hybrid LGG mini-benchmark: every proxy against trained Dice.

:func:`run_section` reads the benchmark table (``reports/benchmarks/hybrid_lgg.csv``, see
:mod:`nascore.bench.hybrid_seg`), scores every registered proxy on every benchmark architecture
at the notebook-03 proxy setting (64 px, batch 8, proxy seed 0, the ``HybridSegBuilder``
network), and correlates the scores with the validation tumour Dice of the main seed. The proxy
batch holds tumour slices of the benchmark's **training** patients (validation and test patients
are never shown to a proxy). Writes ``hybrid_lgg_scores.csv``, ``hybrid_lgg_correlations.csv``
and ``scatter_hybrid_lgg.png`` into ``out_dir`` and returns the ``"hybrid_lgg"`` block of
``metrics.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np

from ..arch import HybridSegArch
from ..bench.hybrid_seg.analysis import (
    TRUTH,
    noise_ceiling,
    proxy_correlations,
    ranking_table,
    score_proxies,
    truth_frame,
)
from ..bench.hybrid_seg.recipe import Recipe, load_split
from ..bench.hybrid_seg.table import BenchTable, read_table
from ..paths import repo_root
from ..plots.hybrid_seg import proxy_vs_dice
from ..provenance import save_figure, write_csv

#: The project's own proxy in every version: shown on its own, never as a "single proxy".
_HYBRIDS = ("hybrid", "hybrid_v1", "hybrid_v2")


def proxy_batch(recipe, batch_size: int = 8, seed: int = 0):
    """``(images, masks)`` tensors: ``batch_size`` tumour slices of the recipe's training
    patients, drawn with ``np.random.default_rng(seed)``.

    Raises:
        ValueError: when the training split has fewer tumour slices than ``batch_size``.
    """
    import torch

    splits, _ = load_split(recipe)
    recs = [r for r in splits["train"] if r["has_tumor"]]
    if len(recs) < batch_size:
        raise ValueError(f"only {len(recs)} tumour slices in the training split, need {batch_size}")
    pick = np.sort(np.random.default_rng(seed).choice(len(recs), batch_size, replace=False))
    x = torch.from_numpy(np.stack([np.asarray(recs[i]["image"], np.float32) for i in pick]))
    y = torch.from_numpy(np.stack([np.asarray(recs[i]["mask"], np.float32) for i in pick]))
    lo = x.amin(dim=(2, 3), keepdim=True)
    hi = x.amax(dim=(2, 3), keepdim=True)
    x = (x - lo) / (hi - lo).clamp_min(1e-8)  # the per-image, per-channel min-max of training
    return x, (y > 0).float()


def run_section(out_dir, table_path=None, proxies: Optional[Sequence[str]] = None,
                batch_size: int = 8, seed: int = 0, n_boot: int = 1000, cache_path=None,
                top: int = 4, max_archs: Optional[int] = None,
                progress: bool = True) -> Dict[str, Any]:
    """Scores, correlations, noise ceiling and figure (see the module docstring).

    Args:
        out_dir: where the CSVs and the figure go.
        table_path: the benchmark table (default ``<repo>/reports/benchmarks/hybrid_lgg.csv``).
        proxies: proxy names (default: every registered proxy).
        top: the figure shows the ``top`` best proxies by Kendall τ, plus ``hybrid``.
        max_archs: score only the first this many architectures of the table (smoke runs;
            the result then says ``"partial": true``).

    Returns:
        ``{"skipped": reason}`` when the table is absent or has fewer than 6 architectures;
        else ``{"proxies": {name: {"kendall", "spearman", "ci95_kendall", "ci95_spearman", "n",
        "n_failed", "by_flops_bin"}}, "noise_ceiling": {...}, "n_archs", "budget", "truth",
        "best_single", "data"}``.
    """
    from ..proxies import PROXIES

    out_dir = Path(out_dir)
    table_path = Path(table_path) if table_path else repo_root() / "reports" / "benchmarks" / "hybrid_lgg.csv"
    if not table_path.is_file():
        return {"skipped": f"no benchmark table at {table_path} (run python -m nascore.bench.hybrid_seg run)"}
    df = read_table(table_path)
    partial = False
    if max_archs is not None and df["arch_id"].nunique() > max_archs:
        keep = list(dict.fromkeys(df["arch_id"]))[:int(max_archs)]
        df, partial = df[df["arch_id"].isin(keep)], True
    truth = truth_frame(df)
    if len(truth) < 6:
        return {"skipped": f"{table_path} has only {len(truth)} architectures at seed 0"}
    first = df.iloc[0]
    header = BenchTable(table_path).header_config()
    if "recipe" not in header:
        raise ValueError(f"{table_path}: its provenance line has no recipe")
    recipe = Recipe.from_dict(header["recipe"])
    names = list(proxies) if proxies is not None else PROXIES.names()
    batch = proxy_batch(recipe, batch_size, seed)
    archs = [HybridSegArch.from_json(j) for j in df[df["seed"] == 0].drop_duplicates("arch_id")["arch_json"]]
    scores = score_proxies(archs, names, batch, seed=seed, data_tag=recipe.data,
                           in_channels=int(batch[0].shape[1]),
                           cache_path=cache_path or out_dir / "cache" / "hybrid_lgg_scores.sqlite",
                           progress=progress)
    ceiling = noise_ceiling(df, n_boot=n_boot)
    corrs = proxy_correlations(scores, truth, n_boot=n_boot)
    table = ranking_table(corrs, ceiling)
    cfg = {"table": str(table_path.relative_to(repo_root())) if table_path.is_relative_to(repo_root()) else str(table_path),
           "proxies": names, "batch_size": batch_size, "seed": seed, "n_boot": n_boot,
           "recipe": recipe.to_dict()}
    write_csv(out_dir / "hybrid_lgg_scores.csv", scores, cfg, seed)
    write_csv(out_dir / "hybrid_lgg_correlations.csv", table, cfg, seed)
    ranked = [p for p in table["proxy"] if np.isfinite(corrs[p]["kendall"])]
    panel = [p for p in ranked if p not in _HYBRIDS][:top] + (["hybrid"] if "hybrid" in corrs else [])

    fig = proxy_vs_dice(scores, truth, corrs, panel, ceiling=ceiling)
    save_figure(fig, out_dir / "scatter_hybrid_lgg.png")
    best = next((p for p in ranked if p not in _HYBRIDS), None)
    return {"proxies": corrs, "noise_ceiling": ceiling, "n_archs": int(len(truth)),
            "budget": sorted(int(b) for b in df["budget"].unique()), "truth": TRUTH,
            "best_single": best, "data": str(first["data"]),
            "proxy_batch": "tumour slices of the training patients", "partial": partial,
            "n_rows": int(len(df))}
