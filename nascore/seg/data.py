"""Segmentation data: MONAI dictionary transforms, datasets, loaders and the patient split.

Records come from :mod:`data_prep` (``image`` float32 ``(C, H, W)``, ``mask`` uint8
``(1, H, W)``, ``id``, ``group``). They become MONAI dictionaries with keys ``image``,
``label`` (float32 ``{0, 1}``), ``id``, ``group`` and ``has_tumor``.

Transforms (all MONAI dictionary transforms):

* always: ``ScaleIntensityd`` (per-image, per-channel min-max to [0, 1]) and ``Resized`` to the
  architecture resolution (bilinear for images, nearest for labels);
* training only: ``RandSpatialCropd`` of ``crop_frac`` of the side followed by ``Resized``
  back (a random zoom-in crop), ``RandFlipd`` on both axes, ``RandRotate90d`` and a small
  ``RandRotated``.

Randomness is explicit: the training transform chain and the loader's shuffling generator are
re-seeded by :func:`reseed_loader` from ``(seed, epoch)``, so an epoch's batches depend only on
these two numbers (which makes checkpoint resumption exact).
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch
from monai.data import DataLoader, Dataset
from monai.transforms import (Compose, EnsureTyped, RandFlipd, RandRotate90d, RandRotated,
                              RandSpatialCropd, Resized, ScaleIntensityd)

from data_prep import patient_split

KEYS = ("image", "label")


def to_dicts(records: Sequence[Mapping]) -> List[dict]:
    """data_prep records as MONAI dictionaries (``mask`` renamed ``label``, float32).

    Raises:
        ValueError: naming the record id when a key is missing.
    """
    out = []
    for r in records:
        for k in ("image", "mask", "id"):
            if k not in r:
                raise ValueError(f"record {r.get('id', '?')!r} has no {k!r} key")
        mask = np.asarray(r["mask"])
        out.append({"image": np.asarray(r["image"], dtype=np.float32),
                    "label": mask.astype(np.float32), "id": str(r["id"]),
                    "group": str(r.get("group", r["id"])),
                    "has_tumor": bool(r.get("has_tumor", mask.any()))})
    return out


def seg_transforms(resolution: int, train: bool = False, crop_frac: float = 0.85,
                   rotate_deg: float = 15.0, prob: float = 0.5) -> Compose:
    """The MONAI transform chain (see the module docstring).

    Args:
        resolution: output side length (the architecture resolution).
        train: add the random augmentations.
        crop_frac: side of the random crop relative to ``resolution`` (1 disables it).
        rotate_deg: maximum angle of the small random rotation (0 disables it).
        prob: probability of each flip / rotation.
    """
    if not 0 < crop_frac <= 1:
        raise ValueError(f"crop_frac must be in (0, 1], got {crop_frac}")
    size = (resolution, resolution)
    t = [ScaleIntensityd(keys="image", channel_wise=True),
         Resized(keys=KEYS, spatial_size=size, mode=("bilinear", "nearest"))]
    if train:
        if crop_frac < 1:
            c = max(1, int(round(resolution * crop_frac)))
            t += [RandSpatialCropd(keys=KEYS, roi_size=(c, c), random_size=False),
                  Resized(keys=KEYS, spatial_size=size, mode=("bilinear", "nearest"))]
        t += [RandFlipd(keys=KEYS, prob=prob, spatial_axis=0),
              RandFlipd(keys=KEYS, prob=prob, spatial_axis=1),
              RandRotate90d(keys=KEYS, prob=prob, spatial_axes=(0, 1))]
        if rotate_deg > 0:
            r = float(np.deg2rad(rotate_deg))
            t.append(RandRotated(keys=KEYS, range_x=r, prob=prob, mode=("bilinear", "nearest"),
                                 padding_mode="zeros"))
    t.append(EnsureTyped(keys=KEYS, dtype=torch.float32, track_meta=False))
    return Compose(t)


def split_records(records: Sequence[Mapping], fractions: Sequence[float] = (0.7, 0.15, 0.15),
                  seed: int = 0) -> Dict[str, list]:
    """Seeded patient-level split (:func:`data_prep.patient_split`); no patient on two sides."""
    return patient_split(records, fractions, seed)


def make_loader(records: Sequence[Mapping], resolution: int, batch_size: int = 8,
                train: bool = False, seed: int = 0, num_workers: int = 0,
                **transform_kwargs) -> DataLoader:
    """A MONAI ``DataLoader`` over ``records``.

    Training loaders shuffle with their own ``torch.Generator`` and drop the last incomplete
    batch only when the set is larger than a batch; evaluation loaders keep order.
    """
    tf = seg_transforms(resolution, train=train, **transform_kwargs)
    ds = Dataset(to_dicts(records), transform=tf)
    gen = torch.Generator().manual_seed(int(seed))
    if train:
        tf.set_random_state(seed=int(seed) % (2 ** 32))
    return DataLoader(ds, batch_size=batch_size, shuffle=train, num_workers=num_workers,
                      generator=gen, drop_last=train and len(ds) > batch_size)


def make_loaders(records: Sequence[Mapping], resolution: int, batch_size: int = 8,
                 fractions: Sequence[float] = (0.7, 0.15, 0.15), split_seed: int = 0,
                 seed: int = 0, num_workers: int = 0, splits: Optional[Mapping] = None,
                 **transform_kwargs) -> Dict[str, object]:
    """Patient-level split plus train (augmented), val and test loaders.

    Args:
        splits: ``{"train", "val", "test"}`` record lists to use as they are (e.g. one fold of
            :func:`data_prep.patient_kfold`); None: :func:`split_records` of ``records`` by
            ``fractions`` and ``split_seed``.

    Returns:
        ``{"train", "val", "test"}`` loaders and ``"splits"`` (the record lists).
    """
    splits = dict(splits) if splits is not None else split_records(records, fractions, split_seed)
    out: Dict[str, object] = {"splits": splits}
    for name in ("train", "val", "test"):
        out[name] = make_loader(splits[name], resolution, batch_size, train=name == "train",
                                seed=seed, num_workers=num_workers,
                                **(transform_kwargs if name == "train" else {}))
    return out


def reseed_loader(loader, seed: int) -> None:
    """Re-seeds a loader's shuffling generator and its dataset's random transforms.

    Loaders from :func:`make_loader` carry a ``torch.Generator``; for others without one the
    shuffling order is left as is (and is then not reproducible).
    """
    gen = getattr(loader, "generator", None)
    if gen is not None:
        gen.manual_seed(int(seed))
    tf = getattr(getattr(loader, "dataset", None), "transform", None)
    if tf is not None and hasattr(tf, "set_random_state"):
        tf.set_random_state(seed=int(seed) % (2 ** 32))
