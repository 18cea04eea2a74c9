"""Finding image/mask pairs in folders as public datasets ship them.

Two layouts:

* **Two folders** (``images`` and ``masks`` given, or ``root/images`` + ``root/masks``): image
  files anywhere below the image folder, mask files anywhere below the mask folder. A mask is
  looked for in the mirrored sub-folder first (``masks/<sub>/`` for ``images/<sub>/``), then
  anywhere below the mask folder. Examples: Kvasir-SEG (``images/``, ``masks/``, identical
  names), CVC-ClinicDB (``Original/``, ``Ground Truth/``), DRIVE (``images/21_training.tif``,
  ``1st_manual/21_manual1.gif``).
* **One tree** (anything else under ``root``): images and masks side by side in the same
  (patient or class) sub-folder, told apart by the mask naming conventions below. Examples:
  Kaggle LGG ``kaggle_3m/<patient>/<stem>.tif`` + ``<stem>_mask.tif``, BUSI
  ``<class>/<stem>.png`` + ``<stem>_mask.png`` (+ ``<stem>_mask_1.png``), GlaS
  ``<stem>.bmp`` + ``<stem>_anno.bmp``.

Mask naming conventions for an image ``<stem>``, tried in this order (the first that finds a
file wins): ``<stem><suffix>`` for a user ``mask_suffix``; ``<stem>`` (identical name, two
folders only); ``<stem>_mask``; ``<stem>_anno``; ``<stem>_manual1``; then the same suffixes on
the stem without a trailing alphabetic ``_<word>`` (DRIVE: ``21_training`` -> ``21_manual1``,
two folders only). Each suffix convention also takes ``<name>_<n>`` files: several mask files
for one image are all returned (the loader merges them by union).

With two folders and no ``mask_suffix`` given, when those conventions leave an image without
its mask but every mask is ``<image stem><one suffix>`` for one and the same suffix that pairs
every image with exactly one mask (ISIC's ``_segmentation``, say), that suffix is used and
printed (:func:`infer_mask_suffix`).

Hidden files and folders (``.*``) are skipped. Ids are the image stems, or, when two images in
different sub-folders share a stem, their path below the image folder with ``/`` -> ``__``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Optional, Sequence

from .imageio import IMAGE_EXTS

#: Mask name suffixes tried after a user suffix (each also as ``<suffix>_<n>``).
MASK_SUFFIXES = ("_mask", "_anno", "_manual1")
CONVENTIONS_HELP = ("a mask folder with identical names, <stem>_mask, <stem>_anno, "
                    "<stem>_manual1 (each also as <name>_<n>, merged by union), or a suffix given "
                    "with --mask-suffix")


@dataclass
class Pair:
    """One image and its mask files.

    Attributes:
        id: the record id (unique).
        image: the image file.
        masks: its mask files (one or more; merged by union).
        rel: the image's path below the image folder, without extension (for group rules).
    """

    id: str
    image: Path
    masks: list = field(default_factory=list)
    rel: PurePosixPath = PurePosixPath(".")


def _natural_key(s: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


def _files(root: Path) -> list[Path]:
    """Image-like files below ``root`` (recursive, hidden names skipped), natural order."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for f in filenames:
            if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_EXTS:
                out.append(Path(dirpath) / f)
    return sorted(out, key=lambda p: _natural_key(p.relative_to(root).as_posix()))


def _stripped(stem: str) -> Optional[str]:
    m = re.fullmatch(r"(.+)_[A-Za-z]+", stem)
    return m.group(1) if m else None


def _conventions(stem: str, mask_suffix: Optional[str], two_folders: bool) -> list[tuple[str, bool]]:
    """``(mask stem, numbered copies allowed)`` in the order they are tried."""
    suffixes = ([mask_suffix] if mask_suffix else []) + list(MASK_SUFFIXES)
    out = [(stem + mask_suffix, True)] if mask_suffix else []
    if two_folders:
        out.append((stem, False))
    out += [(stem + s, True) for s in MASK_SUFFIXES]
    base = _stripped(stem) if two_folders else None
    if base:
        out += [(base + s, True) for s in suffixes]
    return out


class _Pool:
    """Mask files by stem, and by the name they number (``<name>_<n>`` -> ``<name>``)."""

    def __init__(self, paths: Sequence[Path]):
        self.by_stem: dict[str, list[Path]] = {}
        self.numbered: dict[str, list[Path]] = {}
        for p in paths:
            self.by_stem.setdefault(p.stem, []).append(p)
            m = re.fullmatch(r"(.+)_\d+", p.stem)
            if m:
                self.numbered.setdefault(m.group(1), []).append(p)

    def match(self, name: str, numbered: bool) -> list[Path]:
        return self.by_stem.get(name, []) + (self.numbered.get(name, []) if numbered else [])


