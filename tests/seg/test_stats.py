"""Patient-level metrics and their bootstrap CIs (hand-computed tables)."""

import math

import numpy as np
import pandas as pd
import pytest

from nascore.seg.stats import METRICS, paired_difference, patient_metrics


def _row(group, tp, n_pred, n_gt, hd=float("nan"), seed=0):
    tum = n_gt > 0
    dice = 2 * tp / (n_pred + n_gt) if tum else float("nan")
    conv = dice if tum else float(n_pred == 0)
    return {"group": group, "seed": seed, "has_tumor": tum, "pred_empty": n_pred == 0,
            "dice": dice, "dice_conv": conv, "hd95": hd, "tp": tp, "n_pred": n_pred, "n_gt": n_gt}


def _table():
    return pd.DataFrame([
        _row("a", 10, 10, 10, hd=1.0),   # perfect tumour slice
        _row("a", 0, 30, 10, hd=9.0),    # Dice 0 on a big false positive
        _row("a", 0, 5, 0),              # false positive on an empty slice
        _row("b", 5, 10, 10, hd=3.0),    # Dice 0.5
        _row("b", 0, 0, 0),              # correct empty slice
        _row("c", 0, 0, 0),              # a patient without tumour
    ])


def test_point_estimates_by_hand():
    m = patient_metrics(_table(), n_boot=200)
    assert m["dice_tumor"] == pytest.approx((1 + 0 + 0.5) / 3)
    # pooled: a = 2*10/(45+20) , b = 2*5/(10+10); c has no tumour pixels -> excluded
    assert m["dice_patient"] == pytest.approx((20 / 65 + 0.5) / 2)
    assert m["fp_rate_empty"] == pytest.approx(1 / 3)
    assert m["hd95"] == pytest.approx(13 / 3)
    assert m["dice_all"] == pytest.approx((1 + 0 + 0 + 0.5 + 1 + 1) / 6)
    assert m["n_patients"] == 3 and m["n_tumor_slices"] == 3
    for k in METRICS:
        lo, hi = m[k + "_ci95"]
        assert lo <= m[k] + 1e-12 and m[k] - 1e-12 <= hi


def test_ci_is_seeded_and_over_patients():
    t = _table()
    assert patient_metrics(t, seed=3) == patient_metrics(t, seed=3)
    # one patient only: every resample is that patient, the CI collapses to the point
    one = patient_metrics(t[t.group == "b"], n_boot=100)
    assert one["dice_tumor_ci95"] == pytest.approx([0.5, 0.5])
    # seeds average per patient first: two identical seeds give the same numbers
    two = pd.concat([t, t.assign(seed=1)])
    assert patient_metrics(two)["dice_patient"] == pytest.approx(patient_metrics(t)["dice_patient"])


def test_paired_difference():
    t = _table()
    d = paired_difference(t, t, n_boot=100)
    assert d["dice_tumor_diff"] == 0 and d["dice_tumor_diff_ci95"] == [0.0, 0.0]
    better = t.copy()
    better.loc[1, ["tp", "n_pred", "dice", "dice_conv"]] = [10, 10, 1.0, 1.0]
    d = paired_difference(better, t, n_boot=300)
    assert d["dice_tumor_diff"] == pytest.approx(1 / 3) and d["dice_tumor_diff_ci95"][1] > 0


def test_missing_column_is_named():
    with pytest.raises(ValueError, match="group"):
        patient_metrics(_table().drop(columns="group"))
    empty = patient_metrics(_table().iloc[:0])
    assert math.isnan(empty["dice_tumor"]) and empty["dice_tumor_ci95"] == [None, None]
