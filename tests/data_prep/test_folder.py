"""Folder loader (LGG and tiny built folders), its errors, cache, and the patient split."""

import os

import numpy as np
import pytest
from PIL import Image

import data_prep.folder as folder_mod
from data_prep import lgg_patient_id, load_folder, patient_split
from nascore.paths import data_root

LGG = data_root() / "seg" / "lgg_mri_kaggle3m"


def _png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def make_folder(root, n=4, size=16, rgb=False, stems=None):
    """Tiny images/ + masks/ folder; returns the stems."""
    rng = np.random.default_rng(0)
    stems = stems or [f"P{i // 2}_{i}" for i in range(n)]
    for k, s in enumerate(stems):
        shape = (size, size, 3) if rgb else (size, size)
        _png(root / "images" / f"{s}.png", rng.integers(0, 256, shape, dtype=np.uint8))
        m = np.zeros((size, size), np.uint8)
        if k % 2 == 0:
            m[2:6, 3:9] = 255
        _png(root / "masks" / f"{s}_mask.png", m)
    return stems


@pytest.fixture(scope="module")
def lgg():
    if not (LGG / "images").is_dir():
        pytest.skip("needs ../shared/data/seg/lgg_mri_kaggle3m: set NASCORE_DATA")
    return load_folder(LGG, channels=[1])  # FLAIR only, keeps memory small


@pytest.mark.needs_data
def test_lgg_loads_as_is(lgg):
    assert len(lgg) == 868
    assert len({r["group"] for r in lgg}) == 110
    assert all(r["image"].shape == (1, 256, 256) and r["image"].dtype == np.float32 for r in lgg)
    assert all(r["mask"].shape == (1, 256, 256) and r["mask"].dtype == np.uint8 for r in lgg)
    assert all(set(np.unique(r["mask"])) <= {0, 1} for r in lgg)
    assert sum(r["has_tumor"] for r in lgg) == 648
    assert all(r["group"] == lgg_patient_id(r["id"]) for r in lgg)  # manifest agrees with stems
    assert 0 <= min(r["image"].min() for r in lgg) and max(r["image"].max() for r in lgg) <= 1


@pytest.mark.needs_data
def test_lgg_rgb_channels():
    if not (LGG / "images").is_dir():
        pytest.skip("needs ../shared/data/seg/lgg_mri_kaggle3m: set NASCORE_DATA")
    one = load_folder(LGG, resolution=32)[:3]
    assert one[0]["image"].shape == (3, 32, 32) and one[0]["mask"].shape == (1, 32, 32)


@pytest.mark.needs_data
def test_lgg_patient_split_is_disjoint(lgg):
    sp = patient_split(lgg, seed=0)
    groups = {k: {r["group"] for r in v} for k, v in sp.items()}
    assert not groups["train"] & groups["val"]
    assert not groups["train"] & groups["test"]
    assert not groups["val"] & groups["test"]
    assert sum(len(v) for v in sp.values()) == 868
    assert [len(g) for g in groups.values()] == [77, 17, 16]
    again = patient_split(lgg, seed=0)
    assert [r["id"] for r in again["test"]] == [r["id"] for r in sp["test"]]
    other = patient_split(lgg, seed=1)
    assert {r["group"] for r in other["test"]} != groups["test"]


def test_lgg_patient_id():
    assert lgg_patient_id("TCGA_CS_4941_19960909_11") == "TCGA_CS_4941_19960909"
    assert lgg_patient_id("case7") == "case7"


def test_split_independent_of_order_and_validates():
    recs = [{"id": str(i), "group": f"g{i % 7}"} for i in range(30)]
    a = patient_split(recs, seed=3)
    b = patient_split(recs[::-1], seed=3)
    assert {r["id"] for r in a["val"]} == {r["id"] for r in b["val"]}
    assert all(len(v) > 0 for v in a.values())
    with pytest.raises(ValueError, match="fractions"):
        patient_split(recs, fractions=(0.5, 0.2, 0.2))
    with pytest.raises(ValueError, match="'x'"):
        patient_split([{"id": "x"}])


def test_tiny_folder_grey_rgb_npy_and_resize(tmp_path):
    stems = make_folder(tmp_path / "g", n=4)
    recs = load_folder(tmp_path / "g")
    assert [r["id"] for r in recs] == stems
    assert [r["group"] for r in recs] == stems  # default: one group per image
    assert [r["group"] for r in load_folder(tmp_path / "g", groups="lgg")] == ["P0", "P0", "P1", "P1"]
    raw = np.array(Image.open(tmp_path / "g" / "images" / f"{stems[0]}.png"))
    np.testing.assert_allclose(recs[0]["image"][0], raw / 255.0, atol=1e-6)
    assert recs[0]["mask"].sum() == 24 and not recs[1]["has_tumor"]

    make_folder(tmp_path / "c", n=2, rgb=True)
    rgb = load_folder(tmp_path / "c", groups=lambda s: "all")
    assert rgb[0]["image"].shape == (3, 16, 16) and {r["group"] for r in rgb} == {"all"}
    grey = load_folder(tmp_path / "c", grayscale=True)
    assert grey[0]["image"].shape == (1, 16, 16)

    small = load_folder(tmp_path / "g", resolution=8)
    assert small[0]["image"].shape == (1, 8, 8)
    assert set(np.unique(small[0]["mask"])) == {0, 1}  # nearest keeps it binary
    assert small[0]["mask"].sum() == 6

    # .npy channel-first image and a plain (no _mask suffix) mask name
    d = tmp_path / "n"
    (d / "images").mkdir(parents=True)
    np.save(d / "images" / "a_1.npy", np.random.default_rng(1).random((2, 10, 12)).astype(np.float32))
    _png(d / "masks" / "a_1.png", np.ones((10, 12), np.uint8))
    r = load_folder(d)[0]
    assert r["image"].shape == (2, 10, 12) and r["mask"].all() and r["group"] == "a_1"


