"""Driver of notebook 00: survey a search space (sampled architectures with their params, FLOPs
and CPU latency), pick an example architecture, write ``samples.csv`` and ``metrics.json``.

Notebook use::

    from nascore.experiments import space_survey as survey

    config = provenance.notebook_params(globals())
    out, space = survey.setup(config)
    df = survey.run(space, config, out)                 # samples.csv
    summary = survey.summarise(df)
    example = survey.example_arch(df)
    survey.write_metrics(out, space, summary, example, config)

Figures are in :mod:`nascore.plots.space`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Tuple

import numpy as np
import pandas as pd
import torch

from ..arch import HybridSegArch
from ..build import build_model
from ..cost import count_flops, count_params, measure_latency
from ..paths import repo_root, reports_dir
from ..progress import tqdm
from ..provenance import write_csv
from ..provenance import write_metrics as _write
from ..space import HybridSegSpace

NOTEBOOK = "00_search_space"


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


def setup(config: Mapping[str, Any]) -> Tuple[Path, HybridSegSpace]:
    """The output folder ``reports/<profile>/00_search_space/`` (created) and the space.

    Raises:
        ValueError: for an unknown ``config["profile"]``.
    """
    out = reports_dir(config["profile"], NOTEBOOK)
    print("outputs ->", out.relative_to(repo_root()))
    return out, HybridSegSpace()


def decisions_table(space: HybridSegSpace) -> pd.DataFrame:
    """One row per decision of ``space``: ``group``, ``decision``, ``choices`` (count)."""
    decisions = space.decisions()
    print(f"log10(#architectures) = {space.log10_size():.1f}; {len(decisions)} decisions")
    return pd.DataFrame([(d.group, d.name, len(d)) for d in decisions],
                        columns=["group", "decision", "choices"])


def run(space: HybridSegSpace, config: Mapping[str, Any], out: Path) -> pd.DataFrame:
    """:func:`survey_space` with the notebook's ``n_samples``, ``seed``, ``in_channels``,
    ``n_latency``, ``latency_repeats``; writes ``out/samples.csv`` (with provenance)."""
    seed = int(config["seed"])
    df = survey_space(space, int(config["n_samples"]), seed=seed,
                      in_channels=int(config["in_channels"]), n_latency=int(config["n_latency"]),
                      latency_repeats=int(config["latency_repeats"]))
    write_csv(out / "samples.csv", df, config, seed)
    return df


def example_arch(df: pd.DataFrame) -> HybridSegArch:
    """The sampled architecture with attention (any, if none has) nearest the median FLOPs."""
    cand = df[df.n_attn > 0] if (df.n_attn > 0).any() else df
    row = cand.iloc[(cand.flops - df.flops.median()).abs().argmin()]
    return HybridSegArch.from_json(row.arch_json)


def headline(summary: Mapping[str, Any]) -> str:
    """One line: params and FLOPs spreads, share of pure CNNs and of attention-heavy nets."""
    return (f"params spread p95/p5 = {summary['params']['spread_p95_p5']:.1f}x, "
            f"FLOPs spread = {summary['flops']['spread_p95_p5']:.1f}x, "
            f"pure CNN = {summary['share_pure_cnn']:.1%}, attention in most deep blocks = "
            f"{summary['share_attn_in_most_deep_blocks']:.1%}")


def write_metrics(out: Path, space: HybridSegSpace, summary: Mapping[str, Any],
                  example: HybridSegArch, config: Mapping[str, Any]) -> Path:
    """Writes ``out/metrics.json``: the space's config and size, the survey summary and the
    example architecture (with provenance)."""
    metrics = {"space": space.to_config(), "log10_size": space.log10_size(), "survey": dict(summary),
               "example_arch": example.to_dict()}
    return _write(out / "metrics.json", metrics, config, config.get("seed"))
