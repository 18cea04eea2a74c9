"""Survey of a search space: sampled architectures with their params, FLOPs and latency."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ..build import build_model
from ..cost import count_flops, count_params, measure_latency
from ..space import HybridSegSpace


def survey_space(space: HybridSegSpace, n: int, seed: int = 0, in_channels: int = 3,
                 out_channels: int = 1, n_latency: int = 0, latency_repeats: int = 5,
                 progress: bool = True) -> pd.DataFrame:
    """Samples ``n`` architectures and measures their cost.

    Params and FLOPs are counted on the ``meta`` device (no memory, no arithmetic), at each
    architecture's own input resolution with batch 1. CPU latency (batch 1, median of
    ``latency_repeats``) is measured for the first ``n_latency`` samples only, as it is slow.

    Returns:
        One row per sample: ``arch_id``, ``arch_json``, ``resolution``, ``depth``,
        ``n_attn``, ``attn_share``, ``deep_attn_share`` (stages at strides 8 and 16),
        ``params``, ``flops``, ``latency_ms`` (NaN where not measured), ``latency_iqr_ms``.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for i in tqdm(range(n), desc="survey", disable=not progress):
        arch = space.sample(rng)
        shape = (1, in_channels) + (arch.resolution,) * 2
        with torch.device("meta"):
            meta = build_model(arch, in_channels, out_channels)
        deep = [b for st in arch.stages[2:] for b in st.blocks]
        row = dict(arch_id=arch.arch_id, arch_json=arch.to_json(), resolution=arch.resolution,
                   depth=arch.num_blocks, n_attn=arch.num_attn_blocks, attn_share=arch.attn_share,
                   deep_attn_share=sum(b.is_attn for b in deep) / len(deep),
                   params=count_params(meta), flops=count_flops(meta, shape),
                   latency_ms=float("nan"), latency_iqr_ms=float("nan"))
        if i < n_latency:
            torch.manual_seed(seed + i)
            lat = measure_latency(build_model(arch, in_channels, out_channels), shape,
                                  repeats=latency_repeats, warmup=1)
            row.update(latency_ms=lat["median_ms"], latency_iqr_ms=lat["iqr_ms"])
        rows.append(row)
    return pd.DataFrame(rows)


def spread(values, lo: float = 5, hi: float = 95) -> float:
    """Ratio of the ``hi`` to the ``lo`` percentile."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(np.percentile(v, hi) / np.percentile(v, lo)) if v.size else float("nan")


def summarise(df: pd.DataFrame) -> dict:
    """Headline numbers of a survey (for ``metrics.json``)."""
    out = {"n": int(len(df))}
    for col in ("params", "flops", "latency_ms"):
        v = df[col].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if v.size:
            out[col] = {"p5": float(np.percentile(v, 5)), "median": float(np.median(v)),
                        "p95": float(np.percentile(v, 95)), "spread_p95_p5": spread(v), "n": int(v.size)}
    out["share_pure_cnn"] = float((df["n_attn"] == 0).mean())
    out["share_attn_in_most_deep_blocks"] = float((df["deep_attn_share"] > 0.5).mean())
    out["mean_attn_share"] = float(df["attn_share"].mean())
    return out


def plot_survey(df: pd.DataFrame, label: Optional[str] = None):
    """Histograms of params, FLOPs, CPU latency and attention share; returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
    for ax, (col, scale, xl) in zip(axes, [("params", 1e6, "params (M)"), ("flops", 1e9, "GFLOPs"),
                                           ("latency_ms", 1, "CPU latency, batch 1 (ms)")]):
        v = df[col].to_numpy(dtype=float) / scale
        v = v[np.isfinite(v)]
        if v.size:
            ax.hist(v, bins=np.logspace(np.log10(v.min()), np.log10(v.max()), 30), color="#4C72B0")
            ax.set_xscale("log")
        ax.set_xlabel(xl)
        ax.set_ylabel("architectures")
    axes[3].hist(df["attn_share"], bins=np.linspace(0, 1, 11), color="#C44E52")
    axes[3].set_xlabel("share of attention blocks")
    fig.suptitle(label or f"{len(df)} sampled architectures", fontsize=10)
    fig.tight_layout()
    return fig