def _find_masks(img: Path, pools: Sequence[_Pool], mask_suffix: Optional[str],
                two_folders: bool, where: str) -> list[Path]:
    """The first convention's mask files found in the first pool that has any."""
    tried = []
    for name, numbered in _conventions(img.stem, mask_suffix, two_folders):
        tried.append(name + ".*" + (f" (and {name}_<n>.*)" if numbered else ""))
        for k, pool in enumerate(pools):
            hits = pool.match(name, numbered)
            if len({h.parent for h in hits}) > 1:
                raise ValueError(f"ambiguous masks for image {img}: {', '.join(map(str, hits))} "
                                 "match in different folders; give the two folders explicitly")
            if hits:
                return sorted(hits, key=lambda p: _natural_key(p.name))
    raise FileNotFoundError(f"image without a mask: {img}: tried {'; '.join(tried)} in {where}. "
                            f"Conventions: {CONVENTIONS_HELP}")


def _all_paired(images: Sequence[Path], pool: _Pool) -> bool:
    """Whether the built-in conventions find a mask for every image (two folders)."""
    for img in images:
        if not any(pool.match(n, numbered) for n, numbered in _conventions(img.stem, None, True)):
            return False
    return True


def infer_mask_suffix(images: Sequence[Path], masks: Sequence[Path]) -> Optional[str]:
    """The one non-empty suffix ``s`` such that the mask stems are exactly ``{image stem + s}``
    (one mask per image, every image paired); None when there is no such suffix."""
    stems = {p.stem for p in images}
    if not masks or len(masks) != len(stems) or len(stems) != len(images):
        return None
    common: Optional[set] = None
    for m in masks:
        cands = {m.stem[i:] for i in range(1, len(m.stem)) if m.stem[:i] in stems}
        common = cands if common is None else common & cands
        if not common:
            return None
    for suffix in sorted(common, key=len):
        if {m.stem[:-len(suffix)] for m in masks} == stems:
            return suffix
    return None


def _suffix_hint(images: Sequence[Path], masks: Sequence[Path]) -> str:
    """When most masks share one suffix that does not pair every image: which images lack it."""
    stems = {p.stem for p in images}
    counts: dict[str, int] = {}
    for m in masks:
        for s in {m.stem[i:] for i in range(1, len(m.stem)) if m.stem[:i] in stems}:
            counts[s] = counts.get(s, 0) + 1
    if not counts:
        return ""
    suffix = max(sorted(counts), key=lambda s: (counts[s], -len(s)))
    paired = {m.stem[:-len(suffix)] for m in masks if m.stem.endswith(suffix)} & stems
    lacking = sorted(stems - paired, key=_natural_key)
    return (f". Note: {counts[suffix]} of {len(masks)} masks are <image stem>{suffix}, but "
            f"{len(lacking)} image(s) have no such mask (e.g. {lacking[0] if lacking else '-'}); "
            f"give --mask-suffix {suffix} once every image has one")


def _ids(images: Sequence[Path], root: Path) -> list[str]:
    counts: dict[str, int] = {}
    for p in images:
        counts[p.stem] = counts.get(p.stem, 0) + 1
    return [p.stem if counts[p.stem] == 1 else
            p.relative_to(root).with_suffix("").as_posix().replace("/", "__") for p in images]


def _check_dir(d: Path, what: str) -> Path:
    if not d.is_dir():
        raise FileNotFoundError(f"{what} not found: {d}")
    return d.resolve()


