"""Synthetic phantoms: deterministic, binary masks, some tumour-free slices, labelled, fast."""

import time

import numpy as np
import pytest

from data_prep import SYNTHETIC_LABEL, make_synthetic


def _stack(recs, key):
    return np.stack([r[key] for r in recs])


def test_same_seed_identical_other_seed_different():
    a = make_synthetic(n_patients=4, slices_per_patient=5, size=48, seed=7)
    b = make_synthetic(n_patients=4, slices_per_patient=5, size=48, seed=7)
    c = make_synthetic(n_patients=4, slices_per_patient=5, size=48, seed=8)
    np.testing.assert_array_equal(_stack(a, "image"), _stack(b, "image"))
    np.testing.assert_array_equal(_stack(a, "mask"), _stack(b, "mask"))
    assert [r["id"] for r in a] == [r["id"] for r in b]
    assert not np.array_equal(_stack(a, "image"), _stack(c, "image"))
    # patient p depends only on (seed, p): a longer run starts with the same patients
    longer = make_synthetic(n_patients=6, slices_per_patient=5, size=48, seed=7)
    np.testing.assert_array_equal(_stack(longer[:20], "image"), _stack(a, "image"))


def test_format_masks_and_labels():
    recs = make_synthetic(n_patients=6, slices_per_patient=6, size=64, channels=3, seed=0)
    assert len(recs) == 36 and len({r["group"] for r in recs}) == 6
    img, mask = _stack(recs, "image"), _stack(recs, "mask")
    assert img.shape == (36, 3, 64, 64) and img.dtype == np.float32
    assert mask.shape == (36, 1, 64, 64) and mask.dtype == np.uint8
    assert set(np.unique(mask)) == {0, 1}
    assert 0.0 <= img.min() and img.max() <= 1.0
    has = [r["has_tumor"] for r in recs]
    assert any(has) and not all(has)  # some slices are tumour-free
    assert all(r["synthetic"] is True for r in recs)
    assert "SYNTHETIC" in SYNTHETIC_LABEL and "not real" in SYNTHETIC_LABEL
    with pytest.raises(ValueError, match="channels"):
        make_synthetic(channels=2)


def test_lesion_is_visible_in_flair():
    recs = make_synthetic(n_patients=8, slices_per_patient=6, size=64, seed=1)
    lesion, brain = [], []
    for r in recs:
        if r["mask"].sum() >= 20:
            im, m = r["image"][0], r["mask"][0].astype(bool)
            lesion.append(im[m].mean())
            brain.append(im[(im > 0.2) & ~m].mean())
    assert len(lesion) >= 5
    assert np.mean(lesion) > np.mean(brain) + 0.1  # hyperintense lesion, learnable


def test_fast_enough():
    t = time.perf_counter()
    recs = make_synthetic(n_patients=10, slices_per_patient=10, size=128, seed=0)
    assert len(recs) == 100
    assert time.perf_counter() - t < 2.0
