"""Writes notebooks/00_search_space.ipynb (run once; the notebook is the source of truth after)."""
import nbformat as nbf

nb = nbf.v4.new_notebook()
cells = []
p = nbf.v4.new_code_cell("""# Parameters (smoke-size defaults; papermill overrides them per profile)
profile = "smoke"
n_samples = 24
n_latency = 6
latency_repeats = 3
seed = 0
in_channels = 3""")
p.metadata["tags"] = ["parameters"]
cells.append(nbf.v4.new_markdown_cell("""# 00 — The hybrid segmentation search space

A U-shaped encoder-decoder whose encoder blocks each choose convolution, MBConv or self-attention
(HyTra-style, as in BossNAS), with ElasticViT-style elastic depth, width, kernel, expansion,
heads, MLP ratio and input resolution. This notebook samples the space and reports the spread
of parameters, FLOPs (``torch.utils.flop_counter``, a multiply-add = 2 FLOPs) and CPU latency."""))
cells.append(p)
cells.append(nbf.v4.new_code_cell("""import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from nascore import io
from nascore.arch import HybridSegArch
from nascore.space import HybridSegSpace
from nascore.survey import plot_survey, summarise, survey_space
from nascore.viz import draw_arch

torch.set_num_threads(max(1, torch.get_num_threads()))
out = io.reports_dir(profile, "00_search_space")
config = dict(profile=profile, n_samples=n_samples, n_latency=n_latency,
              latency_repeats=latency_repeats, in_channels=in_channels)
print("outputs ->", out.relative_to(io.repo_root()))"""))
cells.append(nbf.v4.new_code_cell("""space = HybridSegSpace()
decisions = space.decisions()
print(f"log10(#architectures) = {space.log10_size():.1f}; {len(decisions)} decisions")
pd.DataFrame([(d.group, d.name, len(d)) for d in decisions], columns=["group", "decision", "choices"])"""))
cells.append(nbf.v4.new_code_cell("""df = survey_space(space, n_samples, seed=seed, in_channels=in_channels, n_latency=n_latency,
                  latency_repeats=latency_repeats)
io.write_csv(out / "samples.csv", df, config, seed)
df.drop(columns="arch_json").head()"""))
cells.append(nbf.v4.new_code_cell("""summary = summarise(df)
summary"""))
cells.append(nbf.v4.new_code_cell("""fig = plot_survey(df, f"{len(df)} architectures sampled uniformly per decision (seed {seed})")
io.save_figure(fig, out / "histograms.png")"""))
cells.append(nbf.v4.new_code_cell("""fig, ax = plt.subplots(figsize=(5.5, 4))
sc = ax.scatter(df.params / 1e6, df.flops / 1e9, c=df.attn_share, cmap="coolwarm", s=14, vmin=0, vmax=1)
ax.set(xscale="log", yscale="log", xlabel="params (M)", ylabel="GFLOPs")
fig.colorbar(sc, label="share of attention blocks")
io.save_figure(fig, out / "params_vs_flops.png")"""))
cells.append(nbf.v4.new_code_cell("""# One architecture with attention, near the median FLOPs, drawn as a figure
cand = df[df.n_attn > 0] if (df.n_attn > 0).any() else df
row = cand.iloc[(cand.flops - df.flops.median()).abs().argmin()]
example = HybridSegArch.from_json(row.arch_json)
print(example.describe())
ax = draw_arch(example)
io.save_figure(ax.figure, out / "example_arch.png")"""))
cells.append(nbf.v4.new_code_cell("""metrics = {"space": space.to_config(), "log10_size": space.log10_size(), "survey": summary,
           "example_arch": example.to_dict()}
io.write_metrics(out / "metrics.json", metrics, config, seed)
print(f"params spread p95/p5 = {summary['params']['spread_p95_p5']:.1f}x, "
      f"FLOPs spread = {summary['flops']['spread_p95_p5']:.1f}x, "
      f"pure CNN = {summary['share_pure_cnn']:.1%}, attention in most deep blocks = "
      f"{summary['share_attn_in_most_deep_blocks']:.1%}")"""))
nb.cells = cells
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbf.write(nb, "notebooks/00_search_space.ipynb")
