"""Post-processing of binary predictions: small connected components removed, with the minimum
size chosen on the **validation** patients of each run.

Connected-component post-processing chosen on held-out training data is standard practice in
tumour segmentation (nnU-Net decides its component removal on the cross-validation folds,
Isensee et al., Nat. Methods 2021). The rule here is simpler, and fixed before any test number
is read:

* a prediction's connected components (face connectivity, as MONAI's ``RemoveSmallObjects``
  and scikit-image's ``remove_small_objects`` default to) with fewer than ``min_size`` pixels
  (voxels in 3D) are set to background;
* ``min_size`` is chosen per trained run from :data:`MIN_SIZES` (pixels at the training
  resolution) on its validation slices: among the sizes whose validation ``dice_tumor`` (mean
  Dice over tumour slices, the headline) is at most :data:`TUMOUR_DICE_TOLERANCE` below that of
  no post-processing, the one with the highest validation ``dice_all`` (mean over all slices, a
  tumour-free slice scoring 1 when predicted empty and 0 otherwise, so false positives on empty
  slices count); ties go to the smallest size, so ``0`` (no post-processing) wins unless
  removal helps on validation. The tolerance keeps the rule from buying a lower false-positive
  rate with the tumours themselves (small tumours are components too).

The test set is never used for the choice. :func:`nascore.seg.pipeline.run_pipeline` reports
the test metrics both without post-processing (the headline tables) and with it.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
import pandas as pd
import torch

from .components import remove_small_components  # noqa: F401  (re-exported)
from .evaluate import evaluate

#: The candidate minimum component sizes (pixels at the training resolution; 0 = none).
MIN_SIZES: Tuple[int, ...] = (0, 8, 16, 32, 64, 128)

#: The validation measure that chooses ``min_size`` (a key of
#: :func:`nascore.seg.evaluate.aggregate`).
SELECT_ON = "dice_all"

#: How far below no post-processing the validation tumour Dice of a chosen size may fall.
TUMOUR_DICE_TOLERANCE = 0.005


def choose_min_size(model: torch.nn.Module, val_loader, sizes: Sequence[int] = MIN_SIZES,
                    tolerance: float = TUMOUR_DICE_TOLERANCE) -> Tuple[int, pd.DataFrame]:
    """The ``min_size`` chosen by the rule of the module docstring on ``val_loader``.

    Args:
        model: the trained model (evaluated in eval mode; its mode is restored).
        val_loader: the run's validation loader (never the test loader).
        sizes: the candidates; must include 0 (no post-processing, the reference).
        tolerance: how far below size 0's validation ``dice_tumor`` a size may fall (when the
            validation slices hold no tumour, every size is allowed).

    Returns:
        ``(min_size, table)``: the choice and one row per candidate (ascending) with
        ``min_size``, the validation ``dice_all``, ``dice_tumor`` and ``fp_rate_empty``, and
        ``allowed`` (within the tumour-Dice tolerance).

    Raises:
        ValueError: ``sizes`` lacks 0 or holds a value that is not an integer >= 0.
    """
    cand = sorted(set(sizes))
    bad = [v for v in cand if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0]
    if bad or 0 not in cand:
        raise ValueError(f"choose_min_size: sizes must be integers >= 0 including 0 (no "
                         f"post-processing, the reference), got {list(sizes)!r}")
    rows = []
    for s in cand:
        _, agg = evaluate(model, val_loader, hd95=False, min_size=int(s))
        rows.append({"min_size": int(s), **{k: agg[k] for k in (SELECT_ON, "dice_tumor",
                                                                 "fp_rate_empty")}})
    table = pd.DataFrame(rows)
    ref = table["dice_tumor"].iloc[0]
    table["allowed"] = (True if not np.isfinite(ref) else
                        table["dice_tumor"].fillna(-np.inf) >= ref - tolerance)
    score = np.where(table["allowed"], table[SELECT_ON].fillna(-np.inf), -np.inf)
    best = int(table["min_size"].iloc[int(np.argmax(score))])  # argmax: first = smallest
    return best, table
