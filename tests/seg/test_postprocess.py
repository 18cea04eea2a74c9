"""Small-component removal and its validation-chosen minimum size (nascore.seg.postprocess)."""

import numpy as np
import pytest
import torch
from torch import nn

from data_prep import make_record
from nascore.seg.data import make_loader
from nascore.seg.evaluate import evaluate
from nascore.seg.postprocess import MIN_SIZES, choose_min_size, remove_small_components


def test_removes_components_below_the_size_only():
    p = torch.zeros(2, 1, 12, 12)
    p[0, 0, 1:4, 1:4] = 1       # 9 px
    p[0, 0, 8, 8] = 1           # 1 px
    p[0, 0, 9, 9] = 1           # diagonal neighbour: a separate component (face connectivity)
    p[1, 0, 5:7, 2:10] = 1      # 16 px
    out = remove_small_components(p, 9)
    assert out.dtype == p.dtype and out.shape == p.shape
    assert out[0].sum() == 9 and out[0, 0, 8, 8] == 0 and out[0, 0, 9, 9] == 0
    assert torch.equal(out[1], p[1])
    assert remove_small_components(p, 10)[0].sum() == 0  # 9 < 10: gone
    assert remove_small_components(p, 0) is p
    v = torch.zeros(1, 1, 4, 6, 6)
    v[0, 0, 0:2, 0:2, 0:2] = 1  # 8 voxels in 3D
    v[0, 0, 3, 5, 5] = 1
    assert remove_small_components(v, 2).sum() == 8
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        remove_small_components(torch.zeros(2, 2, 4, 4), 3)
    for bad in (-1, 2.5, float("nan"), None, "8", True):
        with pytest.raises(ValueError, match="min_size must be an integer >= 0"):
            remove_small_components(p, bad)


class Speckle(nn.Module):
    """Predicts the mask (the image channel 0) plus one false-positive pixel in every image."""

    def forward(self, x):
        y = x[:, :1] * 40.0 - 20.0
        y[:, :, 0, 0] = 20.0
        return y


def _records(n_tumour=3, n_empty=3):
    recs = []
    for k in range(n_tumour + n_empty):
        m = np.zeros((16, 16), np.uint8)
        if k < n_tumour:
            m[4:10, 5:11] = 1  # 36 px
        recs.append(make_record(m.astype(np.float32), m, f"c{k}", f"p{k}"))
    return recs


def test_choice_is_made_on_the_loader_given_and_removes_the_speckle():
    loader = make_loader(_records(), 16, batch_size=4)
    raw = evaluate(Speckle(), loader)[1]
    assert raw["fp_rate_empty"] == 1.0
    size, table = choose_min_size(Speckle(), loader)
    assert list(table["min_size"]) == list(MIN_SIZES)
    # 8..32 remove the 1-px speckle and keep the 36-px tumour (ties: the smallest), 64 loses it
    assert size == 8
    best = table.set_index("min_size")
    assert best.loc[8, "dice_all"] == 1.0 and best.loc[8, "fp_rate_empty"] == 0.0
    assert best.loc[64, "dice_tumor"] == 0.0 and not best.loc[64, "allowed"]
    assert best["allowed"].tolist() == [True, True, True, True, False, False]
    _, agg = evaluate(Speckle(), loader, min_size=size)
    assert agg["fp_rate_empty"] == 0.0 and agg["dice_tumor"] == 1.0
    # no gain on validation: no post-processing
    clean = make_loader(_records(n_empty=0), 16, batch_size=4)
    size0, _ = choose_min_size(Speckle(), clean, sizes=(0, 64))
    assert size0 == 0
    for bad in ((), (8, 64), (0, -8), (0, 8.5)):
        with pytest.raises(ValueError, match="including 0"):
            choose_min_size(Speckle(), loader, sizes=bad)
    size_dup, t_dup = choose_min_size(Speckle(), loader, sizes=(0, 8, 8, 16))
    assert size_dup == 8 and list(t_dup["min_size"]) == [0, 8, 16]


class Blob(nn.Module):
    """Predicts the mask plus a 12-px false-positive blob in every slice."""

    def forward(self, x):
        y = x[:, :1] * 40.0 - 20.0
        y[:, :, 12:15, 12:16] = 20.0
        return y


def test_the_rule_does_not_buy_fewer_false_positives_with_the_tumours():
    """Removing the 12-px blob (size 16) would also remove every 9-px tumour: on 3 tumour and 7
    empty slices it raises dice_all, but tumour Dice falls below the tolerance, so it is not
    allowed and the smallest size with the best allowed dice_all (0: 8 removes nothing) wins."""
    recs = []
    for k in range(10):
        m = np.zeros((16, 16), np.uint8)
        if k < 3:
            m[2:5, 2:5] = 1
        recs.append(make_record(m.astype(np.float32), m, f"c{k}", f"p{k}"))
    size, table = choose_min_size(Blob(), make_loader(recs, 16, batch_size=4))
    t = table.set_index("min_size")
    assert t.loc[16, "dice_all"] > t.loc[0, "dice_all"]  # what a dice_all-only rule would take
    assert t.loc[16, "dice_tumor"] == 0.0 and not t.loc[16, "allowed"] and t.loc[8, "allowed"]
    assert size == 0
