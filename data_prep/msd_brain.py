"""Medical Segmentation Decathlon Task01 BrainTumour -> 2D axial slices with a whole-tumour mask.

Layout of ``task_dir`` (as extracted by :func:`download`)::

    Task01_BrainTumour/dataset.json   "modality": {"0": "FLAIR", ...}, "training": [{image, label}]
    Task01_BrainTumour/imagesTr/BRATS_001.nii.gz   (X, Y, Z, 4) float
    Task01_BrainTumour/labelsTr/BRATS_001.nii.gz   (X, Y, Z) 0 background, 1 oedema,
                                                   2 non-enhancing tumour, 3 enhancing tumour

The whole-tumour mask is ``label > 0``. Each chosen channel is scaled per volume to [0, 1] by
percentiles of its non-zero (brain) voxels. A slice ``vol[:, :, z]`` is stored transposed as
``(H=Y, W=X)``; its id is ``<case>_<z:03d>`` and its group the case id.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from .imageio import Resolution, as_hw, resize_image, resize_mask
from .records import PreparedWriter, make_record

TASK = "Task01_BrainTumour"
SOURCE_LABEL = "MSD Task01 BrainTumour (BraTS 2016/17), whole-tumour masks, CC-BY-SA 4.0"


def resource() -> tuple[str, str]:
    """The official (URL, MD5) of Task01, taken from MONAI's ``DecathlonDataset``."""
    from monai.apps.datasets import DecathlonDataset  # lazy: monai is slow to import

    return DecathlonDataset.resource[TASK], DecathlonDataset.md5[TASK]


def download(root: os.PathLike, progress: bool = True) -> Path:
    """Downloads and extracts Task01 into ``root`` with MONAI (MD5-checked); returns the task dir.

    Skips the download when ``root/Task01_BrainTumour/dataset.json`` already exists.
    """
    root = Path(root)
    task_dir = root / TASK
    if (task_dir / "dataset.json").is_file():
        return task_dir
    from monai.apps import download_and_extract

    url, md5 = resource()
    root.mkdir(parents=True, exist_ok=True)
    download_and_extract(url=url, filepath=root / f"{TASK}.tar", output_dir=root, hash_val=md5,
                         hash_type="md5", progress=progress)
    if not (task_dir / "dataset.json").is_file():
        raise FileNotFoundError(f"download finished but {task_dir / 'dataset.json'} is missing")
    return task_dir


def _cases(task_dir: Path) -> tuple[list[tuple[str, Path, Path]], dict[int, str]]:
    meta_path = task_dir / "dataset.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"no dataset.json in {task_dir} (expected the {TASK} layout)")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"unreadable file {meta_path}: {e}") from None
    modality = {int(k): str(v) for k, v in meta.get("modality", {}).items()}
    entries = meta.get("training")
    if not entries:  # fall back to the folder (ignoring macOS "._" files shipped in the tar)
        entries = [{"image": f"imagesTr/{p.name}", "label": f"labelsTr/{p.name}"}
                   for p in sorted((task_dir / "imagesTr").glob("*.nii*")) if not p.name.startswith(".")]
    if not entries:
        raise ValueError(f"{meta_path}: no 'training' entries and no imagesTr/*.nii.gz files")
    cases = []
    for e in entries:
        img = (task_dir / e["image"]).resolve()
        lab = (task_dir / e["label"]).resolve()
        case = img.name.split(".")[0]
        for p in (img, lab):
            if not p.is_file():
                raise FileNotFoundError(f"{meta_path} lists {p}, which does not exist")
        cases.append((case, img, lab))
    return cases, modality


def _channel_indices(channels: Sequence[Union[str, int]], modality: dict[int, str],
                     n_channels: int, where: Path) -> list[int]:
    by_name = {v.lower(): k for k, v in modality.items()}
    out = []
    for c in channels:
        if isinstance(c, (int, np.integer)) or (isinstance(c, str) and c.isdigit()):
            i = int(c)
        elif c.lower() in by_name:
            i = by_name[c.lower()]
        else:
            raise ValueError(f"unknown channel {c!r}; {where} has modalities {modality}")
        if not 0 <= i < n_channels:
            raise ValueError(f"channel {c!r} out of range: {where} has {n_channels} channels")
        out.append(i)
    return out


