"""The one training recipe of the benchmark, and the training of one task into one row.

Every architecture is trained the same way (:class:`Recipe`): AdamW (lr 1e-3, weight decay
1e-4), cosine decay over the whole budget, gradient clipping at norm 1, batch 8, the MONAI
augmentation of :mod:`nascore.seg.data` (random zoom-in crop, flips, 90° rotations, small
rotations), DiceCE loss on the main head only (``SegObjective(w_transformer=0)``: no
auxiliary, complexity or entropy term, so attention and conv networks get the same loss), a
fixed number of optimisation steps (the *budget*) and one fixed resolution (64 px by default).
With ``arch_resolutions`` (e.g. ``(64, 96, 128)``) the space's **resolution knob** is part of
the benchmark: each architecture carries its own input resolution from that set; it is trained
at that side (images and masks resized from the data's ``resolution``) and validated on the
``resolution``-px masks, its logits upsampled to them (:func:`nascore.seg.evaluate.evaluate`'s
``input_resolution``), and its FLOPs are counted at its own side. The table's ``resolution``
column is then the architecture's side; the recipe (in the header and ``recipe_id``) holds the
evaluation side. The patient split is
:func:`nascore.seg.data.split_records` with ``split_seed`` (0: the split of notebook 04), or,
with ``folds > 0``, fold ``fold`` of the patient-level K-fold cross-validation
(:func:`data_prep.patient_kfold` with ``k=folds``, ``seed=split_seed`` and the validation share
``fractions[1]``, as notebook 04's cross-validated comparison makes it). Only its ``train`` and
``val`` parts are read: the test patients stay untouched for notebook 04.

The validation metrics are those of the final weights (no checkpoint selection on the
validation set, which would leak it into the ground truth):

* ``val_dice_tumor``: mean Dice over validation slices that contain tumour (the headline);
* ``val_dice_all``: mean over all validation slices, where a tumour-free slice scores 1 when
  the prediction is empty and 0 otherwise;
* ``val_fp_rate_empty``: share of tumour-free validation slices with any predicted tumour pixel.

``final_train_loss`` is the mean total training loss over the last 10% of steps.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional, Tuple

import numpy as np
from data_prep import patient_kfold

from ...arch import HybridSegArch
from .sample import deep_attn_share


@dataclass(frozen=True)
class Recipe:
    """The training recipe (see the module docstring). Frozen: one recipe per table."""

    data: str = "lgg"
    resolution: int = 64
    channels: int = 3
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    crop_frac: float = 0.85
    rotate_deg: float = 15.0
    split_seed: int = 0
    fractions: Tuple[float, float, float] = (0.7, 0.15, 0.15)
    device: str = "cpu"
    threads: int = 1
    folds: int = 0
    fold: int = 0
    arch_resolutions: Tuple[int, ...] = ()

    def __post_init__(self):
        if self.folds < 0 or (self.folds and not 0 <= self.fold < self.folds) or self.folds == 1:
            raise ValueError(f"recipe folds={self.folds}, fold={self.fold}: give folds=0 (a "
                             "train/val/test split by fractions) or folds>=2 and 0 <= fold < folds")

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["fractions"] = list(self.fractions)
        if not self.folds:  # the split by fractions: ids of tables made before folds existed hold
            del d["folds"], d["fold"]
        if self.arch_resolutions:
            d["arch_resolutions"] = list(self.arch_resolutions)
        else:  # one resolution: likewise
            del d["arch_resolutions"]
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Recipe":
        d = dict(d)
        if "fractions" in d:
            d["fractions"] = tuple(d["fractions"])
        if "arch_resolutions" in d:
            d["arch_resolutions"] = tuple(int(r) for r in d["arch_resolutions"])
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown recipe fields: {sorted(unknown)}")
        return cls(**d)


_DATA_CACHE: Dict[Tuple, Any] = {}


def load_split(recipe: Recipe):
    """``(splits, info)`` of the recipe's data (cached per process): the patient split's
    ``train``/``val``/``test`` record lists and the dataset description."""
    key = (recipe.data, recipe.resolution, recipe.channels, recipe.split_seed, recipe.fractions,
           recipe.folds, recipe.fold)
    if key not in _DATA_CACHE:
        from ...seg.data import split_records
        from ...seg.datasets import load_dataset

        recs, info = load_dataset(recipe.data, resolution=recipe.resolution,
                                  synthetic={"n_patients": 24, "slices_per_patient": 8,
                                             "channels": recipe.channels, "seed": 0})
        if info["channels"] != recipe.channels:
            raise ValueError(f"data={recipe.data!r} has {info['channels']} input channel(s) but "
                             f"the recipe says channels={recipe.channels}: use the data's count")
        if recipe.folds:
            splits = patient_kfold(recs, recipe.folds, recipe.split_seed,
                                   val_fraction=recipe.fractions[1])[recipe.fold]
        else:
            splits = split_records(recs, recipe.fractions, recipe.split_seed)
        for name in ("train", "val"):
            if not splits[name]:
                raise ValueError(f"the {name} split of data={recipe.data!r} is empty")
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = (splits, info)
    return _DATA_CACHE[key]


def train_row(task: Dict[str, Any]) -> Dict[str, Any]:
    """Trains one task and returns its row (module-level, so it pickles for process pools).

    Args:
        task: ``{"arch_json", "seed", "budget", "recipe": Recipe.to_dict(), "role",
            "flops_bin", "attn_group", "provenance": {...}}``.

    Returns:
        The row (:data:`nascore.bench.hybrid_seg.table.ROW_COLUMNS`).
    """
    import torch

    from ...build import build_model
    from ...cost import count_flops, count_params
    from ...seg.data import make_loader
    from ...seg.evaluate import evaluate
    from ...seg.objective import SegObjective
    from ...seg.train import seeded, train_model

    recipe = Recipe.from_dict(task["recipe"])
    torch.set_num_threads(int(recipe.threads))
    arch = HybridSegArch.from_json(task["arch_json"])
    allowed = set(recipe.arch_resolutions) or {recipe.resolution}
    if arch.resolution not in allowed:
        raise ValueError(f"arch {arch.arch_id} has resolution {arch.resolution}, the recipe "
                         f"trains at {sorted(allowed)}")
    seed, budget = int(task["seed"]), int(task["budget"])
    splits, info = load_split(recipe)
    in_ch = int(np.asarray(splits["train"][0]["image"]).shape[0])
    aug = {"crop_frac": recipe.crop_frac, "rotate_deg": recipe.rotate_deg}
    train = make_loader(splits["train"], arch.resolution, recipe.batch_size, train=True,
                        seed=seed, **aug)
    val = make_loader(splits["val"], recipe.resolution, recipe.batch_size)  # masks at this side
    with seeded(seed):
        model = build_model(arch, in_ch, 1)
    with torch.device("meta"):
        meta = build_model(arch, in_ch, 1)
    params = count_params(model)
    flops = count_flops(meta, (1, in_ch, arch.resolution, arch.resolution))  # at its own side
    obj = SegObjective(w_transformer=0, w_complexity=0, w_entropy=0)
    t0 = time.perf_counter()
    res = train_model(model, train, None, obj, steps=budget, lr=recipe.lr,
                      weight_decay=recipe.weight_decay, seed=seed, device=recipe.device,
                      progress=False, restore_best=False, grad_clip=recipe.grad_clip)
    _, agg = evaluate(model, val, device=recipe.device, hd95=False,
                      input_resolution=arch.resolution)
    wall = time.perf_counter() - t0
    tail = [h["total"] for h in res.history[-max(1, budget // 10):]]
    empty_spec = agg["empty_specificity"]
    dev = recipe.device
    if dev == "cpu":
        dev = f"cpu ({platform.processor() or platform.machine()}, {recipe.threads} thread)"
    elif dev.startswith("cuda") and torch.cuda.is_available():
        dev = f"{dev} ({torch.cuda.get_device_name()})"
    return {
        "arch_id": arch.arch_id, "role": task.get("role", "sample"),
        "flops_bin": task.get("flops_bin"), "attn_group": task.get("attn_group"),
        "params": int(params), "flops": float(flops), "n_attn": int(arch.num_attn_blocks),
        "attn_share": float(arch.attn_share), "deep_attn_share": float(deep_attn_share(arch)),
        "seed": seed, "budget": budget, "resolution": arch.resolution,
        "batch_size": recipe.batch_size, "data": info.get("dataset", recipe.data),
        "synthetic": bool(info.get("synthetic", False)),
        "n_train": len(splits["train"]), "n_val": len(splits["val"]),
        "val_dice_tumor": float(agg["dice_tumor_mean"]), "val_dice_all": float(agg["dice_mean"]),
        "val_fp_rate_empty": float(1.0 - empty_spec) if np.isfinite(empty_spec) else float("nan"),
        "val_n_tumor": int(agg["n_tumor"]), "val_n_empty": int(agg["n_cases"] - agg["n_tumor"]),
        "final_train_loss": float(np.mean(tail)), "train_time_s": float(res.train_time_s),
        "wall_time_s": float(wall), "device": dev, "pid": os.getpid(),
        **{f"prov_{k}": v for k, v in task.get("provenance", {}).items()},
        "arch_json": arch.to_json(),
    }
