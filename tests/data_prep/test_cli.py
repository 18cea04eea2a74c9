"""CLI ``python -m data_prep``: synthetic, folder and msd_brain runs; bad input exits non-zero."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_prep import load_folder, load_prepared
from data_prep.__main__ import main
from nascore.paths import repo_root


def _tiny_folder(root, n=4):
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(root / "images" / f"p{i // 2}_{i}.png")
        m = np.zeros((12, 12), np.uint8)
        m[3:7, 3:7] = 255 * (i % 2)
        Image.fromarray(m).save(root / "masks" / f"p{i // 2}_{i}_mask.png")


def test_synthetic_cli_writes_labelled_folder(tmp_path, capsys):
    out = tmp_path / "synth"
    argv = ["synthetic", "--out", str(out), "--n-patients", "3", "--slices-per-patient", "4",
            "--size", "32", "--seed", "5", "--no-progress"]
    assert main(argv) == 0
    assert "[SYNTHETIC]" in capsys.readouterr().out
    recs = load_prepared(out)
    assert len(recs) == 12 and all(r.get("synthetic") for r in recs)
    assert recs[0]["image"].shape == (1, 32, 32)
    info = json.loads((out / "prepared.json").read_text())
    assert info["label"] == "SYNTHETIC phantom data (not real MRI)" and info["synthetic"]
    assert main(argv) == 0  # rerun replaces the prepared folder in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synth"]  # no partial leftovers


def test_folder_cli_roundtrip_and_resolution(tmp_path):
    src = tmp_path / "src"
    _tiny_folder(src)
    assert main(["folder", "--src", str(src), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    back, orig = load_prepared(tmp_path / "o"), load_folder(src)
    assert [r["id"] for r in back] == [r["id"] for r in orig]
    for a, b in zip(back, orig):  # uint8 sources are stored losslessly as PNG
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["mask"], b["mask"])
        assert a["group"] == b["group"]
    assert (tmp_path / "o" / "images" / "p0_0.png").is_file()
    again = load_folder(tmp_path / "o")  # a prepared folder is also a valid folder dataset
    assert [(r["id"], r["group"]) for r in again] == [(r["id"], r["group"]) for r in orig]
    assert main(["folder", "--src", str(src), "--out", str(tmp_path / "r"), "--resolution", "6",
                 "--channels", "1", "--no-progress"]) == 0
    assert load_prepared(tmp_path / "r")[0]["image"].shape == (1, 6, 6)


def test_cli_bad_input_exits_nonzero_naming_file(tmp_path, capsys):
    src = tmp_path / "src"
    _tiny_folder(src)
    m = np.zeros((12, 12), np.uint8)
    m[0, 0] = 7
    Image.fromarray(m).save(src / "masks" / "p1_3_mask.png")
    assert main(["folder", "--src", str(src), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "p1_3_mask.png" in err and "not binary" in err
    assert not (tmp_path / "o").exists()
    keep = tmp_path / "precious"
    keep.mkdir()
    (keep / "notes.txt").write_text("x")
    assert main(["synthetic", "--out", str(keep), "--n-patients", "1", "--size", "16",
                 "--no-progress"]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err and (keep / "notes.txt").is_file()


def test_msd_cli_on_tiny_task(tmp_path):
    pytest.importorskip("nibabel")
    spec = importlib.util.spec_from_file_location("_msd_builder", Path(__file__).with_name("test_msd_brain.py"))
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    make_task = builder.make_task

    make_task(tmp_path / "root", n_cases=2)
    out = tmp_path / "msd"
    assert main(["msd_brain", "--root", str(tmp_path / "root"), "--out", str(out),
                 "--channels", "FLAIR", "T2w", "--min-tumor-pixels", "2", "--resolution", "16",
                 "--no-progress"]) == 0
    recs = load_prepared(out)
    assert len(recs) >= 6 and recs[0]["image"].shape == (2, 16, 16)
    assert {r["group"] for r in recs} == {"BRATS_001", "BRATS_002"}
    assert main(["msd_brain", "--root", str(tmp_path / "nothing"), "--out", str(out),
                 "--no-progress"]) == 2


def test_module_entry_point_subprocess(tmp_path):
    out = tmp_path / "s"
    res = subprocess.run([sys.executable, "-m", "data_prep", "synthetic", "--out", str(out),
                          "--n-patients", "2", "--slices-per-patient", "2", "--size", "16"],
                         cwd=repo_root(), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert (out / "manifest.csv").is_file() and len(load_prepared(out)) == 4
    bad = subprocess.run([sys.executable, "-m", "data_prep", "folder", "--src", str(tmp_path / "x"),
                          "--out", str(tmp_path / "y")], cwd=repo_root(), capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and str(tmp_path / "x") in bad.stderr


def test_data_prep_imports_no_nascore():
    """One direction only: nascore imports data_prep, never the reverse (no import cycle)."""
    code = ("import sys, data_prep, data_prep.__main__, data_prep.msd_brain; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'nascore'); "
            "assert not bad, bad")
    res = subprocess.run([sys.executable, "-c", code], cwd=repo_root(), capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def test_out_holding_a_users_manifest_is_never_replaced(tmp_path, capsys):
    """A raw dataset folder with its own manifest.csv (as the README suggests for groups) is
    not a prepared folder: preparing into it is refused and every file survives."""
    src = tmp_path / "src"
    _tiny_folder(src)
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "img_1.png").write_bytes(b"user data")
    (raw / "manifest.csv").write_text("stem,patient\nimg_1,1\n")
    before = sorted(p.name for p in raw.iterdir())
    assert main(["folder", "--src", str(src), "--out", str(raw), "--no-progress"]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in raw.iterdir()) == before
    assert (raw / "img_1.png").read_bytes() == b"user data"
    # a folder data_prep wrote itself may be replaced
    out = tmp_path / "prepared"
    assert main(["folder", "--src", str(src), "--out", str(out), "--no-progress"]) == 0
    assert main(["folder", "--src", str(src), "--out", str(out), "--no-progress"]) == 0