def normalize_volume(vol: np.ndarray, percentiles: tuple[float, float] = (0.5, 99.5)) -> np.ndarray:
    """Scales a 3D volume to [0, 1] by percentiles of its non-zero voxels (all voxels if none)."""
    fg = vol[vol != 0]
    if fg.size == 0:
        fg = vol.ravel()
    lo, hi = np.percentile(fg, percentiles)
    if hi <= lo:
        return np.zeros_like(vol, dtype=np.float32)
    return np.clip((vol - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def select_slices(tumour_pixels: np.ndarray, brain_fraction: np.ndarray, min_tumor_pixels: int,
                  slice_step: int, include_empty_fraction: float, rng: np.random.Generator,
                  min_brain_fraction: float = 0.05) -> list[int]:
    """Chooses axial slice indices of one volume.

    Tumour slices (``>= min_tumor_pixels``) on the ``slice_step`` grid are all kept; slices
    with ``0 < pixels < min_tumor_pixels`` are dropped as ambiguous; tumour-free slices with
    at least ``min_brain_fraction`` brain are sampled, ``round(include_empty_fraction * n_tumour)``
    of them (at least one when the fraction is positive and any exist).
    """
    zs = np.arange(0, len(tumour_pixels), max(1, int(slice_step)))
    tum = [int(z) for z in zs if tumour_pixels[z] >= max(1, min_tumor_pixels)]
    empty = [int(z) for z in zs if tumour_pixels[z] == 0 and brain_fraction[z] >= min_brain_fraction]
    n_empty = 0
    if include_empty_fraction > 0 and empty:
        n_empty = min(len(empty), max(1, int(round(include_empty_fraction * len(tum)))))
    picked = rng.choice(empty, size=n_empty, replace=False).tolist() if n_empty else []
    return sorted(tum + [int(z) for z in picked])


def convert(task_dir: os.PathLike, out_dir: Optional[os.PathLike] = None,
            channels: Sequence[Union[str, int]] = ("FLAIR",), min_tumor_pixels: int = 50,
            slice_step: int = 1, include_empty_fraction: float = 0.2,
            resolution: Optional[Resolution] = None, max_cases: Optional[int] = None,
            percentiles: tuple[float, float] = (0.5, 99.5), seed: int = 0,
            keep_in_memory: bool = True, image_format: str = "auto",
            progress: bool = False, protect: Sequence[os.PathLike] = ()) -> list[dict]:
    """Converts Task01 volumes into 2D axial slice records (and optionally a prepared folder).

    Args:
        task_dir: the ``Task01_BrainTumour`` folder (``dataset.json``, ``imagesTr``, ``labelsTr``).
        out_dir: if given, also write a prepared folder there (see :mod:`data_prep.records`).
        channels: modality names from ``dataset.json`` (case-insensitive) or channel indices.
        min_tumor_pixels: a slice counts as tumour slice from this many whole-tumour pixels.
        slice_step: consider every ``slice_step``-th axial slice.
        include_empty_fraction: tumour-free slices to add per tumour slice (see
            :func:`select_slices`).
        resolution: target ``H = W`` or ``(H, W)`` (bilinear image, nearest mask); ``None``
            keeps the native size.
        max_cases: convert only the first cases (``None``: all).
        percentiles: intensity percentiles mapped to 0 and 1, per volume and channel.
        seed: seed for the choice of tumour-free slices (per case ``seed + case index``).
        keep_in_memory: return full records; ``False`` (needs ``out_dir``) returns only the
            manifest rows, which keeps memory flat for the full 484-case dataset.
        image_format: prepared-folder image format (``auto``, ``png`` or ``npy``).
        progress: show a tqdm bar over cases.
        protect: folders ``out_dir`` must not overlap (``task_dir`` always is one).

    Returns:
        Records (``image`` float32 (C, H, W), ``mask`` uint8 (1, H, W), ``id``, ``group``), or
        manifest rows when ``keep_in_memory`` is False.

    Raises:
        FileNotFoundError / ValueError: naming the missing or bad file.
    """
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    task_dir = Path(task_dir)
    if not keep_in_memory and out_dir is None:
        raise ValueError("keep_in_memory=False needs out_dir")
    cases, modality = _cases(task_dir)
    if max_cases is not None:
        cases = cases[: int(max_cases)]
    hw = as_hw(resolution)
    writer = None
    if out_dir is not None:
        config = {"task_dir": str(task_dir), "channels": list(channels),
                  "min_tumor_pixels": min_tumor_pixels, "slice_step": slice_step,
                  "include_empty_fraction": include_empty_fraction, "resolution": hw,
                  "max_cases": max_cases, "percentiles": list(percentiles)}
        writer = PreparedWriter(out_dir, image_format=image_format,
                                meta={"source": "msd_brain", "label": SOURCE_LABEL,
                                      "modality": modality, "config": config, "seed": seed},
                                protect=[task_dir, *protect])
    out: list[dict] = []
    it = enumerate(cases)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, total=len(cases), desc="MSD BrainTumour", unit="case")
    try:
        for k, (case, img_path, lab_path) in it:
            try:
                img_nii, lab_nii = nib.load(str(img_path)), nib.load(str(lab_path))
                shape = img_nii.shape
                if len(shape) == 3:
                    n_ch = 1
                elif len(shape) == 4:
                    n_ch = shape[3]
                else:
                    raise ValueError(f"expected a 3D or 4D volume, got shape {shape}")
                idx = _channel_indices(channels, modality, n_ch, img_path)
                data = np.asarray(img_nii.dataobj, dtype=np.float32)
                label = np.asarray(lab_nii.dataobj)
            except (OSError, EOFError, ImageFileError) as e:
                raise ValueError(f"unreadable file {img_path} or {lab_path}: {e}") from None
            if data.ndim == 3:
                data = data[..., None]
            if label.shape != data.shape[:3]:
                raise ValueError(f"size mismatch: image {img_path} is {data.shape[:3]} but "
                                 f"label {lab_path} is {label.shape}")
            brain = (data[..., idx] != 0).any(axis=-1).mean(axis=(0, 1))  # per-slice fraction
            vol = np.stack([normalize_volume(data[..., i], percentiles) for i in idx])  # (C,X,Y,Z)
            del data
            wt = (label > 0)
            zs = select_slices(wt.sum(axis=(0, 1)), brain,
                               min_tumor_pixels, slice_step, include_empty_fraction,
                               np.random.default_rng(seed + k))
            for z in zs:
                image = np.ascontiguousarray(vol[:, :, :, z].transpose(0, 2, 1))
                mask = np.ascontiguousarray(wt[:, :, z].T[None].astype(np.uint8))
                if hw is not None:
                    image, mask = resize_image(image, hw), resize_mask(mask, hw)
                rec = make_record(image, mask, f"{case}_{z:03d}", case)
                row = writer.add(rec) if writer is not None else None
                out.append(rec if keep_in_memory else row)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is not None:
        writer.close()
    return out
