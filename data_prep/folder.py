"""A generic folder of image/mask pairs (e.g. ``../shared/data/seg/lgg_mri_kaggle3m/``).

Layout::

    root/images/<stem>.<png|tif|tiff|jpg|jpeg|bmp|npy>
    root/masks/<stem>_mask.<ext>   (or masks/<stem>.<ext>)
    root/manifest.csv              optional: columns stem|id and, optionally, patient|group

Pairs are matched by stem. With a manifest, its rows give the ids (in its order) and, when it
has a ``patient`` or ``group`` column, the groups; otherwise ``group_fn(stem)`` does (default
:func:`lgg_patient_id`). Resized arrays can be cached as ``.npz`` in ``cache_dir``; the cache key
covers the options and every file's size and mtime, so edits invalidate it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from .imageio import (IMAGE_EXTS, Resolution, as_hw, read_image_raw, read_mask, resize_image,
                      resize_mask, to_float)
from .records import make_record

_CACHE_VERSION = 1
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def lgg_patient_id(stem: str) -> str:
    """The patient id of an LGG slice stem: the stem without its trailing ``_<slice>`` number.

    ``"TCGA_CS_4941_19960909_11" -> "TCGA_CS_4941_19960909"``; a stem without a trailing number
    is its own group.
    """
    return re.sub(r"_\d+$", "", stem) or stem


def _natural_key(s: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def _listing(d: Path, strip_mask_suffix: bool) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in sorted(d.iterdir()):
        if p.name.startswith(".") or not p.is_file() or p.suffix.lower() not in IMAGE_EXTS:
            continue
        key = p.stem
        if strip_mask_suffix and key.endswith("_mask"):
            key = key[: -len("_mask")]
        if key in out:
            raise ValueError(f"two files for stem {key!r}: {out[key]} and {p}")
        out[key] = p
    return out


def _pairs(root: Path) -> dict[str, tuple[Path, Path]]:
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    img_dir, mask_dir = root / "images", root / "masks"
    for d in (img_dir, mask_dir):
        if not d.is_dir():
            raise FileNotFoundError(f"missing folder {d} (expected {root}/images and {root}/masks)")
    images = _listing(img_dir, strip_mask_suffix=False)
    masks = _listing(mask_dir, strip_mask_suffix=True)
    if not images and not masks:
        raise ValueError(f"empty dataset folder {root}: no image files in {img_dir} or {mask_dir}")
    orphan_masks = sorted(set(masks) - set(images), key=_natural_key)
    if orphan_masks:
        raise FileNotFoundError(f"mask without an image: {masks[orphan_masks[0]]} (no "
                                f"{img_dir}/{orphan_masks[0]}.*; {len(orphan_masks)} such masks)")
    orphan_images = sorted(set(images) - set(masks), key=_natural_key)
    if orphan_images:
        raise FileNotFoundError(f"image without a mask: {images[orphan_images[0]]} (no "
                                f"{mask_dir}/{orphan_images[0]}_mask.*; {len(orphan_images)} such images)")
    return {k: (images[k], masks[k]) for k in sorted(images, key=_natural_key)}


def _read_manifest(path: Path) -> tuple[list[str], Optional[dict[str, str]]]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"manifest {path} has no rows")
    cols = rows[0].keys()
    id_col = next((c for c in ("stem", "id") if c in cols), None)
    if id_col is None:
        raise ValueError(f"manifest {path} needs a 'stem' or 'id' column, has {list(cols)}")
    group_col = next((c for c in ("patient", "group") if c in cols), None)
    ids = [r[id_col] for r in rows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"manifest {path} lists duplicate ids")
    groups = {r[id_col]: r[group_col] for r in rows} if group_col else None
    return ids, groups


def _prepare_image(img: np.ndarray, path: Path, channels: Optional[Sequence[int]],
                   grayscale: bool) -> np.ndarray:
    if channels is not None:
        bad = [c for c in channels if not -img.shape[0] <= c < img.shape[0]]
        if bad:
            raise ValueError(f"{path}: channel(s) {bad} out of range for {img.shape[0]} channels")
        img = img[list(channels)]
    if grayscale and img.shape[0] > 1:
        w = _LUMA if img.shape[0] == 3 else np.full(img.shape[0], 1.0 / img.shape[0], np.float32)
        g = np.tensordot(w, img.astype(np.float32), axes=1)[None]
        if np.issubdtype(img.dtype, np.integer):
            g = np.clip(np.round(g), 0, np.iinfo(img.dtype).max).astype(img.dtype)
        img = g
    return img


def _read_pair(img_path: Path, mask_path: Path, hw, channels, grayscale, mask_threshold):
    """Reads, checks and resizes one pair; returns native-dtype image and uint8 mask."""
    img = read_image_raw(img_path)
    mask = read_mask(mask_path, threshold=mask_threshold)
    if img.shape[1:] != mask.shape[1:]:
        raise ValueError(f"size mismatch: image {img_path} is {img.shape[2]}x{img.shape[1]} "
                         f"but mask {mask_path} is {mask.shape[2]}x{mask.shape[1]}")
    img = _prepare_image(img, img_path, channels, grayscale)
    if hw is not None:
        img, mask = resize_image(img, hw), resize_mask(mask, hw)
    return img, mask


def _cache_path(cache_dir: Path, root: Path, pairs, manifest_path, options: dict) -> Path:
    h = hashlib.sha1()
    h.update(json.dumps({"v": _CACHE_VERSION, "root": str(root), **options}, sort_keys=True).encode())
    files = [p for ab in pairs.values() for p in ab]
    if manifest_path is not None:
        files.append(manifest_path)
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    res = "native" if options["hw"] is None else "x".join(map(str, options["hw"]))
    return cache_dir / f"folder-{root.name}-{res}-{h.hexdigest()[:16]}.npz"


def _save_cache(path: Path, ids: list[str], images: list, masks: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"ids": np.array(ids)}
    for i, (im, m) in enumerate(zip(images, masks)):
        arrays[f"image_{i}"], arrays[f"mask_{i}"] = im, m
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _load_cache(path: Path, ids: list[str]):
    with np.load(path, allow_pickle=False) as z:
        if list(z["ids"]) != ids:
            return None
        return ([z[f"image_{i}"] for i in range(len(ids))], [z[f"mask_{i}"] for i in range(len(ids))])


def load_folder(root: os.PathLike, resolution: Optional[Resolution] = None,
                group_fn: Optional[Callable[[str], str]] = None, grayscale: bool = False,
                mask_threshold: Optional[float] = None, cache_dir: Optional[os.PathLike] = None,
                manifest: Optional[str] = "manifest.csv", channels: Optional[Sequence[int]] = None,
                progress: bool = False) -> list[dict]:
    """Loads a folder of image/mask pairs as records (see :mod:`data_prep.records`).

    Args:
        root: folder with ``images/`` and ``masks/``.
        resolution: target ``H = W`` or ``(H, W)``; images bilinear, masks nearest. ``None``
            keeps the native size.
        group_fn: stem -> patient id. Default: the manifest's ``patient``/``group`` column if
            present, else :func:`lgg_patient_id`. An explicit function overrides the manifest.
        grayscale: average multi-channel images into one channel (luma weights for RGB).
        mask_threshold: binarise masks as ``value > threshold``; without it a non-binary mask
            is an error.
        cache_dir: where to cache the read and resized arrays (``.npz``); ``None``: no cache.
        manifest: manifest file name inside ``root`` (used if it exists); ``None`` ignores it.
        channels: channel indices to keep (applied before ``grayscale``), e.g. ``[1]`` for the
            LGG FLAIR channel.
        progress: show a tqdm bar.

    Returns:
        Records with float32 ``image`` (C, H, W) (uint8 sources scaled to [0, 1]), uint8
        ``mask`` (1, H, W), ``id`` (stem), ``group`` and ``has_tumor``.

    Raises:
        FileNotFoundError: missing folder, ``images/``/``masks/`` dir, a mask without an image or
            an image without a mask, or a manifest id without files (each naming the path).
        ValueError: empty folder, unreadable file, image/mask size mismatch, non-binary mask
            (each naming the file).
    """
    root = Path(root).resolve()
    pairs = _pairs(root)
    manifest_path = root / manifest if manifest else None
    man_groups = None
    if manifest_path is not None and manifest_path.is_file():
        ids, man_groups = _read_manifest(manifest_path)
        missing = [i for i in ids if i not in pairs]
        if missing:
            raise FileNotFoundError(f"manifest {manifest_path} lists {missing[0]!r} but "
                                    f"{root}/images/{missing[0]}.* or its mask is missing "
                                    f"({len(missing)} such ids)")
        extra = len(pairs) - len(ids)
        if extra:
            warnings.warn(f"{root}: {extra} image/mask pairs are not in {manifest_path}; ignored")
        pairs = {i: pairs[i] for i in ids}
    else:
        manifest_path = None
        ids = list(pairs)

    hw = as_hw(resolution)
    options = {"hw": hw, "grayscale": bool(grayscale), "mask_threshold": mask_threshold,
               "channels": None if channels is None else [int(c) for c in channels]}
    cached = cache_file = None
    if cache_dir is not None:
        cache_file = _cache_path(Path(cache_dir), root, pairs, manifest_path, options)
        if cache_file.is_file():
            cached = _load_cache(cache_file, ids)
    if cached is not None:
        images, masks = cached
    else:
        images, masks = [], []
        it = pairs.items()
        if progress:
            from tqdm import tqdm

            it = tqdm(it, total=len(pairs), desc=f"reading {root.name}", unit="pair")
        for _, (ip, mp) in it:
            im, m = _read_pair(ip, mp, hw, options["channels"], grayscale, mask_threshold)
            images.append(im)
            masks.append(m)
        if cache_file is not None:
            _save_cache(cache_file, ids, images, masks)

    if group_fn is None:
        group_fn = (lambda s: man_groups[s]) if man_groups is not None else lgg_patient_id
    return [make_record(to_float(im), m, sid, group_fn(sid)) for sid, im, m in zip(ids, images, masks)]
