"""The notebook-04 driver on tiny synthetic data (one baseline to stay fast)."""

import math

import numpy as np
import pytest

from nascore.seg.pipeline import NOATTN, SEARCHED, SEARCHED_SCRATCH, SegPipelineConfig, run_pipeline


def test_smoke_pipeline(arch, records, monkeypatch):
    import nascore.seg.pipeline as pl
    from nascore.seg.data import split_records

    cfg = SegPipelineConfig.smoke(baselines=("unet",), search_steps=3, latency_repeats=1,
                                  include_noattn=True)
    seen = []  # the slices each post-processing choice was made on
    real_choose = pl.choose_min_size

    def spy(model, loader, *a, **k):
        seen.append(sorted(str(i) for b in loader for i in b["id"]))
        return real_choose(model, loader, *a, **k)

    monkeypatch.setattr(pl, "choose_min_size", spy)
    r = run_pipeline(arch, records, cfg)
    val_ids = sorted(str(rec["id"]) for rec in split_records(records, cfg.fractions,
                                                             cfg.split_seed)["val"])
    assert len(seen) == 4 and all(ids == val_ids for ids in seen)  # validation, never test
    models = [SEARCHED, SEARCHED_SCRATCH, NOATTN, "unet"]
    assert list(r.table["model"]) == models
    # equal budgets: the knob search's steps count toward the searched model's total
    n_train = r.search["total_steps"] // cfg.epochs
    assert r.search["steps_equal"] and (r.table["steps"] == cfg.epochs * n_train).all()
    assert r.table["search_steps"].tolist() == [3, 0, 0, 0]
    assert r.search["noattn"]["flops_before"] == r.search["flops_after"]
    assert r.search["fine_tune_steps"] == r.search["total_steps"] - 3
    assert set(r.val_curves["model"]) == set(models)
    first_val = r.val_curves.groupby("model")["opt_step"].min()
    assert first_val[SEARCHED] == 3 + n_train and first_val["unet"] == n_train
    for col in ("dice_tumor", "dice_patient", "fp_rate_empty", "dice_all", "hd95", "params", "flops", "cpu_latency_ms", "train_time_s"):
        assert col in r.table.columns
    row = r.table.iloc[0]
    assert row["flops"] == r.search["flops_after"] <= r.search["flops_before"]
    assert row["search_time_s"] > 0 and math.isfinite(row["dice_all"])
    assert set(r.curves["phase"]) == {"search", "train"} and "complexity" in r.curves.columns
    assert set(r.per_case["model"]) == set(r.predictions) == set(models)
    summ = r.summary()
    assert list(summ["model"]) == models
    ok = summ["dice_patient_ci95_lo"].notna()
    assert (summ.loc[ok, "dice_patient_ci95_lo"] <= summ.loc[ok, "dice_patient"] + 1e-9).all()
    assert set(r.per_case["group"]) <= {str(rec["group"]) for rec in records}
    assert r.search["flops_budget"] > 0
    # post-processed test metrics, the min size chosen per run on validation patients
    from nascore.seg.postprocess import MIN_SIZES

    assert list(r.table_pp["model"]) == models and r.table_pp["min_size"].isin(MIN_SIZES).all()
    assert len(r.per_case_pp) == len(r.per_case)
    pv = r.postprocess_val
    assert len(pv) == len(models) * len(MIN_SIZES) and pv.groupby(["model", "seed"])["chosen"].sum().eq(1).all()
    chosen = pv[pv["chosen"]].set_index("model")["min_size"]
    assert chosen.to_dict() == r.table_pp.set_index("model")["min_size"].to_dict()
    for _, g in pv.groupby(["model", "seed"]):  # the best allowed validation dice_all
        assert g.loc[g["chosen"], "dice_all"].iloc[0] == g.loc[g["allowed"], "dice_all"].max()
    no_pp = r.table_pp["min_size"] == 0  # size 0: the same numbers as the headline table
    np.testing.assert_array_equal(r.table_pp.loc[no_pp, "dice_tumor"].values,
                                  r.table.loc[no_pp, "dice_tumor"].values)
    assert list(r.summary_pp()["model"]) == models


def test_attention_effect_from_per_case():
    import pandas as pd

    from nascore.experiments.seg_finetune import attention_effect

    rows = []
    for model, tp in ((SEARCHED_SCRATCH, 8), (NOATTN, 4)):
        for g in ("p0", "p1", "p2"):
            rows.append({"model": model, "seed": 0, "group": g, "has_tumor": True,
                         "pred_empty": False, "dice": tp / 10, "dice_conv": tp / 10, "hd95": 1.0,
                         "tp": tp, "n_pred": 10, "n_gt": 10})
    pc = pd.DataFrame(rows)
    eff = attention_effect(pc, {"noattn": {"flops_ratio": 1.02, "matched": True, "blocks": []}})
    assert eff["evaluated"] and eff["dice_tumor_diff"] == pytest.approx(0.4)
    assert eff["flops_matched"] is True and eff["n_patients"] == 3
    assert attention_effect(pc[pc.model == NOATTN], {})["evaluated"] is False