def discover(root: Optional[os.PathLike] = None, images: Optional[os.PathLike] = None,
             masks: Optional[os.PathLike] = None, mask_suffix: Optional[str] = None
             ) -> tuple[Path, list[Pair]]:
    """Finds the image/mask pairs (see the module docstring).

    Args:
        root: dataset folder (one tree, or holding ``images/`` and ``masks/``).
        images, masks: the two folders, given explicitly (both or neither).
        mask_suffix: an extra mask name suffix, tried first (e.g. ``"_segmentation"``).

    Returns:
        ``(base, pairs)``: ``base`` is the folder the pairs' paths are reported relative to
        (``root``, or the common parent of the two folders); pairs in natural path order.

    Raises:
        FileNotFoundError: a missing folder, an image without a mask (listing the conventions
            tried) or a mask without an image (two folders; naming the file).
        ValueError: bad arguments, an empty folder, or masks of one image in several folders.
    """
    if (images is None) != (masks is None):
        raise ValueError("give both images and masks folders, or neither")
    if images is not None:
        img_root, mask_root = _check_dir(Path(images), "image folder"), _check_dir(Path(masks), "mask folder")
        base = Path(os.path.commonpath([img_root, mask_root]))
    else:
        if root is None:
            raise ValueError("give a dataset folder (root) or the images and masks folders")
        base = _check_dir(Path(root), "dataset folder")
        img_root, mask_root = base / "images", base / "masks"
        if not (img_root.is_dir() and mask_root.is_dir()):
            img_root = mask_root = base
    two = img_root != mask_root
    if two:
        img_files, mask_files = _files(img_root), _files(mask_root)
        if not img_files:
            raise ValueError(f"empty dataset folder {base}: no image files in {img_root}")
        everywhere = _Pool(mask_files)
        by_dir: dict[Path, list[Path]] = {}
        for m in mask_files:
            by_dir.setdefault(m.parent, []).append(m)
        hint = ""
        if mask_suffix is None and not _all_paired(img_files, everywhere):
            mask_suffix = infer_mask_suffix(img_files, mask_files)
            if mask_suffix is not None:
                print(f"data_prep: every mask in {mask_root} is <image stem>{mask_suffix}: "
                      f"pairing by that suffix (give --mask-suffix to choose another)")
            else:
                hint = _suffix_hint(img_files, mask_files)
        local_of: dict[Path, _Pool] = {}
        pairs, used = [], {}
        for img in img_files:
            mdir = mask_root / img.parent.relative_to(img_root)
            if mdir not in local_of:
                local_of[mdir] = _Pool(by_dir.get(mdir, []))
            try:
                ms = _find_masks(img, (local_of[mdir], everywhere), mask_suffix, True,
                                 f"{mdir} and below {mask_root}")
            except FileNotFoundError as e:
                raise FileNotFoundError(f"{e}{hint}") from None
            for m in ms:
                if m in used:
                    raise ValueError(f"mask {m} matches two images, {used[m]} and {img}; rename "
                                     "the files or give --mask-suffix")
                used[m] = img
            pairs.append(Pair("", img, ms, img.relative_to(img_root).with_suffix("")))
        orphans = [m for m in mask_files if m not in used]
        if orphans:
            raise FileNotFoundError(f"mask without an image: {orphans[0]} (no image in {img_root} "
                                    f"matches it; {len(orphans)} such masks). Conventions: "
                                    f"{CONVENTIONS_HELP}")
    else:
        files = _files(base)
        if not files:
            raise ValueError(f"empty dataset folder {base}: no image files below it")
        suffixes = ([mask_suffix] if mask_suffix else []) + list(MASK_SUFFIXES)
        mask_re = re.compile("(.+)(?:" + "|".join(re.escape(x) for x in suffixes) + r")(?:_\d+)?")
        by_dir = {}
        for f in files:
            by_dir.setdefault(f.parent, []).append(f)
        pairs = []
        for d, fs in by_dir.items():
            stems = {f.stem for f in fs}
            masks_here = []
            for f in fs:
                m = mask_re.fullmatch(f.stem)
                if m is None:
                    continue
                if m.group(1) not in stems:
                    raise FileNotFoundError(
                        f"mask without an image: {f} (no {m.group(1)}.* beside it). Conventions: "
                        f"{CONVENTIONS_HELP}. If this tree keeps images and masks in separate "
                        f"folders under other names (e.g. DRIVE's images/ and 1st_manual/), give "
                        f"them explicitly: images=..., masks=... (CLI --images DIR --masks DIR)")
                masks_here.append(f)
            pool, is_mask = _Pool(masks_here), set(masks_here)
            for img in (f for f in fs if f not in is_mask):
                ms = _find_masks(img, (pool,), mask_suffix, False, str(d))
                pairs.append(Pair("", img, ms, img.relative_to(base).with_suffix("")))
        order = {f: i for i, f in enumerate(files)}
        pairs.sort(key=lambda p: order[p.image])
        if not pairs:
            raise ValueError(f"empty dataset folder {base}: only mask files below it")
    for p, i in zip(pairs, _ids([p.image for p in pairs], img_root)):
        p.id = i
    return base, pairs
