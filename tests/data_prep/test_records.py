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
