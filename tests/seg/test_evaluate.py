"""Evaluation: per-case rows, Dice/HD95 values, the empty-mask conventions, CSV output."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from data_prep import make_record
from nascore.seg.data import make_loader
from nascore.seg.evaluate import evaluate, predict, write_results


class Copy(nn.Module):
    """Predicts the image itself (images here are the masks): a perfect model."""

    def __init__(self, bias: float = -10.0):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(20.0))
        self.b = bias

    def forward(self, x):
        return self.w * x + self.b


def _records():
    recs = []
    for k in range(4):
        m = np.zeros((16, 16), np.uint8)
        if k < 2:
            m[3:9, 4 + k:10 + k] = 1
        recs.append(make_record(m.astype(np.float32), m, f"c{k}", f"p{k}"))
    return recs


def test_perfect_and_trivial_models():
    loader = make_loader(_records(), 16, batch_size=3)
    df, agg = evaluate(Copy(), loader)
    assert list(df["id"]) == ["c0", "c1", "c2", "c3"]
    assert list(df.columns) == ["id", "group", "has_tumor", "pred_empty", "dice", "dice_conv",
                                "hd95", "tp", "n_pred", "n_gt"]
    assert df["group"].tolist() == ["p0", "p1", "p2", "p3"]
    assert df["tp"].tolist() == df["n_gt"].tolist() == df["n_pred"].tolist() == [36, 36, 0, 0]
    assert agg["dice_tumor"] == agg["dice_all"] == 1.0 and agg["fp_rate_empty"] == 0.0
    assert df["has_tumor"].tolist() == [True, True, False, False]
    assert df.loc[:1, "dice"].tolist() == pytest.approx([1.0, 1.0])
    assert df.loc[2:, "dice"].isna().all() and df.loc[2:, "dice_conv"].tolist() == [1.0, 1.0]
    assert df.loc[:1, "hd95"].tolist() == pytest.approx([0.0, 0.0]) and df.loc[2:, "hd95"].isna().all()
    assert agg["dice_mean"] == 1.0 and agg["dice_tumor_mean"] == 1.0
    assert agg["n_cases"] == 4 and agg["n_tumor"] == 2 and agg["empty_specificity"] == 1.0

    # predicts everything: empty cases score 0, tumour Dice drops, HD95 grows
    df, agg = evaluate(Copy(bias=10.0), loader)
    assert df.loc[2:, "dice_conv"].tolist() == [0.0, 0.0] and agg["empty_specificity"] == 0.0
    assert 0 < agg["dice_tumor_mean"] < 0.5 and agg["hd95_mean"] > 2
    # predicts nothing: HD95 undefined on tumour cases and counted as missed
    df, agg = evaluate(Copy(bias=-100.0), loader)
    assert agg["dice_tumor_mean"] == 0.0 and agg["n_hd95_missed"] == 2 and math.isnan(agg["hd95_mean"])
    assert agg["dice_mean"] == pytest.approx(0.5)


def test_predict_and_write_results(tmp_path):
    loader = make_loader(_records(), 16, batch_size=2)
    preds = predict(Copy(), loader, max_cases=3)
    assert len(preds) == 3 and preds[0]["label"].any() and preds[0]["pred"].shape == (16, 16)
    df, agg = evaluate(Copy(), loader, hd95=False)
    assert df["hd95"].isna().all()
    paths = write_results(df, agg, tmp_path, name="test", config={"x": 1}, seed=0)
    back = pd.read_csv(paths["per_case"], comment="#")
    assert back["id"].tolist() == ["c0", "c1", "c2", "c3"]
    assert pd.read_csv(paths["aggregate"], comment="#")["dice_mean"].iloc[0] == 1.0
    assert paths["metrics"].is_file()
