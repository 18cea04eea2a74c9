"""A folder of image/mask pairs as public datasets ship them (e.g. ``lgg_mri_kaggle3m``,
Kaggle LGG ``kaggle_3m``, BUSI, Kvasir-SEG, GlaS, DRIVE).

Pairs are found by :mod:`data_prep.discover` (recursive; two folders or one tree; mask naming
conventions; several masks per image merged by union). An optional ``manifest.csv`` in the
dataset folder (columns ``stem`` or ``id``, and optionally ``patient`` or ``group``) gives the
ids (in its order) and the groups.

**Groups** (the patients of the train/val/test split) come from, in this order: an explicit
``groups`` rule (a :data:`GROUP_RULES` name or a function of the id) or ``group_regex``; the
manifest's ``patient``/``group`` column; else one group per image (``"image"``), which never
leaks slices of one patient across the split only if each image is its own patient: give a rule
when it is not. Resized arrays can be cached as ``.npz`` in ``cache_dir``; the cache key covers
the options and every file's size and mtime, so edits invalidate it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import warnings
from pathlib import Path, PurePosixPath
from typing import Callable, Optional, Sequence, Union

import numpy as np

from ._files import atomic_write_bytes
from .discover import discover
from .imageio import Resolution, as_hw, read_image_raw, read_mask, resize_image, resize_mask, to_float
from .records import make_record

_CACHE_VERSION = 2
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _same_channels(base: Path, ids, images, pairs) -> None:
    """Raises ValueError naming example files when the images have different channel counts
    (e.g. grey and RGB PNGs mixed, as some public datasets ship them): a network takes one."""
    by_n: dict = {}
    for sid, im in zip(ids, images):
        by_n.setdefault(int(im.shape[0]), []).append(sid)
    if len(by_n) > 1:
        desc = "; ".join(f"{n} channel(s): {len(v)} image(s), e.g. {pairs[v[0]].image}"
                         for n, v in sorted(by_n.items()))
        raise ValueError(f"{base}: the images have different channel counts ({desc}). Pass "
                         "grayscale=True (CLI --grayscale) to turn every image into one grey "
                         "channel (an RGB file with equal channels keeps its grey values)")


def lgg_patient_id(stem: str) -> str:
    """The patient id of an LGG slice stem: the stem without its trailing ``_<slice>`` number.

    ``"TCGA_CS_4941_19960909_11" -> "TCGA_CS_4941_19960909"``; a stem without a trailing number
    is its own group.
    """
    return re.sub(r"_\d+$", "", stem) or stem


def _folder_group(id: str, rel: PurePosixPath) -> str:
    return rel.parent.as_posix() if rel.parent != PurePosixPath(".") else id


#: Named group rules ``(id, path below the image folder without extension) -> group``:
#: ``image`` (one group per image, the default), ``folder`` (the sub-folder holding the image,
#: e.g. Kaggle LGG's patient folders; images at the top level are their own group) and
#: ``lgg`` (:func:`lgg_patient_id` of the id). Register a dataset's rule here by name.
GROUP_RULES: dict[str, Callable[[str, PurePosixPath], str]] = {
    "image": lambda id, rel: id,
    "folder": _folder_group,
    "lgg": lambda id, rel: lgg_patient_id(id),
}


def _regex_rule(pattern: str) -> Callable[[str, PurePosixPath], str]:
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise ValueError(f"bad group regex {pattern!r}: {e}") from None

    def rule(id: str, rel: PurePosixPath) -> str:
        m = rx.search(rel.as_posix())
        if m is None:
            raise ValueError(f"group regex {pattern!r} does not match {rel.as_posix()!r} "
                             f"(record {id!r})")
        return next((g for g in m.groups() if g is not None), m.group(0))

    return rule


def group_rule(groups: Union[None, str, Callable[[str], str]] = None,
               group_regex: Optional[str] = None) -> Optional[Callable[[str, PurePosixPath], str]]:
    """The ``(id, rel) -> group`` function for a rule name, a function of the id or a regex.

    ``group_regex`` is searched in the image's path below the image folder (``/``-separated,
    no extension); the group is its first capture group, else the whole match.

    Raises:
        ValueError: both given, or an unknown rule name (listing the known ones).
    """
    if groups is not None and group_regex is not None:
        raise ValueError("give a group rule or a group regex, not both")
    if group_regex is not None:
        return _regex_rule(group_regex)
    if groups is None:
        return None
    if callable(groups):
        return lambda id, rel: str(groups(id))
    if groups not in GROUP_RULES:
        raise ValueError(f"unknown group rule {groups!r}; known: {', '.join(GROUP_RULES)}")
    return GROUP_RULES[groups]


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


def _read_pair(img_path: Path, mask_paths: Sequence[Path], hw, channels, grayscale,
               mask_threshold):
    """Reads, checks and resizes one image and its masks (merged by union); returns the
    native-dtype image and a uint8 mask."""
    img = read_image_raw(img_path)
    mask = None
    for mp in mask_paths:
        m = read_mask(mp, threshold=mask_threshold)
        if img.shape[1:] != m.shape[1:]:
            raise ValueError(f"size mismatch: image {img_path} is {img.shape[2]}x{img.shape[1]} "
                             f"but mask {mp} is {m.shape[2]}x{m.shape[1]}")
        mask = m if mask is None else np.maximum(mask, m)
    img = _prepare_image(img, img_path, channels, grayscale)
    if hw is not None:
        img, mask = resize_image(img, hw), resize_mask(mask, hw)
    return img, mask


def _cache_path(cache_dir: Path, base: Path, pairs, manifest_path, options: dict) -> Path:
    h = hashlib.sha1()
    h.update(json.dumps({"v": _CACHE_VERSION, "root": str(base), **options}, sort_keys=True).encode())
    files = [f for p in pairs for f in (p.image, *p.masks)]
    if manifest_path is not None:
        files.append(manifest_path)
    for p in files:
        st = p.stat()
        h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    res = "native" if options["hw"] is None else "x".join(map(str, options["hw"]))
    return cache_dir / f"folder-{base.name}-{res}-{h.hexdigest()[:16]}.npz"


def _save_cache(path: Path, ids: list[str], images: list, masks: list) -> None:
    arrays = {"ids": np.array(ids)}
    for i, (im, m) in enumerate(zip(images, masks)):
        arrays[f"image_{i}"], arrays[f"mask_{i}"] = im, m
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _load_cache(path: Path, ids: list[str]):
    with np.load(path, allow_pickle=False) as z:
        if list(z["ids"]) != ids:
            return None
        return ([z[f"image_{i}"] for i in range(len(ids))], [z[f"mask_{i}"] for i in range(len(ids))])


def load_folder(root: Optional[os.PathLike] = None, resolution: Optional[Resolution] = None,
                groups: Union[None, str, Callable[[str], str]] = None, grayscale: bool = False,
                mask_threshold: Optional[float] = None, cache_dir: Optional[os.PathLike] = None,
                manifest: Optional[str] = "manifest.csv", channels: Optional[Sequence[int]] = None,
                progress: bool = False, images: Optional[os.PathLike] = None,
                masks: Optional[os.PathLike] = None, mask_suffix: Optional[str] = None,
                group_regex: Optional[str] = None, verbose: bool = False) -> list[dict]:
    """Loads a folder of image/mask pairs as records (see :mod:`data_prep.records`).

    Args:
        root: the dataset folder: one tree, or holding ``images/`` and ``masks/`` (see
            :mod:`data_prep.discover`); may be ``None`` when ``images`` and ``masks`` are given.
        resolution: target ``H = W`` or ``(H, W)``; images bilinear, masks nearest. ``None``
            keeps the native size.
        groups: the group rule: a :data:`GROUP_RULES` name (``"image"``, ``"folder"``,
            ``"lgg"``) or a function id -> group. Default: the manifest's ``patient``/``group``
            column if present, else ``"image"`` (one group per image).
        grayscale: average multi-channel images into one channel (luma weights for RGB).
        mask_threshold: binarise masks as ``value > threshold``; without it a non-binary mask
            is an error.
        cache_dir: where to cache the read and resized arrays (``.npz``); ``None``: no cache.
        manifest: manifest file name inside ``root`` (used if it exists); ``None`` ignores it.
        channels: channel indices to keep (applied before ``grayscale``), e.g. ``[1]`` for the
            LGG FLAIR channel.
        progress: show a tqdm bar.
        images, masks: the image and mask folders, given explicitly (both or neither).
        mask_suffix: an extra mask name suffix, tried before the built-in conventions.
        group_regex: group = this regex's first capture group (else its match) in the image
            path below the image folder (e.g. ``"^([^/]+)/"``: the first sub-folder).
        verbose: print a one-line summary (images, merged masks, groups and their rule).

    Returns:
        Records with float32 ``image`` (C, H, W) (integer sources divided by their dtype's
        maximum: uint8 by 255, uint16 by 65535, so unsigned ones land in [0, 1]), uint8
        ``mask`` (1, H, W) (the union of the image's mask files), ``id``, ``group``,
        ``has_tumor``, ``source`` and ``mask_sources`` (paths relative to the dataset folder).

    Raises:
        FileNotFoundError: missing folder, a mask without an image or an image without a mask
            (listing the conventions tried), or a manifest id without files (naming the path).
        ValueError: empty folder, unreadable file, image/mask size mismatch, non-binary mask,
            bad group rule or a regex that does not match (each naming the file or record),
            images with different channel counts (naming an example of each; use
            ``grayscale``).
    """
    rule = group_rule(groups, group_regex)
    base, found = discover(root, images, masks, mask_suffix)
    pairs = {p.id: p for p in found}
    manifest_path = Path(root).resolve() / manifest if (manifest and root is not None) else None
    man_groups = None
    if manifest_path is not None and manifest_path.is_file():
        ids, man_groups = _read_manifest(manifest_path)
        missing = [i for i in ids if i not in pairs]
        if missing:
            raise FileNotFoundError(f"manifest {manifest_path} lists {missing[0]!r} but "
                                    f"{base}/images/{missing[0]}.* or its mask is missing "
                                    f"({len(missing)} such ids)")
        extra = len(pairs) - len(ids)
        if extra:
            warnings.warn(f"{base}: {extra} image/mask pairs are not in {manifest_path}; ignored")
        pairs = {i: pairs[i] for i in ids}
    else:
        manifest_path = None
        ids = list(pairs)

    hw = as_hw(resolution)
    options = {"hw": hw, "grayscale": bool(grayscale), "mask_threshold": mask_threshold,
               "channels": None if channels is None else [int(c) for c in channels]}
    cached = cache_file = None
    if cache_dir is not None:
        cache_file = _cache_path(Path(cache_dir), base, pairs.values(), manifest_path, options)
        if cache_file.is_file():
            cached = _load_cache(cache_file, ids)
    if cached is not None:
        images_, masks_ = cached
    else:
        images_, masks_ = [], []
        it = pairs.values()
        if progress:
            from tqdm import tqdm

            it = tqdm(it, total=len(pairs), desc=f"reading {base.name}", unit="image")
        for p in it:
            im, m = _read_pair(p.image, p.masks, hw, options["channels"], grayscale, mask_threshold)
            images_.append(im)
            masks_.append(m)
        if cache_file is not None:
            _save_cache(cache_file, ids, images_, masks_)

    _same_channels(base, ids, images_, pairs)
    if rule is None and man_groups is not None:
        how = f"the {manifest_path.name} group column"
        rule = lambda id, rel: man_groups[id]  # noqa: E731
    elif rule is None:
        how, rule = "one group per image (give a group rule or regex for patients)", GROUP_RULES["image"]
    else:
        how = f"rule {group_regex or groups!r}"
    out = []
    for sid, im, m in zip(ids, images_, masks_):
        p = pairs[sid]
        out.append(make_record(to_float(im), m, sid, rule(sid, p.rel),
                               source=p.image.relative_to(base).as_posix(),
                               mask_sources=[q.relative_to(base).as_posix() for q in p.masks]))
    if verbose:
        n_merged = sum(len(pairs[i].masks) > 1 for i in ids)
        print(f"{base}: {len(out)} images with masks"
              + (f" ({n_merged} with several mask files, merged by union)" if n_merged else "")
              + f"; {len({r['group'] for r in out})} groups from {how}")
    return out
