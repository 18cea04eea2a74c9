"""The hybrid segmentation mini-benchmark job: sampler, table, resume, a tiny end-to-end run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nascore.arch import BlockSpec, StageSpec, example_arch
from nascore.bench.hybrid_seg import job as jobmod
from nascore.bench.hybrid_seg.job import JobConfig, main_tasks, run_main, run_pilot, seed_tau
from nascore.bench.hybrid_seg.recipe import Recipe, train_row
from nascore.bench.hybrid_seg.sample import (ATTN_GROUPS, attn_group, deep_attn_share,
                                             spanning_subset, stratified_sample)
from nascore.bench.hybrid_seg.table import ROW_COLUMNS, BenchTable, read_table
from nascore.space import HybridSegSpace


def cheap_flops(arch):
    """A torch-free stand-in for FLOPs (monotone in widths, depths and resolution)."""
    r = arch.resolution
    tot = arch.stem_width * r * r
    for i, s in enumerate(arch.stages):
        tot += s.width ** 2 * s.depth * (r / 2 ** (i + 1)) ** 2
    return float(tot)


def test_attn_group_cases():
    cnn = example_arch("cnn")
    assert attn_group(cnn) == "none" and deep_attn_share(cnn) == 0.0
    hyb = example_arch("hybrid")
    assert attn_group(hyb) in ("some", "most")
    a = BlockSpec("attn", heads=2, mlp_ratio=2)
    c = BlockSpec("conv", 3)
    st = list(cnn.stages)
    st[2] = StageSpec(st[2].width, (a, c))
    st[3] = StageSpec(st[3].width, (c, c))
    import dataclasses
    some = dataclasses.replace(cnn, stages=tuple(st))
    assert deep_attn_share(some) == pytest.approx(0.25) and attn_group(some) == "some"
    st[3] = StageSpec(st[3].width, (a, a))
    most = dataclasses.replace(cnn, stages=tuple(st))
    assert deep_attn_share(most) == pytest.approx(0.75) and attn_group(most) == "most"


def test_stratified_sample_is_stratified_and_deterministic():
    space = HybridSegSpace()
    s1 = stratified_sample(space, 24, cheap_flops, seed=3, resolution=64, n_flops_bins=4,
                           pool_size=300)
    s2 = stratified_sample(space, 24, cheap_flops, seed=3, resolution=64, n_flops_bins=4,
                           pool_size=300)
    assert [a.arch_id for a in s1["archs"]] == [a.arch_id for a in s2["archs"]]
    assert len({a.arch_id for a in s1["archs"]}) == 24
    assert all(a.resolution == 64 for a in s1["archs"])
    # 12 strata x 2 each when every stratum has at least 2 in the pool
    if s1["shortfall"] == 0:
        assert all(v == 2 for v in s1["taken"].values())
    strata = pd.Series([r["stratum"] for r in s1["rows"]]).value_counts()
    assert set(strata.index) <= {f"f{b}-{g}" for b in range(4) for g in ATTN_GROUPS}
    # the bins really are FLOPs bins: bin index increases with FLOPs
    rows = sorted(s1["rows"], key=lambda r: r["flops"])
    assert [r["flops_bin"] for r in rows] == sorted(r["flops_bin"] for r in rows)
    s3 = stratified_sample(space, 24, cheap_flops, seed=4, resolution=64, n_flops_bins=4,
                           pool_size=300)
    assert [a.arch_id for a in s3["archs"]] != [a.arch_id for a in s1["archs"]]
    with pytest.raises(ValueError, match="strata"):
        stratified_sample(space, 5, cheap_flops, n_flops_bins=4, pool_size=50)


def test_spanning_subset_spans_flops():
    space = HybridSegSpace()
    s = stratified_sample(space, 24, cheap_flops, seed=0, pool_size=300)
    sub = spanning_subset(s["rows"], 6)
    fl = sorted(r["flops"] for r in s["rows"])
    assert len({r["arch_id"] for r in sub}) == 6
    assert min(r["flops"] for r in sub) <= fl[3] and max(r["flops"] for r in sub) >= fl[-4]
    assert len({r["attn_group"] for r in sub}) >= 2


def _row(i, seed=0, budget=2):
    r = {c: 0 for c in ROW_COLUMNS}
    r.update(arch_id=f"a{i}", seed=seed, budget=budget, recipe_id="r", role="sample",
             device="cpu", data="synthetic", arch_json="{}", val_dice_tumor=i / 10)
    return r


def test_table_appends_atomically_and_refuses_duplicates(tmp_path):
    p = tmp_path / "t.csv"
    t = BenchTable(p, {"x": 1})
    assert t.append(_row(1)) and t.append(_row(2)) and not t.append(_row(1))
    assert len(BenchTable(p)) == 2
    assert p.read_text().startswith("# provenance: ")
    assert list(read_table(p).columns) == list(ROW_COLUMNS)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]  # no temp file left
    bad = dict(_row(3))
    del bad["val_dice_tumor"]
    with pytest.raises(ValueError, match="val_dice_tumor"):
        t.append(bad)
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="other.csv"):
        BenchTable(tmp_path / "other.csv")


def test_seed_tau_perfect_and_reversed():
    df = pd.DataFrame({"arch_id": list("abcdef") * 2, "seed": [0] * 6 + [1] * 6,
                       "val_dice_tumor": [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]})
    assert seed_tau(df, 0, 1, n_boot=50)["kendall"] == pytest.approx(1.0)
    df.loc[6:, "val_dice_tumor"] = [6, 5, 4, 3, 2, 1]
    assert seed_tau(df, 0, 1, n_boot=50)["kendall"] == pytest.approx(-1.0)


TINY = dict(n_archs=6, n_flops_bins=2, pool_size=24, pilot_archs=3, pilot_budgets=(1, 2),
            n_second_seed=2, workers=1, executor="serial", progress=False, best_arch_path="/nonexistent")
TINY_RECIPE = Recipe(data="synthetic", resolution=32, batch_size=4)


@pytest.fixture
def cheap(monkeypatch):
    monkeypatch.setattr(jobmod, "_flops_fn", lambda recipe: cheap_flops)


def test_tiny_job_end_to_end(tmp_path, cheap):
    cfg = JobConfig(**TINY)
    choice = run_pilot(cfg, TINY_RECIPE, tmp_path)
    assert choice["complete"] and choice["budget"] in (1, 2)
    assert len(choice["per_budget"]) >= 1 and "kendall" in choice["per_budget"][0]
    pilot = read_table(tmp_path / "hybrid_lgg_pilot.csv")
    assert len(pilot) == 3 * 2 * len(choice["per_budget"])
    res = run_main(cfg, TINY_RECIPE, tmp_path)
    df = read_table(tmp_path / "hybrid_lgg.csv")
    # 6 sample archs + the HCT-Net-like reference at seed 0, 2 second seeds
    assert len(df) == res["rows"] == 6 + 1 + 2
    assert res["copied_from_pilot"] >= 3
    assert not df.duplicated(["arch_id", "seed", "budget", "recipe_id"]).any()
    assert set(df["role"]) == {"sample", "reference:hctnet_like"}
    for c in ("val_dice_tumor", "val_dice_all", "val_fp_rate_empty", "final_train_loss"):
        assert df[c].between(0, 10).all(), c
    assert (df["flops"] > 0).all() and (df["params"] > 0).all()
    assert df["synthetic"].all() and (df["resolution"] == 32).all()
    assert df["prov_git_sha"].str.len().min() >= 7
    sample = json.loads((tmp_path / "hybrid_lgg_sample.json").read_text())
    assert sample["settings"]["n_archs"] == 6 and "provenance" in sample


def test_same_task_same_numbers():
    arch = HybridSegSpace(resolutions=(32,)).sample(np.random.default_rng(0))
    t = {"arch_json": arch.to_json(), "seed": 5, "budget": 2, "recipe": TINY_RECIPE.to_dict()}
    a, b = train_row(t), train_row(t)
    for k in ("val_dice_tumor", "val_dice_all", "final_train_loss", "params", "flops"):
        assert a[k] == b[k] or (np.isnan(a[k]) and np.isnan(b[k])), k


def test_resume_loses_and_repeats_nothing(tmp_path, cheap):
    cfg = JobConfig(**dict(TINY, budget=2, max_tasks=3))
    run_main(cfg, TINY_RECIPE, tmp_path, budget=2)
    first = read_table(tmp_path / "hybrid_lgg.csv")
    assert len(first) == 3
    cfg.max_tasks = None
    res = run_main(cfg, TINY_RECIPE, tmp_path, budget=2)
    df = read_table(tmp_path / "hybrid_lgg.csv")
    assert res["skipped"] == 3 and len(df) == 9
    assert not df.duplicated(["arch_id", "seed", "budget", "recipe_id"]).any()
    pd.testing.assert_frame_equal(df.iloc[:3].reset_index(drop=True), first)


@pytest.mark.slow
def test_sigkill_mid_job_then_resume(tmp_path):
    """A real SIGKILL while rows are being written; the rerun completes the table exactly."""
    cmd = [sys.executable, "-m", "nascore.bench.hybrid_seg", "main", "--data", "synthetic",
           "--resolution", "32", "--batch-size", "4", "--n-archs", "6", "--n-flops-bins", "2",
           "--pool-size", "12", "--budget", "3", "--n-second-seed", "2", "--executor", "serial",
           "--no-progress", "--no-references", "--out", str(tmp_path)]
    table = tmp_path / "hybrid_synthetic.csv"  # the default name follows --data
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while time.time() - t0 < 240 and not (table.is_file() and len(read_table(table)) >= 2):
        time.sleep(0.2)
    p.send_signal(signal.SIGKILL)
    p.wait()
    n_killed = len(read_table(table))
    assert 2 <= n_killed < 8
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    df = read_table(table)
    assert len(df) == 8
    assert not df.duplicated(["arch_id", "seed", "budget"]).any()


def test_main_tasks_order_and_second_seeds(cheap, tmp_path):
    cfg = JobConfig(**dict(TINY, n_second_seed=3))
    sample = jobmod.load_or_make_sample(cfg, TINY_RECIPE, tmp_path)
    tasks = main_tasks(cfg, TINY_RECIPE, sample, 5, [sample["rows"][0]["arch_id"]])
    seeds = [t["seed"] for t in tasks]
    assert seeds.count(1) == 3 and seeds.count(0) == len(sample["rows"])
    assert tasks[0]["role"] == "reference:hctnet_like"
    assert sample["rows"][0]["arch_id"] in {t["arch_id"] for t in tasks if t["seed"] == 1}
    # the second seeds are spread through the run, not all at its end
    assert seeds.index(1) < len(seeds) - 3


def test_cli_refuses_unknown_data_before_training(tmp_path, capsys):
    from nascore.bench.hybrid_seg.__main__ import default_name, main

    rc = main(["run", "--data", "no_such_dataset", "--executor", "serial", "--no-progress",
               "--out", str(tmp_path / "b")])
    assert rc == 2 and "no_such_dataset" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
    assert default_name("lgg") == "hybrid_lgg"
    assert default_name("/data/My Polyps/") == "hybrid_my_polyps"


def test_budget_rule_picks_the_cheapest_budget_that_reaches_the_threshold():
    from nascore.bench.hybrid_seg.job import choose_budget

    pb = [{"budget": 2400, "kendall": 0.75}, {"budget": 600, "kendall": 0.55},
          {"budget": 1200, "kendall": 0.71}]
    assert choose_budget(pb, 0.7) == 1200
    assert choose_budget(pb, 0.5) == 600
    assert choose_budget(pb, 0.8) is None
    assert choose_budget([{"budget": 600, "kendall": float("nan")},
                          {"budget": 1200, "kendall": None}], 0.0) is None
    assert choose_budget(pb, 0.75) == 2400  # at least the threshold counts


def test_second_seeds_can_avoid_the_pilot_architectures(cheap, tmp_path):
    cfg = JobConfig(**dict(TINY, n_second_seed=3, second_seed_non_pilot=True))
    sample = jobmod.load_or_make_sample(cfg, TINY_RECIPE, tmp_path)
    pilot = [r["arch_id"] for r in sample["rows"] if r["role"] == "sample"][:2]
    tasks = main_tasks(cfg, TINY_RECIPE, sample, 5, pilot)
    second = {t["arch_id"] for t in tasks if t["seed"] == 1}
    assert len(second) == 3 and not second & set(pilot)


def test_recipe_trains_on_one_fold_of_the_patient_cross_validation():
    from data_prep import patient_kfold
    from nascore.bench.hybrid_seg.recipe import load_split
    from nascore.bench.hybrid_seg.table import recipe_id

    r = Recipe(data="synthetic", resolution=16, folds=5, fold=2)
    splits, _ = load_split(r)
    recs = [x for side in ("train", "val", "test") for x in splits[side]]
    want = patient_kfold(recs, 5, 0, val_fraction=0.15)[2]
    for side in ("train", "val", "test"):
        assert {x["group"] for x in splits[side]} == {x["group"] for x in want[side]}
    assert Recipe.from_dict(r.to_dict()) == r
    assert recipe_id(r.to_dict()) != recipe_id(Recipe(data="synthetic", resolution=16).to_dict())
    assert "folds" not in Recipe().to_dict()  # ids of tables made before folds existed hold
    for bad in ({"folds": 1}, {"folds": 5, "fold": 5}, {"folds": -1}):
        with pytest.raises(ValueError, match="folds"):
            Recipe(**bad)


def test_the_resolution_knob_trains_each_arch_at_its_side_and_scores_on_the_full_masks(tmp_path, cheap):
    """With arch_resolutions, architectures carry their own input side (sampled), are trained
    at it and validated on the recipe's full-resolution masks; FLOPs at their own side."""
    recipe = Recipe(data="synthetic", resolution=64, batch_size=4, arch_resolutions=(32, 64))
    assert recipe.to_dict()["arch_resolutions"] == [32, 64]
    assert "arch_resolutions" not in TINY_RECIPE.to_dict()
    cfg = JobConfig(**dict(TINY, n_archs=6, pool_size=40, include_references=False))
    sample = jobmod.load_or_make_sample(cfg, recipe, tmp_path)
    sides = {r["arch"].resolution for r in sample["rows"]}
    assert sides <= {32, 64} and len(sides) == 2
    assert sample["settings"]["arch_resolutions"] == [32, 64]
    small = next(r for r in sample["rows"] if r["arch"].resolution == 32)
    row = train_row(jobmod.make_task(small, 0, 2, recipe))
    assert row["resolution"] == 32
    assert row["val_n_tumor"] + row["val_n_empty"] == row["n_val"]
    from nascore.build import build_model
    from nascore.cost import count_flops
    import torch

    with torch.device("meta"):
        m = build_model(small["arch"], 3, 1)
    assert row["flops"] == count_flops(m, (1, 3, 32, 32))


def test_evaluate_at_another_input_side_measures_on_the_loaders_masks():
    import torch

    from nascore.seg.evaluate import evaluate

    class Upper(torch.nn.Module):  # predicts tumour on the upper half, at whatever side
        def forward(self, x):
            out = torch.full((x.shape[0], 1, *x.shape[2:]), -5.0)
            out[:, :, : x.shape[2] // 2] = 5.0
            return out

    img = torch.zeros(2, 1, 16, 16)
    lab = torch.zeros(2, 1, 16, 16)
    lab[:, :, :8] = 1
    loader = [{"image": img, "label": lab, "id": ["a", "b"], "group": ["p", "p"]}]
    full, _ = evaluate(Upper(), loader, hd95=False)
    small, _ = evaluate(Upper(), loader, hd95=False, input_resolution=8)
    assert (small["n_gt"] == 128).all() and (small["n_pred"] == 128).all()  # 16-px masks
    assert small["dice"].tolist() == pytest.approx([1.0, 1.0]) == full["dice"].tolist()
