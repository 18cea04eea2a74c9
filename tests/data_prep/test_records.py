"""Prepared folders (data_prep.records): one channel count per folder, on write and on read."""

import csv
import re
import shutil

import pytest

from data_prep import load_prepared, make_synthetic, write_prepared


def test_write_prepared_refuses_mixed_channel_counts_and_writes_nothing(tmp_path):
    grey = make_synthetic(n_patients=2, slices_per_patient=2, size=16, channels=1)
    rgb = make_synthetic(n_patients=2, slices_per_patient=2, size=16, channels=3, seed=1)
    rgb = [{**r, "id": f"rgb_{r['id']}"} for r in rgb]
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=rf"{re.escape(rgb[0]['id'])}.*3 channel.*{re.escape(grey[0]['id'])}.*1"):
        write_prepared(grey + rgb, out)
    assert not out.exists() and list(tmp_path.iterdir()) == []  # no partial folder left
    assert len(load_prepared(write_prepared(grey, out))) == 4  # one count: fine


def test_load_prepared_refuses_a_folder_edited_into_mixed_channels(tmp_path):
    grey = write_prepared(make_synthetic(n_patients=2, slices_per_patient=2, size=16, channels=1),
                          tmp_path / "grey")
    rgb = write_prepared(make_synthetic(n_patients=1, slices_per_patient=1, size=16, channels=3,
                                        seed=1), tmp_path / "rgb")
    # a user copies an RGB image over a grey one (same manifest row)
    with open(grey / "manifest.csv", newline="") as f:
        first = next(csv.DictReader(f))
    with open(rgb / "manifest.csv", newline="") as f:
        src = next(csv.DictReader(f))
    shutil.copyfile(rgb / src["image"], grey / first["image"])
    with pytest.raises(ValueError, match=r"manifest.csv.*different channel counts.*1 channel.*"
                                         r"3 channel.*--grayscale"):
        load_prepared(grey)
    # a subset holding only one count loads
    with open(grey / "manifest.csv", newline="") as f:
        others = [r["id"] for r in csv.DictReader(f)][1:]
    assert [r["image"].shape[0] for r in load_prepared(grey, ids=others)] == [1, 1, 1]


def test_two_dimensional_records_are_one_channel(tmp_path):
    """(H, W) images and masks, as make_record takes them, are written as one channel and may
    be mixed with (1, H, W) records."""
    import numpy as np

    rng = np.random.default_rng(0)
    m = np.zeros((16, 20), np.uint8)
    m[3:9, 4:12] = 1
    flat = {"id": "a", "group": "p0", "image": rng.random((16, 20)).astype(np.float32), "mask": m}
    chan = {"id": "b", "group": "p1", "image": rng.random((1, 16, 20)).astype(np.float32),
            "mask": m[None]}
    back = load_prepared(write_prepared([flat, chan], tmp_path / "o"))
    assert [r["image"].shape for r in back] == [(1, 16, 20)] * 2
    assert all(np.array_equal(r["mask"][0], m) for r in back)  # the whole mask, not a row
    np.testing.assert_allclose(back[0]["image"][0], flat["image"], atol=1e-6)
