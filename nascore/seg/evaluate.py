"""Evaluation: per-case Dice and HD95 (MONAI metrics), aggregates and CSV output.

Predictions are ``sigmoid(logits) > threshold`` (one output channel; see
:mod:`nascore.seg.objective`), optionally with components smaller than ``min_size`` pixels
removed (:mod:`nascore.seg.postprocess`). Metrics are computed per case (2D slice) in pixel
units.

Empty masks (Dice and HD95 are undefined when the ground truth is empty):

* ``dice``: MONAI ``DiceMetric(ignore_empty=True)``, NaN when the ground truth is empty;
  ``dice_tumor_mean`` averages it over tumour cases only.
* ``dice_conv``: the same, except that an empty ground truth scores 1 when the prediction is
  empty too and 0 otherwise (a false-positive slice); ``dice_mean`` averages it over all cases
  and is the validation metric used to select checkpoints.
* ``hd95``: MONAI ``HausdorffDistanceMetric(percentile=95)``, NaN unless both the ground truth
  and the prediction are non-empty; ``hd95_mean``/``hd95_median`` average the defined values,
  and ``n_hd95_missed`` counts tumour cases whose prediction is empty (HD95 undefined).
* ``empty_specificity``: the share of tumour-free cases predicted empty.

The field's names (:mod:`nascore.seg.stats`, with bootstrap CIs over patients there):
``dice_tumor`` (= ``dice_tumor_mean``), ``dice_patient`` (pixels pooled per patient, from the
``group``/``tp``/``n_pred``/``n_gt`` columns), ``fp_rate_empty`` (= 1 - ``empty_specificity``),
``hd95`` (= ``hd95_mean``) and ``dice_all`` (= ``dice_mean``).
"""

from __future__ import annotations

import inspect
import os
import warnings
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from monai.metrics import DiceMetric, HausdorffDistanceMetric

from nascore.provenance import write_csv, write_metrics

from .components import remove_small_components


def resolve_device(device=None) -> torch.device:
    """``device``, or cuda when available, else cpu."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def logits_of(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The main logits (the first element when the model returns a tuple)."""
    out = model(x)
    return out[0] if isinstance(out, (tuple, list)) else out


def _batches(model, loader, device, threshold, min_size=0, input_resolution=None):
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in loader:
                x = batch["image"].to(device)
                y = (batch["label"].to(device) > 0.5).float()
                if input_resolution and tuple(x.shape[2:]) != (int(input_resolution),) * (x.dim() - 2):
                    # the model's own input side; its logits are upsampled to the masks' side
                    xs = F.interpolate(x, size=(int(input_resolution),) * (x.dim() - 2),
                                       mode="bilinear", antialias=True, align_corners=False)
                    logits = F.interpolate(logits_of(model, xs), size=tuple(y.shape[2:]),
                                           mode="bilinear", align_corners=False)
                else:
                    logits = logits_of(model, x)
                prob = torch.sigmoid(logits)
                pred = remove_small_components((prob > threshold).float(), min_size)
                yield batch, x, y, prob, pred
    finally:
        model.train(was)


#: Columns of the per-case table (``group`` = patient; ``tp``/``n_pred``/``n_gt`` in pixels).
CASE_COLUMNS = ["id", "group", "has_tumor", "pred_empty", "dice", "dice_conv", "hd95", "tp",
                "n_pred", "n_gt"]


