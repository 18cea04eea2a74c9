"""The dataset registry behind every notebook's ``data`` parameter (nascore.seg.datasets)."""

import hashlib

import numpy as np
import pytest

from data_prep import make_synthetic, patient_split, write_prepared
from nascore.paths import data_root
from nascore.seg import datasets as D

LGG = data_root() / "seg" / "lgg_mri_kaggle3m"
LGG_FULL = data_root() / "seg" / "lgg_kaggle3m_full128"


def test_registry_names_and_auto_order():
    assert D.DATASETS.names()[:4] == ["lgg_full", "lgg", "msd_brain", "synthetic"]
    assert D.auto_order() == ["lgg_full", "lgg", "msd_brain", "synthetic"]
    for name in D.DATASETS:
        ds = D.DATASETS.get(name)
        assert ds.label and ds.name == name
    assert D.available()["synthetic"] is True


def test_auto_falls_back_to_synthetic_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("NASCORE_DATA", str(tmp_path))  # nothing there
    recs, info = D.load_dataset("auto", resolution=32,
                                synthetic={"n_patients": 3, "slices_per_patient": 2})
    assert info["name"] == "synthetic" and info["synthetic"] is True
    assert "lgg_full not found" in info["why"] and "lgg not found" in info["why"]
    assert "msd_brain not found" in info["why"]
    assert info["description"] == ("synthetic (SYNTHETIC): 6 slices from 3 patients "
                                   f"({info['n_tumour']} with tumour), used at 32 px")
    assert len(recs) == 6 and info["n_patients"] == 3 and info["channels"] == 3
    assert recs[0]["image"].shape == (3, 32, 32)
    with pytest.raises(FileNotFoundError, match="lgg_mri_kaggle3m"):
        D.load_dataset("lgg")
    with pytest.raises(FileNotFoundError, match="neither a dataset name"):
        D.load_dataset("no_such_thing")


def test_auto_prefers_msd_over_synthetic(tmp_path, monkeypatch):
    monkeypatch.setenv("NASCORE_DATA", str(tmp_path))
    write_prepared(make_synthetic(n_patients=3, slices_per_patient=2, size=16, channels=1),
                   tmp_path / "seg" / "msd_brain")
    recs, info = D.load_dataset("auto")
    assert info["name"] == "msd_brain" and info["path"] == "$NASCORE_DATA/seg/msd_brain"
    assert len(recs) == 6 and info["channels"] == 1


def test_prepared_folder_by_path_one_channel(tmp_path, monkeypatch):
    """A 1-channel prepared folder is taken by path; channels come from the data."""
    recs = make_synthetic(n_patients=4, slices_per_patient=2, size=20, channels=1)
    write_prepared(recs, tmp_path / "mine", meta={"label": "my grey data"})
    got, info = D.load_dataset(str(tmp_path / "mine"), resolution=16)
    assert info["channels"] == 1 and info["label"] == "my grey data"
    assert info["dataset"] == "mine" and info["name"].startswith("mine-")
    assert info["synthetic"] is True  # the prepared records say so
    assert got[0]["image"].shape == (1, 16, 16) and got[0]["mask"].shape == (1, 16, 16)
    assert [r["id"] for r in got] == [r["id"] for r in recs]
    monkeypatch.chdir(tmp_path)
    assert D.load_dataset("mine")[1]["n_records"] == 8  # relative to the current folder
    (tmp_path / "raw").mkdir()
    with pytest.raises(FileNotFoundError, match="not a prepared folder"):
        D.load_dataset(str(tmp_path / "raw"))


def test_channel_selection_and_errors():
    recs, info = D.load_dataset("synthetic", resolution=16, channels=[1],
                                synthetic={"n_patients": 2, "slices_per_patient": 1})
    assert info["channels"] == 1 and recs[0]["image"].shape == (1, 16, 16)
    with pytest.raises(ValueError, match="out of range"):
        D.load_dataset("synthetic", resolution=16, channels=[5],
                       synthetic={"n_patients": 2, "slices_per_patient": 1})


def test_register_a_new_dataset(tmp_path):
    def load(path, resolution, channels, cache_dir, synthetic):
        return make_synthetic(n_patients=3, slices_per_patient=1, size=16, channels=1, seed=7)

    ds = D.SegDataset("tiny_test_set", "tiny", lambda: None, load, synthetic=True, auto=-1)
    D.register_dataset(ds)
    try:
        recs, info = D.load_dataset("tiny_test_set")
        assert info["name"] == "tiny_test_set" and len(recs) == 3
        with pytest.raises(ValueError, match="duplicate"):
            D.register_dataset(ds)
        # its auto rank puts it first in data="auto", without editing any list
        assert D.auto_order()[0] == "tiny_test_set"
        assert D.load_dataset("auto")[1]["name"] == "tiny_test_set"
    finally:
        D.DATASETS.unregister("tiny_test_set")
    assert "tiny_test_set" not in D.auto_order()


