"""Notebook 04's comparison cross-validated over patients, on tiny synthetic data in seconds:
every patient is tested exactly once, the folds are pooled with paired CIs, finished folds are
written at once and read back instead of retrained, and a deep-supervised nnU-Net-style
DynUNet trains and evaluates like the others."""

import pandas as pd
import pytest
import torch

from nascore.seg.baselines import build_baseline, nnunet_plan_2d
from nascore.seg.crossval import run_cv
from nascore.seg.objective import SegObjective, deep_supervision_weights
from nascore.seg.pipeline import SegPipelineConfig


@pytest.fixture
def cv_records():
    from data_prep import make_synthetic

    return make_synthetic(n_patients=10, slices_per_patient=2, size=32, seed=1)


def _cfg(**kw):
    return SegPipelineConfig.smoke(baselines=("unet", "dynunet"), steps=2, search_steps=1,
                                   latency_repeats=1, n_predictions=1, **kw)


def test_tiny_cross_validated_run(arch, cv_records, tmp_path, monkeypatch):
    r = run_cv(arch, cv_records, _cfg(), folds=5, out_dir=tmp_path / "cv", progress=False)
    patients = {str(x["group"]) for x in cv_records}
    for model, pc in r.per_case.groupby("model"):
        assert set(pc["group"]) == patients  # every patient tested, by every model
        assert pc.groupby("group")["fold"].nunique().eq(1).all()  # ... in exactly one fold
    assert sorted(set(r.assignment.values())) == [0, 1, 2, 3, 4]
    assert {r.assignment[g] for g in patients} == set(r.per_case["fold"])
    assert set(r.table["model"]) == {"searched", "searched_scratch", "unet", "dynunet"}
    assert (r.table["steps"] == 2).all() and len(r.search) == 5  # equal steps in every fold
    summ = r.summary(n_boot=50)
    assert (summ["n_patients"] <= 10).all() and "dice_patient_ci95_lo" in summ.columns
    assert (summ["n_seeds"] == 1).all() and (summ["n_folds"] == 5).all()  # not fold x seed rows
    paired = r.paired(n_boot=50)
    assert list(paired["model"]) == ["searched_scratch", "unet", "dynunet"]
    assert {"dice_patient_diff", "dice_patient_diff_halfwidth", "hd95_diff_ci95_lo"} <= set(paired)
    assert set(r.val_curves["fold"]) == set(range(5))
    for i in range(5):
        assert (tmp_path / "cv" / f"fold{i}" / "per_case.csv").is_file()

    # a rerun reads every finished fold back instead of training it again
    import nascore.seg.crossval as CV

    def no_training(*a, **k):
        raise AssertionError("a finished fold was retrained")

    monkeypatch.setattr(CV, "run_pipeline", no_training)
    again = run_cv(arch, cv_records, _cfg(), folds=5, out_dir=tmp_path / "cv", progress=False)
    pd.testing.assert_frame_equal(again.per_case.reset_index(drop=True)[r.per_case.columns],
                                  r.per_case.reset_index(drop=True), check_dtype=False)
    with pytest.raises(ValueError, match="another configuration"):
        run_cv(arch, cv_records, _cfg(lr=0.5), folds=5, out_dir=tmp_path / "cv", progress=False)
    with pytest.raises(ValueError, match="folds must be >= 2"):
        run_cv(arch, cv_records, _cfg(), folds=1)
    with pytest.raises(ValueError, match="reference"):
        r.paired(reference="nope")


def test_nnunet_plan_and_deep_supervision():
    assert nnunet_plan_2d(128) == {"kernel_size": [3] * 6, "strides": [1, 2, 2, 2, 2, 2],
                                   "filters": [32, 64, 128, 256, 512, 512], "deep_supr_num": 3}
    assert nnunet_plan_2d(64)["strides"] == [1, 2, 2, 2, 2]
    with pytest.raises(ValueError, match="at least 2 poolings"):
        nnunet_plan_2d(8)
    w = deep_supervision_weights(3)
    assert torch.allclose(w, torch.tensor([4, 2, 1], dtype=torch.float64) / 7)
    net = build_baseline("dynunet", 1, 1, 32).model
    x, y = torch.randn(2, 1, 32, 32), (torch.rand(2, 1, 32, 32) > 0.7).float()
    heads = net.train()(x)
    assert heads.shape == (2, 2, 1, 32, 32) and net.eval()(x).shape == (2, 1, 32, 32)
    obj = SegObjective(w_transformer=0, w_complexity=0, w_entropy=0)
    total = obj(heads, y)[0].detach()
    with torch.no_grad():
        want = sum(float(w_) * obj.seg_loss(heads[:, i], y) for i, w_ in
                   enumerate(deep_supervision_weights(2)))
    assert float(total) == pytest.approx(float(want), rel=1e-6)
    assert float(obj(heads[:, 0], y)[0]) == pytest.approx(float(obj.seg_loss(heads[:, 0], y)), rel=1e-6)
