"""The common in-memory format of every segmentation dataset, and the prepared-folder layout.

A dataset is a ``list[dict]``; each record holds

* ``"image"``: ``np.ndarray`` float32 ``(C, H, W)``; integer sources are scaled to ``[0, 1]``
  by their dtype maximum, float sources are kept raw,
* ``"mask"``: ``np.ndarray`` uint8 ``(1, H, W)`` with values in ``{0, 1}``,
* ``"id"``: a unique stem (str), ``"group"``: the patient id used for splits (str),
* ``"has_tumor"``: bool (``mask.any()``),
* optional extras, e.g. ``"synthetic": True``; records read from files also carry
  ``"source"`` (the image file) and ``"mask_sources"`` (the mask files, merged by union when
  there are several), written to the prepared manifest as ``source``, ``mask_sources``
  (``;``-separated) and ``n_mask_files``.

:func:`to_monai` renames ``mask`` to ``label`` so MONAI dictionary transforms can be applied.

A prepared folder (written by :func:`write_prepared`, read by :func:`load_prepared`) is::

    out/images/<id>.png | <id>.npy   image, PNG when lossless at 8 bit with 1 or 3 channels
    out/masks/<id>_mask.png          mask, L mode, 0/255
    out/manifest.csv                 id, group, has_tumor, synthetic, image, mask, source,
                                     mask_sources, n_mask_files
    out/prepared.json                source, label, counts, config and provenance
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np

from ._files import atomic_write_bytes, atomic_write_text, provenance
from .imageio import as_hw, read_image, read_mask, resize_image, resize_mask

MANIFEST_COLUMNS = ("id", "group", "has_tumor", "synthetic", "image", "mask", "source",
                    "mask_sources", "n_mask_files")
IMAGE_FORMATS = ("auto", "png", "npy")


def make_record(image: np.ndarray, mask: np.ndarray, id: str, group: str, **extra: Any) -> dict:
    """Builds and validates one record (see the module docstring for the format).

    Args:
        image: ``(C, H, W)`` or ``(H, W)`` array; converted to float32 without rescaling.
        mask: ``(1, H, W)`` or ``(H, W)`` array with values in ``{0, 1}``.
        id: unique record id (file stem).
        group: patient id.
        **extra: extra keys stored as is.

    Raises:
        ValueError: on a wrong shape, size mismatch or non-binary mask (naming ``id``).
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[None]
    mask = np.asarray(mask)
    if mask.ndim == 2:
        mask = mask[None]
    if image.ndim != 3 or mask.ndim != 3 or mask.shape[0] != 1:
        raise ValueError(f"record {id!r}: image must be (C,H,W) and mask (1,H,W), "
                         f"got {image.shape} and {mask.shape}")
    if image.shape[1:] != mask.shape[1:]:
        raise ValueError(f"record {id!r}: image size {image.shape[1:]} != mask size {mask.shape[1:]}")
    if mask.size and (mask.max() > 1 or mask.min() < 0):
        raise ValueError(f"record {id!r}: mask is not binary (values {np.unique(mask)[:8].tolist()})")
    mask = mask.astype(np.uint8, copy=False)
    return {"image": image, "mask": mask, "id": str(id), "group": str(group),
            "has_tumor": bool(mask.any()), **extra}


def to_monai(records: Iterable[Mapping]) -> list[dict]:
    """Records as MONAI dictionaries: ``image``, ``label`` (the mask), ``id``, ``group``."""
    return [{"image": r["image"], "label": r["mask"], "id": r["id"], "group": r["group"]}
            for r in records]


def _png_bytes(arr_hwc_or_hw: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr_hwc_or_hw).save(buf, format="PNG")
    return buf.getvalue()


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _png_lossless(image: np.ndarray) -> bool:
    if image.shape[0] not in (1, 3) or image.min() < 0 or image.max() > 1:
        return False
    scaled = image * 255.0
    return bool(np.all(np.abs(scaled - np.round(scaled)) < 1e-3))


def check_out_dir(out_dir: os.PathLike, sources: Sequence[os.PathLike]) -> None:
    """Refuses an output folder equal to, inside or containing a source folder.

    Raises:
        FileExistsError: naming both folders.
    """
    out = Path(out_dir).resolve()
    for src in sources:
        if src is None:
            continue
        s = Path(src).resolve()
        how = ("is" if out == s else "is inside" if s in out.parents else
               "contains" if out in s.parents else None)
        if how:
            raise FileExistsError(f"output folder {out} {how} the source folder {s}; refusing "
                                  "to write there (it would replace your data): choose another --out")


#: The top-level entries of a folder written by :class:`PreparedWriter`.
PREPARED_ENTRIES = frozenset({"images", "masks", "manifest.csv", "prepared.json"})