def test_a_dataset_without_auto_rank_is_never_tried_by_auto():
    ds = D.SegDataset("manual_only", "manual", lambda: None, lambda *a: [], synthetic=True)
    D.register_dataset(ds)
    try:
        assert "manual_only" not in D.auto_order()
    finally:
        D.DATASETS.unregister("manual_only")


@pytest.mark.needs_data
def test_the_whole_lgg_dataset_loads_with_its_counts_and_is_auto_first():
    if not (LGG_FULL / "manifest.csv").is_file():
        pytest.skip("needs ../shared/data/seg/lgg_kaggle3m_full128: set NASCORE_DATA")
    recs, info = D.load_dataset("auto", resolution=64)  # (at 32 px, 11 small tumours vanish)
    assert info["name"] == "lgg_full" and info["why"] == "auto"
    assert (info["dataset"], info["n_records"], info["n_patients"], info["n_tumour"],
            info["channels"], info["stored_resolution"]) == ("lgg_kaggle3m_full128", 3929, 110,
                                                             1372, 3, 128)
    assert info["description"] == ("lgg_kaggle3m_full128: 3929 slices from 110 patients "
                                   "(1372 with tumour), stored at 128 px, used at 64 px")
    assert recs[0]["image"].shape == (3, 64, 64) and recs[0]["group"] == "TCGA_CS_4941_19960909"
    per_patient = {}
    for r in recs:
        per_patient.setdefault(r["group"], []).append(r)
    assert len(per_patient) == 110 and min(map(len, per_patient.values())) >= 20


def _sha(items) -> str:
    return hashlib.sha1("\n".join(items).encode()).hexdigest()


@pytest.mark.needs_data
def test_lgg_records_and_patient_split_are_pinned():
    """Committed results depend on these: same records, same patients per split seed."""
    if not (LGG / "manifest.csv").is_file():
        pytest.skip("needs ../shared/data/seg/lgg_mri_kaggle3m: set NASCORE_DATA")
    recs, info = D.load_dataset("lgg", resolution=64)
    assert (info["dataset"], info["n_records"], info["n_patients"], info["n_tumour"],
            info["channels"]) == ("lgg_mri_kaggle3m", 868, 110, 648, 3)
    assert _sha(f"{r['id']},{r['group']},{int(r['has_tumor'])}" for r in recs) == \
        "122181a2e54a37b3f5dbea7afbd6b01ad3f05a6f"
    assert sum(int(r["mask"].sum()) for r in recs) == 75056
    total = float(np.sum([r["image"].astype(np.float64).sum() for r in recs]))
    assert total == pytest.approx(1032748.048, rel=1e-5)
    pinned = {0: ("f107980f00c098d6", "b5c12480aad9b5c2", "ec92f9445f3d6896", (606, 135, 127)),
              1: ("b893be79773de83f", "951b48f400f7ed78", "c6ec126e999d31a0", (609, 135, 124)),
              2: ("8666009f8d61687c", "34f0e387457a949d", "3943ea352d90fa89", (605, 136, 127))}
    for seed, (*hashes, sizes) in pinned.items():
        sp = patient_split(recs, (0.7, 0.15, 0.15), seed)
        got = [_sha([",".join(sorted({r["group"] for r in sp[k]}))])[:16]
               for k in ("train", "val", "test")]
        assert got == hashes and tuple(len(sp[k]) for k in ("train", "val", "test")) == sizes
    test0 = sorted({r["group"] for r in patient_split(recs, seed=0)["test"]})
    assert test0[:3] == ["TCGA_CS_5397_20010315", "TCGA_DU_6405_19851005", "TCGA_DU_7010_19860307"]


def test_make_reproduce_passes_data_to_the_notebooks_that_take_it(tmp_path):
    """``make reproduce DATA=<folder>`` gives 03 and 04 ``-p data <absolute folder>``."""
    import shutil
    import subprocess

    from nascore.paths import repo_root

    if shutil.which("make") is None:
        pytest.skip("make not installed")
    res = subprocess.run(["make", "-n", "reproduce", "PROFILE=smoke", f"DATA={tmp_path}"],
                         cwd=repo_root(), capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert (f'case " 03_search 04_segmentation_finetune " in *" $stem "*) '
            f'[ -n "{tmp_path}" ] && args="$args -p data {tmp_path}"') in res.stdout
    for nb in ("03_search", "04_segmentation_finetune"):
        src = (repo_root() / "notebooks" / f"{nb}.ipynb").read_text()
        assert '"data = \\"' in src  # the parameter the Makefile sets