def evaluate(model: torch.nn.Module, loader, device=None, threshold: float = 0.5,
             hd95: bool = True, min_size: int = 0, input_resolution: Optional[int] = None
             ) -> Tuple[pd.DataFrame, Dict[str, Any]]:
    """Per-case and aggregate Dice / HD95 of ``model`` on ``loader``.

    Args:
        model: maps ``(B, C, H, W)`` to one-channel logits (or a tuple starting with them).
        loader: batches with ``image``, ``label`` and ``id`` (:mod:`nascore.seg.data`).
        device: ``None`` = the model's device.
        threshold: probability threshold.
        hd95: also compute HD95 (slower; off for per-epoch validation).
        min_size: remove predicted components smaller than this many pixels first
            (:func:`nascore.seg.postprocess.remove_small_components`; 0: none).
        input_resolution: the side the model takes, when the loader's images and masks are at
            another one (the evaluation resolution): each image is resized to it (bilinear,
            antialiased) and the logits upsampled back to the masks' side (bilinear) before
            thresholding, so Dice is measured on the loader's masks. None: as loaded.

    Returns:
        ``(per_case, aggregate)``: a DataFrame with :data:`CASE_COLUMNS` and a dict of
        aggregates (see the module docstring).
    """
    if device is None:
        p = next(model.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
    device = torch.device(device)
    dice_m = DiceMetric(include_background=True, reduction="none", ignore_empty=True)
    hd_m = HausdorffDistanceMetric(include_background=True, percentile=95, reduction="none")
    rows: List[dict] = []
    for batch, _, y, _, pred in _batches(model, loader, device, threshold, min_size,
                                         input_resolution):
        d = dice_m(pred, y)[:, 0].cpu().numpy()
        if hd95:
            with warnings.catch_warnings():  # MONAI warns on empty masks; they are NaN here
                warnings.simplefilter("ignore")
                h = hd_m(pred, y)[:, 0].cpu().numpy()
        else:
            h = np.full(len(d), np.nan)
        gt_any = y.flatten(1).any(1).cpu().numpy()
        pr_any = pred.flatten(1).any(1).cpu().numpy()
        ids = batch.get("id", [None] * len(d))
        groups = batch.get("group", ids)
        tp = (pred * y).flatten(1).sum(1).cpu().numpy()
        npred, ngt = pred.flatten(1).sum(1).cpu().numpy(), y.flatten(1).sum(1).cpu().numpy()
        for k in range(len(d)):
            dc = float(d[k]) if gt_any[k] else float(not pr_any[k])
            hk = float(h[k]) if gt_any[k] and pr_any[k] and np.isfinite(h[k]) else float("nan")
            rows.append({"id": ids[k], "group": groups[k], "has_tumor": bool(gt_any[k]), "pred_empty": bool(not pr_any[k]),
                         "dice": float(d[k]) if gt_any[k] else float("nan"), "dice_conv": dc,
                         "hd95": hk, "tp": int(tp[k]), "n_pred": int(npred[k]), "n_gt": int(ngt[k])})
    dice_m.reset()
    hd_m.reset()
    df = pd.DataFrame(rows, columns=CASE_COLUMNS)
    return df, aggregate(df)


def _stat(x: pd.Series, fn) -> float:
    x = x.dropna()
    return float(fn(x)) if len(x) else float("nan")


def aggregate(df: pd.DataFrame) -> Dict[str, Any]:
    """Aggregates of a per-case table (see the module docstring)."""
    tum = df[df["has_tumor"]]
    empty = df[~df["has_tumor"]]
    spec = _stat(empty["pred_empty"].astype(float), np.mean)
    return {
        "dice_tumor": _stat(tum["dice"], np.mean), "dice_all": _stat(df["dice_conv"], np.mean),
        "fp_rate_empty": 1.0 - spec, "hd95": _stat(df["hd95"], np.mean),
        "n_cases": int(len(df)), "n_tumor": int(len(tum)),
        "dice_mean": _stat(df["dice_conv"], np.mean), "dice_sd": _stat(df["dice_conv"], np.std),
        "dice_tumor_mean": _stat(tum["dice"], np.mean), "dice_tumor_sd": _stat(tum["dice"], np.std),
        "hd95_mean": _stat(df["hd95"], np.mean), "hd95_median": _stat(df["hd95"], np.median),
        "n_hd95_missed": int((tum["pred_empty"]).sum()),
        "empty_specificity": _stat(empty["pred_empty"].astype(float), np.mean),
    }


def predict(model: torch.nn.Module, loader, max_cases: int = 8, device=None,
            threshold: float = 0.5, tumour_first: bool = True) -> List[Dict[str, Any]]:
    """Images, labels and predictions of up to ``max_cases`` cases (for overlay figures).

    Returns:
        Dicts with ``id``, ``image`` ``(C, H, W)``, ``label``, ``prob`` and ``pred`` ``(H, W)``
        as numpy arrays; tumour cases first when ``tumour_first``.
    """
    if device is None:
        p = next(model.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
    out: List[Dict[str, Any]] = []
    for batch, x, y, prob, pred in _batches(model, loader, torch.device(device), threshold):
        for k in range(len(x)):
            out.append({"id": batch["id"][k], "image": x[k].cpu().numpy(),
                        "label": y[k, 0].cpu().numpy(), "prob": prob[k, 0].cpu().numpy(),
                        "pred": pred[k, 0].cpu().numpy()})
    if tumour_first:
        out.sort(key=lambda r: not r["label"].any())
    return out[:max_cases]


def write_results(per_case: pd.DataFrame, agg: Mapping[str, Any], out_dir: os.PathLike,
                  name: str = "eval", config: Optional[Mapping] = None,
                  seed: Optional[int] = None) -> Dict[str, Path]:
    """Writes ``<name>_per_case.csv``, ``<name>_aggregate.csv`` and ``<name>_metrics.json``
    (all with provenance) atomically into ``out_dir``."""
    out_dir = Path(out_dir)
    return {
        "per_case": write_csv(out_dir / f"{name}_per_case.csv", per_case, config, seed),
        "aggregate": write_csv(out_dir / f"{name}_aggregate.csv", pd.DataFrame([dict(agg)]),
                               config, seed),
        "metrics": write_metrics(out_dir / f"{name}_metrics.json", dict(agg), config, seed),
    }
