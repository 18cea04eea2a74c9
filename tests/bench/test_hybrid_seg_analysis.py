"""Noise ceiling and proxy correlations of the hybrid segmentation mini-benchmark."""

import numpy as np
import pandas as pd
import pytest
import torch

from nascore.bench.hybrid_seg.analysis import (noise_ceiling, proxy_correlations, ranking_table,
                                               score_proxies, truth_frame)
from nascore.space import HybridSegSpace


def _table(n=24, noise=0.0, rng=None):
    rng = rng or np.random.default_rng(0)
    dice = np.linspace(0.2, 0.8, n)
    flops = np.tile([1.0, 2.0, 3.0, 4.0], n // 4) * 1e8
    rows = []
    for seed in (0, 1):
        d = dice + (rng.normal(0, noise, n) if seed == 1 else 0)
        for i in range(n):
            rows.append({"arch_id": f"a{i:02d}", "seed": seed, "role": "sample",
                         "flops_bin": int(flops[i] / 1e8) - 1, "attn_group": "some",
                         "attn_share": i / n, "deep_attn_share": i / n, "flops": flops[i],
                         "params": 1e6, "val_dice_tumor": d[i]})
    return pd.DataFrame(rows)


def test_noise_ceiling_known_answers():
    assert noise_ceiling(_table(), n_boot=100)["kendall"] == pytest.approx(1.0)
    noisy = noise_ceiling(_table(noise=0.3), n_boot=100)
    assert -1 <= noisy["kendall"] < 0.9 and noisy["n"] == 24
    lo, hi = noisy["ci95_kendall"]
    assert lo <= noisy["kendall"] <= hi
    one_seed = _table()[lambda d: d["seed"] == 0]
    assert np.isnan(noise_ceiling(one_seed)["kendall"])


def test_flops_only_proxy_is_exposed_within_bins():
    df = _table()
    truth = truth_frame(df)
    # Dice rises with the index; a "FLOPs" proxy is constant inside each FLOPs bin, while a
    # perfect proxy is the Dice itself.
    scores = pd.concat([
        pd.DataFrame({"arch_id": truth["arch_id"], "proxy": "perfect", "value": truth["val_dice_tumor"]}),
        pd.DataFrame({"arch_id": truth["arch_id"], "proxy": "flops_only",
                      "value": truth["flops"] + truth["val_dice_tumor"] * 0}),
        pd.DataFrame({"arch_id": truth["arch_id"], "proxy": "broken",
                      "value": [np.nan] * 4 + list(truth["val_dice_tumor"][4:])}),
    ])
    c = proxy_correlations(scores, truth, n_boot=100)
    assert c["perfect"]["kendall"] == pytest.approx(1.0)
    assert all(v["kendall"] == pytest.approx(1.0) for v in c["perfect"]["by_flops_bin"].values())
    assert all(np.isnan(v["kendall"]) for v in c["flops_only"]["by_flops_bin"].values())
    assert c["broken"]["n"] == 20 and c["broken"]["n_failed"] == 4
    t = ranking_table(c, {"kendall": 0.9})
    assert t.iloc[0]["proxy"] in ("perfect", "broken") and "gap_to_ceiling" in t


def test_score_proxies_resumes_from_cache(tmp_path):
    archs = [HybridSegSpace(resolutions=(32,)).sample(np.random.default_rng(i)) for i in range(2)]
    g = torch.Generator().manual_seed(0)
    batch = (torch.rand(2, 3, 32, 32, generator=g), (torch.rand(2, 1, 32, 32, generator=g) > 0.7).float())
    cache = tmp_path / "c.sqlite"
    a = score_proxies(archs, ["params", "synflow"], batch, cache_path=cache, progress=False)
    assert len(a) == 4 and (a["status"] == "ok").all()
    b = score_proxies(archs, ["params", "synflow"], batch, cache_path=cache, progress=False)
    pd.testing.assert_frame_equal(a[["arch_id", "proxy", "value"]], b[["arch_id", "proxy", "value"]])
    # params is exactly the parameter count of the notebook-03 network
    from nascore.search.objectives import HybridSegBuilder

    n0 = sum(p.numel() for p in HybridSegBuilder(3, 1)(archs[0]).parameters())
    assert a[(a["proxy"] == "params")]["raw_value"].iloc[0] == pytest.approx(n0)


def test_run_section_on_a_tiny_synthetic_benchmark(tmp_path, monkeypatch):
    """The notebook-02 section end to end: a tiny job on synthetic data, then every output."""
    import json

    from nascore.bench.hybrid_seg import job as jobmod
    from nascore.bench.hybrid_seg.job import JobConfig, run_main
    from nascore.bench.hybrid_seg.recipe import Recipe
    from nascore.experiments.hybrid_lgg import run_section

    def cheap_flops(arch):  # torch-free stand-in for FLOPs, monotone in widths and depths
        return float(sum(s.width ** 2 * s.depth / 4 ** i for i, s in enumerate(arch.stages)))

    monkeypatch.setattr(jobmod, "_flops_fn", lambda recipe: cheap_flops)
    cfg = JobConfig(n_archs=6, n_flops_bins=2, pool_size=24, n_second_seed=3, workers=1,
                    executor="serial", progress=False, best_arch_path="/nonexistent")
    run_main(cfg, Recipe(data="synthetic", resolution=32, batch_size=4), tmp_path, budget=2)
    assert run_section(tmp_path, table_path=tmp_path / "missing.csv")["skipped"]
    res = run_section(tmp_path, table_path=tmp_path / "hybrid_lgg.csv",
                      proxies=["params", "synflow", "hybrid"], batch_size=2, n_boot=50,
                      progress=False)
    assert res["n_archs"] == 7 and res["noise_ceiling"]["n"] == 3 and not res["partial"]
    assert set(res["proxies"]) == {"params", "synflow", "hybrid"}
    for f in ("hybrid_lgg_scores.csv", "hybrid_lgg_correlations.csv", "scatter_hybrid_lgg.png"):
        assert (tmp_path / f).is_file(), f
    json.dumps(res, default=str)  # goes into metrics.json


def test_table_summary_known_answers():
    from nascore.bench.hybrid_seg.analysis import table_summary

    s = table_summary(_table().assign(budget=150), n_boot=50)
    assert s["n_archs"] == 24 and s["n_rows"] == 48 and s["seed_counts"] == {"0": 24, "1": 24}
    assert s["noise_ceiling"]["kendall"] == pytest.approx(1.0)
    # attention share rises with the index exactly as the Dice does in _table
    assert s["descriptors"]["attn_share"]["kendall"] == pytest.approx(1.0)
    assert np.isnan(s["descriptors"]["params"]["kendall"])  # constant params: undefined
    assert s["val_dice_tumor"]["min"] == pytest.approx(0.2) and s["budget"] == [150]
