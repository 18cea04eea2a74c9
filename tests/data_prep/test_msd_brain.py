"""MSD Task01 conversion on a tiny NIfTI volume written here (offline; never downloads)."""

import json

import numpy as np
import pytest

nib = pytest.importorskip("nibabel")

from data_prep import load_prepared, msd_brain  # noqa: E402

X, Y, Z = 32, 28, 8
MODALITY = {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"}


def make_task(root, n_cases=2):
    """Task01 layout: 4-channel (X, Y, Z, 4) images, labels 0..3, a blob in slices 3-5."""
    task = root / "Task01_BrainTumour"
    (task / "imagesTr").mkdir(parents=True)
    (task / "labelsTr").mkdir()
    xx, yy, zz = np.meshgrid(np.arange(X), np.arange(Y), np.arange(Z), indexing="ij")
    brain = ((xx - 16) / 13.0) ** 2 + ((yy - 14) / 11.0) ** 2 < 1
    entries = []
    for c in range(n_cases):
        name = f"BRATS_{c + 1:03d}"
        img = np.zeros((X, Y, Z, 4), np.float32)
        img[..., 0] = brain * (100 + 10 * xx)  # FLAIR: grows along X
        img[..., 3] = brain * (50 + 20 * yy)   # T2w: grows along Y
        img[..., 1] = brain * 80.0
        img[..., 2] = brain * 60.0
        lab = np.zeros((X, Y, Z), np.uint8)
        lab[10:16, 8:12, 3:6] = 2
        lab[12:14, 9:11, 4] = 3
        lab[20:22, 14:16, 3] = 1  # oedema counts as whole tumour
        lab[5, 14, 6] = 1         # a 1-pixel slice: dropped when min_tumor_pixels > 1
        aff = np.diag([1.0, 1.0, 1.0, 1.0])
        nib.save(nib.Nifti1Image(img, aff), str(task / "imagesTr" / f"{name}.nii.gz"))
        nib.save(nib.Nifti1Image(lab, aff), str(task / "labelsTr" / f"{name}.nii.gz"))
        entries.append({"image": f"./imagesTr/{name}.nii.gz", "label": f"./labelsTr/{name}.nii.gz"})
    # macOS junk as shipped in the real tar: must be ignored (dataset.json is authoritative)
    (task / "imagesTr" / "._BRATS_001.nii.gz").write_bytes(b"junk")
    (task / "dataset.json").write_text(json.dumps({"name": "BRATS", "modality": MODALITY,
                                                   "labels": {"0": "background"},
                                                   "training": entries}))
    return task


def test_convert_slices_masks_and_channels(tmp_path):
    task = make_task(tmp_path)
    recs = msd_brain.convert(task, min_tumor_pixels=2, include_empty_fraction=0.0)
    assert [r["id"] for r in recs] == ["BRATS_001_003", "BRATS_001_004", "BRATS_001_005",
                                       "BRATS_002_003", "BRATS_002_004", "BRATS_002_005"]
    assert [r["group"] for r in recs[:3]] == ["BRATS_001"] * 3
    lab = np.asarray(nib.load(str(task / "labelsTr" / "BRATS_001.nii.gz")).dataobj)
    for r in recs[:3]:
        z = int(r["id"][-3:])
        assert r["image"].shape == (1, Y, X) and r["image"].dtype == np.float32
        np.testing.assert_array_equal(r["mask"][0], (lab[:, :, z] > 0).T.astype(np.uint8))
        assert 0.0 <= r["image"].min() and r["image"].max() <= 1.0
    flair = recs[0]["image"][0]
    assert flair[14, 25] > flair[14, 8]  # FLAIR grows along X (= width after transpose)

    two = msd_brain.convert(task, channels=("t2W", 0), min_tumor_pixels=2,
                            include_empty_fraction=0.0, max_cases=1)
    img = two[0]["image"]
    assert img.shape == (2, Y, X)
    assert img[0, 20, 16] > img[0, 6, 16]  # T2w grows along Y (= height)
    np.testing.assert_array_equal(img[1], recs[0]["image"][0])

    with pytest.raises(ValueError, match="unknown channel 'ADC'"):
        msd_brain.convert(task, channels=("ADC",))
    with pytest.raises(ValueError, match="out of range"):
        msd_brain.convert(task, channels=(7,))


def test_slice_choice_empty_fraction_step_and_resolution(tmp_path):
    task = make_task(tmp_path, n_cases=1)
    one_px = msd_brain.convert(task, min_tumor_pixels=1, include_empty_fraction=0.0)
    assert [r["id"][-3:] for r in one_px] == ["003", "004", "005", "006"]
    with_empty = msd_brain.convert(task, min_tumor_pixels=2, include_empty_fraction=0.5, seed=0)
    empty = [r for r in with_empty if not r["has_tumor"]]
    assert len(with_empty) == 5 and len(empty) == 2  # round(0.5 * 3) tumour-free slices
    assert all(int(r["id"][-3:]) in (0, 1, 2, 7) for r in empty)  # slice 6 (1 px) never "empty"
    again = msd_brain.convert(task, min_tumor_pixels=2, include_empty_fraction=0.5, seed=0)
    assert [r["id"] for r in again] == [r["id"] for r in with_empty]
    stepped = msd_brain.convert(task, min_tumor_pixels=1, slice_step=2, include_empty_fraction=0)
    assert [r["id"][-3:] for r in stepped] == ["004", "006"]
    small = msd_brain.convert(task, min_tumor_pixels=2, include_empty_fraction=0, resolution=16)
    assert small[0]["image"].shape == (1, 16, 16) and small[0]["mask"].shape == (1, 16, 16)
    assert set(np.unique(small[1]["mask"])) == {0, 1}


def test_convert_writes_prepared_folder(tmp_path):
    task = make_task(tmp_path)
    out = tmp_path / "prep"
    recs = msd_brain.convert(task, out, min_tumor_pixels=2, include_empty_fraction=0.5)
    back = load_prepared(out)
    assert [r["id"] for r in back] == [r["id"] for r in recs]
    for a, b in zip(recs, back):
        np.testing.assert_array_equal(a["image"], b["image"])  # float images go to .npy
        np.testing.assert_array_equal(a["mask"], b["mask"])
    info = json.loads((out / "prepared.json").read_text())
    assert info["source"] == "msd_brain" and info["n_groups"] == 2 and not info["synthetic"]
    rows = msd_brain.convert(task, tmp_path / "prep2", keep_in_memory=False, min_tumor_pixels=2)
    assert "image" in rows[0] and isinstance(rows[0]["image"], str)
    with pytest.raises(ValueError, match="needs out_dir"):
        msd_brain.convert(task, keep_in_memory=False)


def test_bad_layouts_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset.json"):
        msd_brain.convert(tmp_path)
    task = make_task(tmp_path)
    (task / "labelsTr" / "BRATS_002.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="BRATS_002.nii.gz"):
        msd_brain.convert(task)
    task2 = make_task(tmp_path / "b", n_cases=1)
    (task2 / "imagesTr" / "BRATS_001.nii.gz").write_bytes(b"broken")
    with pytest.raises(ValueError, match="unreadable file .*BRATS_001.nii.gz"):
        msd_brain.convert(task2)


@pytest.mark.slow
def test_download_uses_monai_url_and_md5_offline(tmp_path, monkeypatch):
    monai_apps = pytest.importorskip("monai.apps")
    from monai.apps.datasets import DecathlonDataset

    url, md5 = msd_brain.resource()
    assert url == DecathlonDataset.resource["Task01_BrainTumour"] and url.endswith("Task01_BrainTumour.tar")
    assert md5 == DecathlonDataset.md5["Task01_BrainTumour"] and len(md5) == 32
    calls = []

    def fake_download_and_extract(**kw):  # no network: just create the layout
        calls.append(kw)
        make_task(kw["output_dir"], n_cases=1)

    monkeypatch.setattr(monai_apps, "download_and_extract", fake_download_and_extract)
    task = msd_brain.download(tmp_path, progress=False)
    assert task == tmp_path / "Task01_BrainTumour" and (task / "dataset.json").is_file()
    assert calls[0]["url"] == url and calls[0]["hash_val"] == md5 and calls[0]["hash_type"] == "md5"
    msd_brain.download(tmp_path)  # already there: no second download
    assert len(calls) == 1