def test_only_trains_the_named_runs_and_a_later_full_run_resumes_them(arch, records, tmp_path):
    """The prefill path: ``only`` runs one model into the shared checkpoints; the full run then
    resumes it to the same weights (same test metrics) instead of training it again."""
    cfg = SegPipelineConfig.smoke(baselines=("unet",), search_steps=2, latency_repeats=1,
                                  checkpoint_root=str(tmp_path / "ck"))
    part = run_pipeline(arch, records, cfg, only={"unet"})
    assert list(part.table["model"]) == ["unet"] and part.ablation is None
    assert (tmp_path / "ck" / "unet_s0" / "last.pt").is_file()
    assert not (tmp_path / "ck" / "searched_s0").exists()
    none = run_pipeline(arch, records, cfg, only=set())  # the knob search alone
    assert none.table.empty and none.per_case.empty
    full = run_pipeline(arch, records, cfg)
    assert list(full.table["model"]) == [SEARCHED, SEARCHED_SCRATCH, "unet"]
    u = full.table[full.table["model"] == "unet"].iloc[0]
    assert u["dice_all"] == part.table.iloc[0]["dice_all"]
    assert u["train_time_s"] == part.table.iloc[0]["train_time_s"]  # resumed, not retrained
    with pytest.raises(ValueError, match="unknown run.*swinunetr"):
        run_pipeline(arch, records, cfg, only={"swinunetr"})
    with pytest.raises(ValueError, match="unknown run.*searched_noattn"):  # include_noattn is off
        run_pipeline(arch, records, cfg, only={NOATTN})
    with pytest.raises(ValueError, match="only must be a collection"):
        run_pipeline(arch, records, cfg, only="unet")


def test_train_only_fills_checkpoints_without_evaluating(arch, records, tmp_path, monkeypatch):
    """The prefill jobs train and stop: no test evaluation, latency or prediction (the notebook
    evaluates later from the finished checkpoints, which it resumes, not retrains)."""
    import nascore.seg.ablation as ablation_mod
    import nascore.seg.pipeline as pipeline_mod

    cfg = SegPipelineConfig.smoke(baselines=("unet",), search_steps=2, latency_repeats=1,
                                  loss_ablation=True, ablation_variants=("dice_ce",),
                                  checkpoint_root=str(tmp_path / "ck"))

    def boom(*a, **k):
        raise AssertionError("train_only evaluated a model")

    with monkeypatch.context() as m:
        for mod in (pipeline_mod, ablation_mod):
            m.setattr(mod, "evaluate", boom)
        m.setattr(pipeline_mod, "measure_latency", boom)
        m.setattr(pipeline_mod, "predict", boom)
        part = run_pipeline(arch, records, cfg, only={"unet", "ablation:dice_ce"}, train_only=True)
    assert part.table.empty and part.per_case.empty and part.predictions == {}
    assert part.ablation is not None and part.ablation.empty
    last = tmp_path / "ck" / "unet_s0" / "last.pt"
    abl = tmp_path / "ck" / "ablation" / "dice_ce_s0" / "last.pt"
    assert last.is_file() and abl.is_file()
    stamps = (last.stat().st_mtime_ns, abl.stat().st_mtime_ns)
    full = run_pipeline(arch, records, cfg, only={"unet", "ablation:dice_ce"})
    assert list(full.table["model"]) == ["unet"] and len(full.ablation) == 1
    assert (last.stat().st_mtime_ns, abl.stat().st_mtime_ns) == stamps  # resumed, not retrained


def test_train_only_needs_checkpoints(arch, records):
    cfg = SegPipelineConfig.smoke(baselines=("unet",), search_steps=2)
    with pytest.raises(ValueError, match="train_only=True needs config.checkpoint_root"):
        run_pipeline(arch, records, cfg, train_only=True)


def test_checkpoints_trained_with_other_settings_are_refused(tmp_path):
    from nascore.arch import example_arch
    from nascore.seg.checkpoints import check_checkpoint_settings
    from nascore.seg.pipeline import SegPipelineConfig

    arch = example_arch("hybrid", 64)
    cfg = SegPipelineConfig(checkpoint_root=str(tmp_path / "ck"), lr=1e-3)
    check_checkpoint_settings(cfg, arch)  # first use: records the settings
    assert (tmp_path / "ck" / "settings.json").is_file()
    check_checkpoint_settings(cfg, arch)  # same settings: fine
    more = SegPipelineConfig(checkpoint_root=cfg.checkpoint_root, lr=1e-3, seeds=(0, 1, 2),
                             baselines=("unet",), progress=False)
    check_checkpoint_settings(more, arch)  # more runs of the same training: fine
    with pytest.raises(ValueError, match=r"lr: 0.001 there, 0.5 now.*another checkpoint_root"):
        check_checkpoint_settings(SegPipelineConfig(checkpoint_root=cfg.checkpoint_root, lr=0.5), arch)
    with pytest.raises(ValueError, match="input_arch"):
        check_checkpoint_settings(cfg, example_arch("hybrid", 128))