def is_prepared_folder(path: os.PathLike) -> bool:
    """Whether ``path`` is a folder written by data_prep (safe to replace): it holds
    ``prepared.json`` and ``manifest.csv`` and nothing outside :data:`PREPARED_ENTRIES`."""
    p = Path(path)
    if not ((p / "prepared.json").is_file() and (p / "manifest.csv").is_file()):
        return False
    return {e.name for e in p.iterdir()} <= PREPARED_ENTRIES


class PreparedWriter:
    """Writes records into a prepared folder, one by one, then swaps it into place.

    Files go to a hidden sibling ``.<name>.partial-<pid>`` folder; :meth:`close` writes the
    manifest and ``prepared.json`` and renames the folder to ``out_dir``. An existing
    ``out_dir`` is replaced only if it is empty or a folder written by this class
    (:func:`is_prepared_folder`: ``prepared.json`` and ``manifest.csv`` present and nothing but
    :data:`PREPARED_ENTRIES`), never a user's folder that merely holds a ``manifest.csv``.

    Args:
        out_dir: destination folder.
        image_format: ``"png"``, ``"npy"`` or ``"auto"`` (PNG when 8-bit lossless, else NPY).
        meta: extra JSON-able information for ``prepared.json`` (``source``, ``label``, ...).
        protect: the source folders; ``out_dir`` equal to one of them, inside one or
            containing one is refused, so the user's data are never replaced.

    Raises:
        FileExistsError: ``out_dir`` is a non-empty folder that is not a prepared folder, or
            it overlaps a ``protect`` folder (naming both).
    """

    def __init__(self, out_dir: os.PathLike, image_format: str = "auto",
                 meta: Optional[Mapping[str, Any]] = None,
                 protect: Sequence[os.PathLike] = ()):
        if image_format not in IMAGE_FORMATS:
            raise ValueError(f"image_format must be one of {IMAGE_FORMATS}, got {image_format!r}")
        self.out_dir = Path(out_dir).resolve()
        check_out_dir(self.out_dir, protect)
        if self.out_dir.exists() and any(self.out_dir.iterdir()) \
                and not is_prepared_folder(self.out_dir):
            raise FileExistsError(
                f"{self.out_dir} exists, is not empty and is not a folder written by data_prep "
                f"(that holds only {sorted(PREPARED_ENTRIES)}, with prepared.json); refusing to "
                "overwrite it: choose an empty or new --out")
        self.image_format = image_format
        self.meta = dict(meta or {})
        self.tmp = self.out_dir.parent / f".{self.out_dir.name}.partial-{os.getpid()}"
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        (self.tmp / "images").mkdir(parents=True)
        (self.tmp / "masks").mkdir(parents=True)
        self.rows: list[dict] = []
        self._ids: set[str] = set()
        self._channels: tuple = (0, "")  # (channel count, id) of the first record

    def add(self, record: Mapping) -> dict:
        """Writes one record's files; returns its manifest row.

        Raises:
            ValueError: on a duplicate or invalid id, or an image whose channel count differs
                from the first record's (naming both records).
        """
        rid = str(record["id"])
        if rid in self._ids:
            raise ValueError(f"duplicate record id {rid!r} while writing {self.out_dir}")
        if any(c in rid for c in "/\\") or rid.startswith("."):
            raise ValueError(f"record id {rid!r} is not a valid file stem")
        image = np.asarray(record["image"], dtype=np.float32)
        if image.ndim == 2:  # (H, W): one channel, as make_record and load_prepared take it
            image = image[None]
        mask = np.asarray(record["mask"]).astype(np.uint8)
        if mask.ndim == 2:
            mask = mask[None]
        if not self.rows:
            self._channels = (image.shape[0], rid)
        elif image.shape[0] != self._channels[0]:
            raise ValueError(
                f"record {rid!r} has {image.shape[0]} channel(s) but record "
                f"{self._channels[1]!r} has {self._channels[0]} while writing {self.out_dir}: a "
                "prepared folder holds one channel count (a network takes one); convert the "
                "images first (e.g. data_prep folder --grayscale)")
        self._ids.add(rid)
        fmt = self.image_format
        if fmt == "auto":
            fmt = "png" if _png_lossless(image) else "npy"
        if fmt == "png":
            if image.shape[0] not in (1, 3):
                raise ValueError(f"record {rid!r}: PNG needs 1 or 3 channels, got {image.shape[0]}")
            u8 = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
            data = _png_bytes(u8[0] if u8.shape[0] == 1 else np.moveaxis(u8, 0, -1))
        else:
            data = _npy_bytes(image)
        img_rel = f"images/{rid}.{fmt}"
        mask_rel = f"masks/{rid}_mask.png"
        atomic_write_bytes(self.tmp / img_rel, data)
        atomic_write_bytes(self.tmp / mask_rel, _png_bytes(mask[0] * np.uint8(255)))
        mask_sources = [str(m) for m in record.get("mask_sources", ())]
        row = {"id": rid, "group": str(record["group"]), "has_tumor": int(mask.any()),
               "synthetic": int(bool(record.get("synthetic", False))),
               "image": img_rel, "mask": mask_rel, "source": str(record.get("source", "")),
               "mask_sources": ";".join(mask_sources), "n_mask_files": len(mask_sources)}
        self.rows.append(row)
        return row

    def close(self) -> Path:
        """Writes ``manifest.csv`` and ``prepared.json`` and moves the folder into place."""
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(self.rows)
        atomic_write_text(self.tmp / "manifest.csv", buf.getvalue())
        info = {
            "n_records": len(self.rows),
            "n_groups": len({r["group"] for r in self.rows}),
            "n_with_tumor": sum(r["has_tumor"] for r in self.rows),
            "synthetic": any(r["synthetic"] for r in self.rows),
            "n_merged_masks": sum(r["n_mask_files"] > 1 for r in self.rows),
            **self.meta,
            "provenance": provenance(self.meta.get("config"), self.meta.get("seed")),
        }
        if info["n_merged_masks"]:
            info["mask_merge"] = ("records with several mask files have their union as mask "
                                  "(see manifest.csv: mask_sources, n_mask_files)")
        atomic_write_text(self.tmp / "prepared.json", json.dumps(info, indent=2, sort_keys=True,
                                                                 default=str) + "\n")
        old = None
        if self.out_dir.exists():
            old = self.out_dir.parent / f".{self.out_dir.name}.old-{os.getpid()}"
            os.replace(self.out_dir, old)
        os.replace(self.tmp, self.out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.out_dir

    def abort(self) -> None:
        """Removes the partial folder."""
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> "PreparedWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_prepared(records: Iterable[Mapping], out_dir: os.PathLike, image_format: str = "auto",
                   meta: Optional[Mapping[str, Any]] = None, progress: bool = False,
                   protect: Sequence[os.PathLike] = ()) -> Path:
    """Writes ``records`` as a prepared folder (see the module docstring); returns its path.

    ``protect``: source folders ``out_dir`` must not overlap (see :class:`PreparedWriter`).
    """
    if progress:
        from tqdm import tqdm

        records = tqdm(records, desc=f"writing {Path(out_dir).name}", unit="img")
    with PreparedWriter(out_dir, image_format=image_format, meta=meta, protect=protect) as w:
        for r in records:
            w.add(r)
    return Path(out_dir).resolve()


