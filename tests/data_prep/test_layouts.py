"""The folder loader on tiny stand-ins (16 x 20 px) of the layouts public datasets ship in, and
one regression test per fault found by a user-style review (groups and splits, user data, signals, bad files)."""

import os
import signal
import stat

import numpy as np
import pytest
from PIL import Image

from data_prep import load_folder, load_prepared, patient_split
from data_prep.__main__ import main

H, W = 16, 20


def img(path, value=100, mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.full((H, W, 3) if mode == "RGB" else (H, W), value, np.uint8)
    a[0, 0] = 7  # not constant
    Image.fromarray(a).save(path)


def mask(path, box=(2, 6, 3, 9), fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    m = np.zeros((H, W), np.uint8)
    if box:
        m[box[0]:box[1], box[2]:box[3]] = 255
    Image.fromarray(m).save(path, format=fmt)
    return (m > 0).sum()


def summary(recs):
    return [(r["id"], r["group"], int(r["mask"].sum())) for r in recs]


# ----------------------------------------------------------------------------- layouts
def test_kaggle_lgg_patient_folders(tmp_path):
    """kaggle_3m/<patient>/<stem>.tif + <stem>_mask.tif: found recursively; one group per image
    by default, the patient with the registered ``lgg`` rule or the ``folder`` rule."""
    src = tmp_path / "kaggle_3m"
    for p in ("TCGA_A_1", "TCGA_B_2"):
        for s in (1, 2):
            img(src / p / f"{p}_{s}.tif")
            mask(src / p / f"{p}_{s}_mask.tif", box=(2, 6, 3, 9) if s == 1 else None)
    recs = load_folder(src)
    assert summary(recs) == [("TCGA_A_1_1", "TCGA_A_1_1", 24), ("TCGA_A_1_2", "TCGA_A_1_2", 0),
                             ("TCGA_B_2_1", "TCGA_B_2_1", 24), ("TCGA_B_2_2", "TCGA_B_2_2", 0)]
    assert recs[0]["source"] == "TCGA_A_1/TCGA_A_1_1.tif"
    assert recs[0]["mask_sources"] == ["TCGA_A_1/TCGA_A_1_1_mask.tif"]
    for rule in ("lgg", "folder"):
        assert [r["group"] for r in load_folder(src, groups=rule)] == ["TCGA_A_1"] * 2 + ["TCGA_B_2"] * 2
    assert [r["group"] for r in load_folder(src, group_regex=r"^([^/]+)/")] == \
        ["TCGA_A_1"] * 2 + ["TCGA_B_2"] * 2


def test_busi_class_folders_several_masks_merged(tmp_path):
    """<class>/<stem>.png + <stem>_mask.png + <stem>_mask_1.png: masks merged by union, and
    the prepared manifest says so."""
    src = tmp_path / "Dataset_BUSI_with_GT"
    img(src / "benign" / "benign (1).png", mode="RGB")
    a = mask(src / "benign" / "benign (1)_mask.png", box=(0, 4, 0, 4))
    b = mask(src / "benign" / "benign (1)_mask_1.png", box=(10, 14, 10, 14))
    img(src / "malignant" / "malignant (1).png", mode="RGB")
    mask(src / "malignant" / "malignant (1)_mask.png")
    img(src / "normal" / "normal (1).png", mode="RGB")
    mask(src / "normal" / "normal (1)_mask.png", box=None)
    recs = load_folder(src)
    assert summary(recs) == [("benign (1)", "benign (1)", a + b), ("malignant (1)", "malignant (1)", 24),
                             ("normal (1)", "normal (1)", 0)]
    assert recs[0]["image"].shape == (3, H, W)
    assert recs[0]["mask_sources"] == ["benign/benign (1)_mask.png", "benign/benign (1)_mask_1.png"]
    out = tmp_path / "prep"
    assert main(["folder", "--src", str(src), "--out", str(out), "--no-progress"]) == 0
    man = (out / "manifest.csv").read_text().splitlines()
    assert man[0].endswith("source,mask_sources,n_mask_files")
    assert man[1].endswith("benign/benign (1).png,benign/benign (1)_mask.png;benign/benign (1)_mask_1.png,2")
    assert '"n_merged_masks": 1' in (out / "prepared.json").read_text()
    assert "union" in (out / "prepared.json").read_text()


def test_kvasir_images_masks_identical_jpeg_names(tmp_path):
    src = tmp_path / "Kvasir-SEG"
    for s in ("cju0a", "cju0b", "cju0c"):
        img(src / "images" / f"{s}.jpg", mode="RGB")
        mask(src / "masks" / f"{s}.jpg")
    with pytest.raises(ValueError, match=r"cju0a\.jpg is not binary"):
        load_folder(src)  # JPEG masks carry compression noise
    recs = load_folder(src, mask_threshold=127)
    assert [r["id"] for r in recs] == ["cju0a", "cju0b", "cju0c"]
    assert all(20 <= r["mask"].sum() <= 28 for r in recs)


def test_cvc_two_explicit_folders(tmp_path):
    src = tmp_path / "CVC-ClinicDB"
    for i in (1, 2, 10):
        img(src / "Original" / f"{i}.tif", mode="RGB")
        mask(src / "Ground Truth" / f"{i}.tif")
    recs = load_folder(images=src / "Original", masks=src / "Ground Truth")
    assert [r["id"] for r in recs] == ["1", "2", "10"]  # natural order
    assert recs[0]["source"] == "Original/1.tif" and recs[0]["mask_sources"] == ["Ground Truth/1.tif"]


def test_drive_gif_manual_masks(tmp_path):
    """DRIVE: images/21_training.tif + 1st_manual/21_manual1.gif (palette GIF masks)."""
    src = tmp_path / "DRIVE" / "training"
    for i in (21, 22):
        img(src / "images" / f"{i}_training.tif", mode="RGB")
        mask(src / "1st_manual" / f"{i}_manual1.gif", fmt="GIF")
    assert Image.open(src / "1st_manual" / "21_manual1.gif").mode == "P"
    recs = load_folder(images=src / "images", masks=src / "1st_manual")
    assert summary(recs) == [("21_training", "21_training", 24), ("22_training", "22_training", 24)]
    mask(src / "mask" / "21_training_mask.gif", fmt="GIF")  # DRIVE's field-of-view masks
    with pytest.raises(FileNotFoundError, match="mask without an image.*21_manual1.*give them "
                                                "explicitly.*--images DIR --masks DIR"):
        load_folder(src)  # as downloaded, one tree: the error says how to choose the folders


def test_palette_image_is_expanded_to_rgb(tmp_path):
    src = tmp_path / "pal"
    p = Image.new("P", (W, H))
    p.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    a = np.zeros((H, W), np.uint8)
    a[:, 10:] = 2
    p.putdata(a.ravel().tolist())
    (src).mkdir()
    p.save(src / "x.png")
    mask(src / "x_mask.png")
    r = load_folder(src)[0]
    assert r["image"].shape == (3, H, W)
    np.testing.assert_array_equal(r["image"][:, 0, -1], [0, 1, 0])  # green, not index 2/255


# ----------------------------------------------------------------------------- groups, split
def test_glas_and_isic_stems_are_one_group_per_image_and_split(tmp_path):
    """Regression: stems train_1/testA_1 became groups train/testA and ISIC_000000n one group,
    so val and test came out empty."""
    glas = tmp_path / "GlaS"
    for s in ("train_1", "train_2", "train_3", "testA_1", "testA_2", "testB_1"):
        img(glas / f"{s}.bmp")
        mask(glas / f"{s}_anno.bmp", box=(2, 6, 3, 9) if s != "train_3" else None)
    recs = load_folder(glas)
    assert len({r["group"] for r in recs}) == 6
    sp = patient_split(recs, seed=0)
    assert all(sp[k] for k in ("train", "val", "test"))

    isic = tmp_path / "ISIC"
    for i in range(1, 6):
        img(isic / "images" / f"ISIC_000000{i}.jpg", mode="RGB")
        mask(isic / "masks" / f"ISIC_000000{i}_segmentation.png")
    recs = load_folder(isic, mask_suffix="_segmentation")
    assert [r["group"] for r in recs] == [f"ISIC_000000{i}" for i in range(1, 6)]
    assert all(patient_split(recs, seed=s)[k] for s in range(5) for k in ("val", "test"))


def test_one_shared_mask_suffix_is_inferred_and_printed(tmp_path, capsys):
    """Every mask in the mask folder is <image stem>_segmentation (ISIC) and no suffix was
    given: the loader pairs by that suffix and says so; it does not refuse."""
    isic = tmp_path / "ISIC"
    for i in range(1, 4):
        img(isic / "images" / f"ISIC_000000{i}.jpg", mode="RGB")
        mask(isic / "masks" / f"ISIC_000000{i}_segmentation.png")
    recs = load_folder(isic)
    assert [r["id"] for r in recs] == [f"ISIC_000000{i}" for i in range(1, 4)]
    assert [r["mask_sources"] for r in recs] == [[f"masks/ISIC_000000{i}_segmentation.png"]
                                                 for i in range(1, 4)]
    out = capsys.readouterr().out
    assert "_segmentation" in out and "pairing by that suffix" in out
    # two suffixes (no one suffix pairs every image): still refused, listing the conventions
    (isic / "masks" / "ISIC_0000003_segmentation.png").rename(isic / "masks" / "ISIC_0000003_seg.png")
    with pytest.raises(FileNotFoundError, match="image without a mask"):
        load_folder(isic)
    assert "pairing by that suffix" not in capsys.readouterr().out


def test_kaggle_3m_download_prepares_the_lgg_full_layout_grouped_by_patient(tmp_path, capsys):
    """A stand-in of the kaggle_3m download (patient folders of .tif pairs) becomes a prepared
    folder grouped by patient, at the resolution asked, that the dataset registry loads."""
    from nascore.seg.datasets import load_dataset

    src = tmp_path / "kaggle_3m"
    for p in ("TCGA_CS_4941_19960909", "TCGA_DU_5849_19950405"):
        for s in (1, 2, 10):
            img(src / p / f"{p}_{s}.tif", mode="RGB")
            mask(src / p / f"{p}_{s}_mask.tif", box=(2, 10, 3, 15) if s == 2 else None)
    (src / "README.md").write_text("not an image")  # as in the download
    out = tmp_path / "lgg_kaggle3m_full128"
    assert main(["kaggle_3m", "--src", str(src), "--out", str(out), "--resolution", "8",
                 "--no-progress"]) == 0
    assert "wrote 6 records, 2 groups, 2 with tumour" in capsys.readouterr().out
    recs, info = load_dataset(str(out))
    assert info["n_patients"] == 2 and info["n_tumour"] == 2 and info["channels"] == 3
    assert [(r["id"], r["group"]) for r in recs] == [
        (f"{p}_{s}", p) for p in ("TCGA_CS_4941_19960909", "TCGA_DU_5849_19950405")
        for s in (1, 2, 10)]
    assert recs[0]["image"].shape == (3, 8, 8)
    flat = tmp_path / "flat"
    img(flat / "scan.png")
    mask(flat / "scan_mask.png")
    assert main(["kaggle_3m", "--src", str(flat), "--out", str(tmp_path / "o2"), "--no-progress"]) == 2
    assert "does not look like kaggle_3m" in capsys.readouterr().err


@pytest.mark.needs_data
def test_the_kaggle_3m_grouping_rule_gives_the_shared_folder_patients():
    """The rule the kaggle_3m command groups by (stem without its trailing _<slice>) gives
    exactly the patient column of the shared whole-dataset folder, slice by slice."""
    import csv

    from data_prep import lgg_patient_id
    from nascore.paths import data_root

    man = data_root() / "seg" / "lgg_kaggle3m_full128" / "manifest.csv"
    if not man.is_file():
        pytest.skip("needs ../shared/data/seg/lgg_kaggle3m_full128: set NASCORE_DATA")
    with open(man, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3929
    assert all(lgg_patient_id(r["stem"]) == r["patient"] for r in rows)
    assert len({r["patient"] for r in rows}) == 110


def test_split_stratified_by_tumour_and_too_few_groups():
    recs = [{"id": f"{g}_{k}", "group": f"g{g}", "has_tumor": g < 10} for g in range(20) for k in range(2)]
    for seed in range(5):
        sp = patient_split(recs, seed=seed)
        for k in ("train", "val", "test"):
            tum = {r["has_tumor"] for r in sp[k]}
            assert tum == {True, False}, (seed, k)  # both strata on every side
    two = [{"id": "a", "group": "a"}, {"id": "b", "group": "b"}]
    with pytest.raises(ValueError, match=r"too few groups to split: 2 records in 2 group"):
        patient_split(two)
    assert patient_split(two, fractions=(0.5, 0.5, 0.0))["test"] == []
    # tiny strata still give non-empty val and test
    four = [{"id": str(i), "group": str(i), "has_tumor": i < 2} for i in range(4)]
    assert all(patient_split(four, seed=s)[k] for s in range(10) for k in ("train", "val", "test"))


def test_group_rule_errors(tmp_path):
    src = tmp_path / "d"
    img(src / "a_1.png")
    mask(src / "a_1_mask.png")
    with pytest.raises(ValueError, match="unknown group rule 'nope'; known: image, folder, lgg"):
        load_folder(src, groups="nope")
    with pytest.raises(ValueError, match=r"does not match 'a_1' \(record 'a_1'\)"):
        load_folder(src, group_regex=r"patient(\d+)")


def test_cli_prints_groups_and_warns_when_unsplittable(tmp_path, capsys):
    src = tmp_path / "s"
    for s in ("p1", "p2"):
        img(src / f"{s}.png")
        mask(src / f"{s}_mask.png")
    assert main(["folder", "--src", str(src), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2 images with masks; 2 groups from one group per image" in out
    assert "cannot be split for training: too few groups" in out


# ----------------------------------------------------------------------------- faults
def test_no_mask_error_lists_conventions(tmp_path):
    src = tmp_path / "d"
    img(src / "scan7.png")
    mask(src / "scan7_label.png")
    with pytest.raises(FileNotFoundError) as e:
        load_folder(src)
    msg = str(e.value)
    assert "scan7.png" in msg
    for conv in ("scan7_mask.*", "scan7_anno.*", "scan7_manual1.*", "--mask-suffix"):
        assert conv in msg
    assert load_folder(src, mask_suffix="_label")[0]["mask"].sum() == 24


def test_one_mask_claimed_by_two_images_is_an_error(tmp_path):
    src = tmp_path / "d"
    for s in ("case_a", "case_b"):
        img(src / "images" / f"{s}.png")
    mask(src / "masks" / "case_mask.png")  # both strip to "case"
    with pytest.raises(ValueError, match=r"case_mask\.png matches two images"):
        load_folder(src)


def test_orphan_mask_in_one_tree(tmp_path):
    src = tmp_path / "d"
    img(src / "a.png")
    mask(src / "a_mask.png")
    mask(src / "ghost_mask.png")
    with pytest.raises(FileNotFoundError, match=r"mask without an image: .*ghost_mask\.png"):
        load_folder(src)


@pytest.mark.parametrize("name", ["images/p_1.npy", "masks/p_1_mask.npy"])
def test_zero_byte_npy_is_a_clean_error(tmp_path, capsys, name):
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    (src / "masks").mkdir()
    np.save(src / "images" / "p_1.npy", np.ones((H, W), np.float32))
    np.save(src / "masks" / "p_1_mask.npy", np.ones((H, W), np.uint8))
    (src / name).write_bytes(b"")
    assert main(["folder", "--src", str(src), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"unreadable file {src / name}: empty file (0 bytes)" in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


@pytest.mark.parametrize("where", ["same", "inside", "containing"])
def test_out_overlapping_src_is_refused(tmp_path, capsys, where):
    src = tmp_path / "data" / "src"
    img(src / "images" / "a_1.png")
    mask(src / "masks" / "a_1_mask.png")
    (src / "manifest.csv").write_text("stem,patient\na_1,a\n")
    out = {"same": src, "inside": src / "prepared", "containing": tmp_path / "data"}[where]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main(["folder", "--src", str(src), "--out", str(out), "--no-progress"]) == 2
    assert "refusing to write there" in capsys.readouterr().err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert main(["folder", "--images", str(src / "images"), "--masks", str(src / "masks"),
                 "--out", str(src / "masks" / "x"), "--no-progress"]) == 2


def test_output_files_are_0644(tmp_path):
    src = tmp_path / "s"
    img(src / "a.png")
    mask(src / "a_mask.png")
    old = os.umask(0o022)
    try:
        assert main(["folder", "--src", str(src), "--out", str(tmp_path / "o"), "--no-progress",
                     "--cache-dir", str(tmp_path / "c")]) == 0
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "o").rglob("*") if p.is_file()] + list((tmp_path / "c").glob("*"))
    assert len(files) == 5
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o644}


def test_sigterm_leaves_no_partial_folder(tmp_path, monkeypatch):
    from data_prep import records

    real_add, calls = records.PreparedWriter.add, []

    def add(self, rec):
        calls.append(rec["id"])
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # as `timeout` or a job scheduler would
        return real_add(self, rec)

    monkeypatch.setattr(records.PreparedWriter, "add", add)
    unhandled = []
    prev = signal.signal(signal.SIGTERM, lambda *a: unhandled.append(a))
    try:
        with pytest.raises(SystemExit) as e:
            main(["synthetic", "--out", str(tmp_path / "o"), "--n-patients", "2",
                  "--slices-per-patient", "3", "--size", "16", "--no-progress"])
        assert e.value.code == 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, prev)
    assert not unhandled and len(calls) == 3
    assert list(tmp_path.iterdir()) == []  # neither o nor a hidden .o.partial-* folder


def test_prepared_output_round_trips(tmp_path):
    src = tmp_path / "kaggle_3m"
    for p in ("P1", "P2", "P3"):
        img(src / p / f"{p}_1.tif")
        mask(src / p / f"{p}_1_mask.tif")
    assert main(["folder", "--src", str(src), "--out", str(tmp_path / "o"), "--groups", "folder",
                 "--no-progress"]) == 0
    back = load_prepared(tmp_path / "o")
    assert summary(back) == [("P1_1", "P1", 24), ("P2_1", "P2", 24), ("P3_1", "P3", 24)]


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_umask_is_read_without_changing_it(monkeypatch):
    """Reading the umask must not flip it process-wide (another thread creating a file at that
    moment would get the wrong mode)."""
    from data_prep._files import _umask

    old = os.umask(0o027)
    try:
        with monkeypatch.context() as m:
            m.setattr(os, "umask", lambda *_: (_ for _ in ()).throw(AssertionError("umask set")))
            assert _umask() == 0o027
    finally:
        os.umask(old)


def test_kaggle_3m_refuses_a_prepared_or_two_folder_tree(tmp_path, capsys):
    src = tmp_path / "lgg_like"
    img(src / "images" / "TCGA_A_1_1.png")
    mask(src / "masks" / "TCGA_A_1_1_mask.png")
    assert main(["kaggle_3m", "--src", str(src), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "not the kaggle_3m download" in capsys.readouterr().err


def test_a_mask_suffix_most_masks_share_is_named_when_some_image_lacks_it(tmp_path):
    src = tmp_path / "d"
    for i in range(5):
        img(src / "images" / f"case{i}.png")
        if i < 4:
            mask(src / "masks" / f"case{i}_seg.png")
    with pytest.raises(FileNotFoundError) as e:
        load_folder(src)
    msg = str(e.value)
    assert "4 of 4 masks are <image stem>_seg" in msg and "case4" in msg
