"""The notebook-04 driver on tiny synthetic data (one baseline to stay fast)."""

import math

from nascore.seg.pipeline import SEARCHED, SegPipelineConfig, run_pipeline


def test_smoke_pipeline(arch, records):
    cfg = SegPipelineConfig.smoke(baselines=("unet",), search_steps=3, latency_repeats=1)
    r = run_pipeline(arch, records, cfg)
    assert list(r.table["model"]) == [SEARCHED, "unet"]
    for col in ("dice_tumor", "dice_patient", "fp_rate_empty", "dice_all", "hd95", "params", "flops", "cpu_latency_ms", "train_time_s"):
        assert col in r.table.columns
    row = r.table.iloc[0]
    assert row["flops"] == r.search["flops_after"] <= r.search["flops_before"]
    assert row["search_time_s"] > 0 and math.isfinite(row["dice_all"])
    assert set(r.curves["phase"]) == {"search", "train"} and "complexity" in r.curves.columns
    assert set(r.per_case["model"]) == {SEARCHED, "unet"} and set(r.predictions) == {SEARCHED, "unet"}
    summ = r.summary()
    assert list(summ["model"]) == [SEARCHED, "unet"]
    ok = summ["dice_patient_ci95_lo"].notna()
    assert (summ.loc[ok, "dice_patient_ci95_lo"] <= summ.loc[ok, "dice_patient"] + 1e-9).all()
    assert set(r.per_case["group"]) <= {str(rec["group"]) for rec in records}
    assert r.search["flops_budget"] > 0