def prepared_info(prepared_dir: os.PathLike) -> dict:
    """The ``prepared.json`` of a prepared folder (``{}`` when absent)."""
    p = Path(prepared_dir) / "prepared.json"
    return json.loads(p.read_text()) if p.is_file() else {}


def load_prepared(prepared_dir: os.PathLike, ids: Optional[Sequence[str]] = None,
                  resolution=None) -> list[dict]:
    """Reads a prepared folder written by :func:`write_prepared`.

    Args:
        prepared_dir: the folder holding ``manifest.csv``.
        ids: optional subset of record ids to load (manifest order is kept).
        resolution: resize each record as it is read to ``H = W`` or ``(H, W)`` (bilinear
            image, nearest mask); ``None`` keeps the stored size.

    Raises:
        FileNotFoundError: if the folder, its manifest or a listed file is missing.
        ValueError: on a malformed manifest or file (naming it), or when the loaded images
            have different channel counts (naming the manifest and a file of each count).
    """
    hw = as_hw(resolution)
    root = Path(prepared_dir)
    man = root / "manifest.csv"
    if not man.is_file():
        raise FileNotFoundError(f"no manifest.csv in prepared folder {root}")
    with open(man, newline="") as f:
        rows = list(csv.DictReader(f))
    missing = [c for c in ("id", "group", "image", "mask") if rows and c not in rows[0]]
    if missing:
        raise ValueError(f"{man}: missing columns {missing}")
    wanted = None if ids is None else set(ids)
    out = []
    counts: dict = {}  # channel count -> an image file that has it
    for row in rows:
        if wanted is not None and row["id"] not in wanted:
            continue
        image = read_image(root / row["image"])
        mask = read_mask(root / row["mask"])
        if hw is not None and image.shape[1:] == mask.shape[1:]:
            image, mask = resize_image(image, hw), resize_mask(mask, hw)
        extra = {"synthetic": True} if str(row.get("synthetic", "0")) in ("1", "True", "true") else {}
        try:
            out.append(make_record(image, mask, row["id"], row["group"], **extra))
        except ValueError as e:
            raise ValueError(f"{root / row['image']}: {e}") from None
        counts.setdefault(out[-1]["image"].shape[0], row["image"])
    if len(counts) > 1:
        desc = "; ".join(f"{n} channel(s), e.g. {root / f}" for n, f in sorted(counts.items()))
        raise ValueError(f"{man}: the images have different channel counts ({desc}); a network "
                         "takes one. Re-prepare the data (data_prep folder --grayscale or "
                         "--channels) so that every image has the same channels")
    return out
