"""Segmentation data: transforms, loaders, the patient split and reseeding."""

import numpy as np
import pytest
import torch

from nascore.seg.data import (make_loader, make_loaders, reseed_loader, seg_transforms,
                              split_records, to_dicts)


def test_eval_transform_scales_and_resizes(records):
    rec = dict(records[1])
    rec["image"] = rec["image"] * 7.0 + 3.0
    d = seg_transforms(64)(to_dicts([rec])[0])
    assert d["image"].shape == (1, 64, 64) and d["label"].shape == (1, 64, 64)
    assert d["image"].dtype == torch.float32 and type(d["image"]) is torch.Tensor
    # min-max scaled to [0, 1] before the (bilinear) resize
    assert 0.0 <= float(d["image"].min()) < 0.05 and 0.95 < float(d["image"].max()) <= 1.0
    same = seg_transforms(32)(to_dicts([rec])[0])["image"]
    assert float(same.min()) == pytest.approx(0.0) and float(same.max()) == pytest.approx(1.0)
    assert set(torch.unique(d["label"]).tolist()) <= {0.0, 1.0}


def test_train_transform_augments(records):
    d0 = to_dicts([r for r in records if r["has_tumor"]][:1])[0]
    tf = seg_transforms(32, train=True, prob=1.0)
    tf.set_random_state(seed=0)
    a = tf(dict(d0))
    b = tf(dict(d0))
    plain = seg_transforms(32)(dict(d0))
    assert a["image"].shape == plain["image"].shape == (1, 32, 32)
    assert not torch.equal(a["image"], plain["image"]) and not torch.equal(a["image"], b["image"])
    assert set(torch.unique(a["label"]).tolist()) <= {0.0, 1.0}
    assert a["label"].sum() > 0


def test_split_is_patient_level_and_seeded(records):
    s = split_records(records, seed=0)
    groups = {k: {r["group"] for r in v} for k, v in s.items()}
    assert not (groups["train"] & groups["val"]) and not (groups["train"] & groups["test"])
    assert not (groups["val"] & groups["test"])
    assert sum(len(v) for v in s.values()) == len(records)
    assert [r["id"] for r in split_records(records, seed=0)["test"]] == [r["id"] for r in s["test"]]
    L = make_loaders(records, 32, batch_size=2, seed=0)
    assert {r["id"] for r in L["splits"]["val"]} == {r["id"] for r in s["val"]}
    batch = next(iter(L["test"]))
    assert batch["image"].shape[1:] == (1, 32, 32) and len(batch["id"]) == len(batch["image"])


def test_reseed_gives_identical_epochs(records):
    loader = make_loader(records, 32, batch_size=4, train=True, seed=0)

    def epoch(seed):
        reseed_loader(loader, seed)
        return [(b["id"], b["image"]) for b in loader]

    e1, e2, e3 = epoch(5), epoch(5), epoch(6)
    assert [i for i, _ in e1] == [i for i, _ in e2]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(e1, e2))
    assert [i for i, _ in e1] != [i for i, _ in e3]


def test_to_dicts_names_bad_records():
    with pytest.raises(ValueError, match="r7"):
        to_dicts([{"id": "r7", "image": np.zeros((1, 4, 4), np.float32)}])