def test_manifest_gives_ids_and_groups(tmp_path):
    make_folder(tmp_path, n=4)
    (tmp_path / "manifest.csv").write_text("stem,patient\nP1_3,pat-B\nP0_0,pat-A\n")
    with pytest.warns(UserWarning, match="not in"):
        recs = load_folder(tmp_path)
    assert [(r["id"], r["group"]) for r in recs] == [("P1_3", "pat-B"), ("P0_0", "pat-A")]
    (tmp_path / "manifest.csv").write_text("stem,patient\nP9_9,x\n")
    with pytest.raises(FileNotFoundError, match="P9_9"):
        load_folder(tmp_path)
    assert len(load_folder(tmp_path, manifest=None)) == 4


def test_error_mask_without_image(tmp_path):
    make_folder(tmp_path, n=2)
    _png(tmp_path / "masks" / "ghost_mask.png", np.zeros((16, 16), np.uint8))
    with pytest.raises(FileNotFoundError, match=r"mask without an image: .*ghost_mask\.png"):
        load_folder(tmp_path)


def test_error_image_without_mask(tmp_path):
    make_folder(tmp_path, n=2)
    _png(tmp_path / "images" / "lonely.png", np.zeros((16, 16), np.uint8))
    with pytest.raises(FileNotFoundError, match=r"image without a mask: .*lonely\.png"):
        load_folder(tmp_path)


def test_error_size_mismatch(tmp_path):
    make_folder(tmp_path, n=2)
    _png(tmp_path / "images" / "big.png", np.zeros((20, 16), np.uint8))
    _png(tmp_path / "masks" / "big_mask.png", np.zeros((16, 16), np.uint8))
    with pytest.raises(ValueError, match=r"size mismatch: image .*big\.png.*big_mask\.png"):
        load_folder(tmp_path)


def test_error_non_binary_mask_unless_threshold(tmp_path):
    make_folder(tmp_path, n=2)
    m = np.zeros((16, 16), np.uint8)
    m[:4] = 128
    m[4:6] = 255
    _png(tmp_path / "masks" / "P0_1_mask.png", m)
    with pytest.raises(ValueError, match=r"mask .*P0_1_mask\.png is not binary"):
        load_folder(tmp_path)
    recs = load_folder(tmp_path, mask_threshold=127)
    assert recs[1]["mask"].sum() == 6 * 16
    assert load_folder(tmp_path, mask_threshold=200)[1]["mask"].sum() == 2 * 16


def test_error_unreadable_file(tmp_path):
    make_folder(tmp_path, n=2)
    (tmp_path / "images" / "P0_1.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match=r"unreadable file .*P0_1\.png"):
        load_folder(tmp_path)


def test_error_empty_or_missing_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_folder(tmp_path / "nowhere")
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / ".DS_Store").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"empty dataset folder .*" + tmp_path.name):
        load_folder(tmp_path)
    (tmp_path / "masks").mkdir()
    with pytest.raises(ValueError, match=r"empty dataset folder .*" + tmp_path.name):
        load_folder(tmp_path)
    _png(tmp_path / "images" / "x.png", np.zeros((4, 4), np.uint8))  # masks/ is empty
    with pytest.raises(FileNotFoundError, match=r"image without a mask: .*x\.png: tried x\.\*"):
        load_folder(tmp_path)


def test_cache_is_reused_and_invalidated(tmp_path, monkeypatch):
    make_folder(tmp_path / "d", n=4)
    cache = tmp_path / "cache"
    first = load_folder(tmp_path / "d", resolution=8, cache_dir=cache)
    assert len(list(cache.glob("*.npz"))) == 1

    calls = []
    real = folder_mod._read_pair

    def spy(*a, **k):
        calls.append(a[0])
        return real(*a, **k)

    monkeypatch.setattr(folder_mod, "_read_pair", spy)
    second = load_folder(tmp_path / "d", resolution=8, cache_dir=cache)
    assert calls == []  # served from the cache
    for a, b in zip(first, second):
        assert a["id"] == b["id"] and a["group"] == b["group"]
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["mask"], b["mask"])

    img = tmp_path / "d" / "images" / "P0_0.png"
    st = img.stat()
    os.utime(img, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    load_folder(tmp_path / "d", resolution=8, cache_dir=cache)
    assert len(calls) == 4  # a changed mtime invalidates the key
    load_folder(tmp_path / "d", resolution=4, cache_dir=cache)
    assert len(calls) == 8 and len(list(cache.glob("*.npz"))) == 3


def test_error_mixed_grey_and_rgb_names_examples_and_the_fix(tmp_path):
    """Some datasets ship grey and RGB PNGs side by side: refused at prep time, naming an
    example of each; grayscale makes them one kind."""
    make_folder(tmp_path / "g", n=2, stems=["a_0", "a_1"])
    make_folder(tmp_path / "g", n=1, rgb=True, stems=["b_0"])
    with pytest.raises(ValueError, match=r"different channel counts \(1 channel\(s\): 2 image\(s\), "
                                         r"e\.g\. .*a_0\.png; 3 channel\(s\): 1 image\(s\), e\.g\. "
                                         r".*b_0\.png\)\. Pass grayscale=True"):
        load_folder(tmp_path / "g")
    assert {r["image"].shape[0] for r in load_folder(tmp_path / "g", grayscale=True)} == {1}
