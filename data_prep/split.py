"""Seeded patient-level train/val/test split, stratified by tumour / tumour-free patients:
a patient is never on two sides."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

SPLIT_NAMES = ("train", "val", "test")


def _counts(n_groups: int, fractions: Sequence[float]) -> list[int]:
    """Groups per side: largest-remainder rounding, and at least one per positive fraction
    when there are enough groups."""
    raw = np.asarray(fractions, dtype=float) * n_groups
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: n_groups - counts.sum()]:
        counts[i] += 1
    positive = [i for i, f in enumerate(fractions) if f > 0]
    if n_groups >= len(positive):
        for i in positive:
            if counts[i] == 0:
                counts[int(np.argmax(counts))] -= 1
                counts[i] = 1
    return counts.tolist()


def _has_tumour(r: Mapping) -> bool:
    if "has_tumor" in r:
        return bool(r["has_tumor"])
    return bool(np.asarray(r["mask"]).any()) if "mask" in r else False


def patient_split(records: Sequence[Mapping], fractions: Sequence[float] = (0.7, 0.15, 0.15),
                  seed: int = 0) -> dict[str, list]:
    """Splits records by their ``group`` (patient) into ``train``, ``val`` and ``test``,
    stratified by tumour / tumour-free patients.

    A group is a *tumour* group when any of its records has tumour (``has_tumor``, else
    ``mask.any()``). Each stratum (tumour groups, then tumour-free groups) is sorted, shuffled
    with one ``numpy.random.default_rng(seed)`` (in that order) and cut by ``fractions`` of its
    size (largest remainder, at least one group per side when the stratum has enough). When
    every group has tumour (e.g. LGG) this is exactly the unstratified seeded split. A side
    with a positive fraction that is still empty then takes the last group of the largest side,
    so val and test are never empty. The result does not depend on record order.

    Args:
        records: records with a ``group`` key.
        fractions: train/val/test fractions of patients; non-negative, summing to 1.
        seed: shuffling seed.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}``; records keep their input order.

    Raises:
        ValueError: on bad fractions, a record without ``group`` (naming its id), or fewer
            groups than sides with a positive fraction (naming the counts).
    """
    fr = [float(f) for f in fractions]
    if len(fr) != 3 or min(fr) < 0 or abs(sum(fr) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be 3 non-negative numbers summing to 1, got {fractions!r}")
    groups, tumour = _groups_and_tumour(records)
    uniq = sorted(set(groups))
    positive = [n for n, f in zip(SPLIT_NAMES, fr) if f > 0]
    if len(uniq) < len(positive):
        raise ValueError(
            f"too few groups to split: {len(records)} records in {len(uniq)} group(s), but "
            f"{', '.join(positive)} each need at least one group. Records are grouped by "
            "patient (the 'group' field): prepare more patients, or check the grouping rule "
            "(manifest group column, --group-regex, --groups)")
    rng = np.random.default_rng(seed)
    assigned: dict[str, list[str]] = {n: [] for n in SPLIT_NAMES}
    for stratum in ([g for g in uniq if g in tumour], [g for g in uniq if g not in tumour]):
        if not stratum:
            continue
        order = rng.permutation(len(stratum))
        start = 0
        for name, n in zip(SPLIT_NAMES, _counts(len(stratum), fr)):
            assigned[name] += [stratum[j] for j in order[start:start + n]]
            start += n
    for name in positive:
        if not assigned[name]:
            donor = max(SPLIT_NAMES, key=lambda n: len(assigned[n]))
            assigned[name].append(assigned[donor].pop())
    side = {g: name for name, gs in assigned.items() for g in gs}
    out: dict[str, list] = {n: [] for n in SPLIT_NAMES}
    for r, g in zip(records, groups):
        out[side[g]].append(r)
    return out


def _groups_and_tumour(records: Sequence[Mapping]) -> tuple[list[str], set[str]]:
    groups, tumour = [], set()
    for r in records:
        if "group" not in r:
            raise ValueError(f"record {r.get('id', '?')!r} has no 'group' key")
        groups.append(str(r["group"]))
        if _has_tumour(r):
            tumour.add(groups[-1])
    return groups, tumour


def kfold_assignment(records: Sequence[Mapping], k: int = 5, seed: int = 0) -> dict[str, int]:
    """Each patient's test fold ``0..k-1``: patients are dealt round-robin to the folds,
    stratum by stratum (tumour patients, then tumour-free ones), each stratum sorted and then
    shuffled with one ``numpy.random.default_rng(seed)``. Fold sizes differ by at most one
    patient per stratum; the result does not depend on record order.

    Raises:
        ValueError: ``k < 2``, a record without ``group``, or fewer patients than folds.
    """
    if int(k) != k or k < 2:
        raise ValueError(f"k must be an integer >= 2, got {k!r}")
    groups, tumour = _groups_and_tumour(records)
    uniq = sorted(set(groups))
    if len(uniq) < k:
        raise ValueError(f"too few patients for {k} folds: {len(records)} records in "
                         f"{len(uniq)} group(s); every fold needs at least one test patient")
    rng = np.random.default_rng(seed)
    fold: dict[str, int] = {}
    start = 0  # the tumour-free stratum continues the round-robin where the first stopped
    for stratum in ([g for g in uniq if g in tumour], [g for g in uniq if g not in tumour]):
        order = rng.permutation(len(stratum))
        for j, i in enumerate(order):
            fold[stratum[i]] = (start + j) % k
        start = (start + len(stratum)) % k
    return fold


def patient_kfold(records: Sequence[Mapping], k: int = 5, seed: int = 0,
                  val_fraction: float = 0.15) -> list[dict[str, list]]:
    """K-fold cross-validation over patients: every patient is tested exactly once.

    Fold ``i`` tests the patients :func:`kfold_assignment` puts in fold ``i``. The other
    patients are its training patients, and its validation patients (for checkpoint and
    post-processing choices) are taken out of them: ``val_fraction`` of them (largest
    remainder, at least one), stratified by tumour / tumour-free patients and drawn with
    ``numpy.random.default_rng([seed, i])``. No patient is on two sides of a fold.

    Args:
        records: records with a ``group`` key (the patient).
        k: number of folds (5 for the notebook-04 comparison).
        seed: the seed of the fold assignment and of each fold's validation draw.
        val_fraction: the share of a fold's non-test patients that validate.

    Returns:
        ``k`` dicts ``{"train": [...], "val": [...], "test": [...]}``, records in input order.

    Raises:
        ValueError: see :func:`kfold_assignment`; ``val_fraction`` not in (0, 1); a fold
            whose non-test patients are too few to keep one for training and one for
            validation.
    """
    if not 0 < float(val_fraction) < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    fold = kfold_assignment(records, k, seed)
    groups, tumour = _groups_and_tumour(records)
    out = []
    for i in range(int(k)):
        rest = sorted(g for g, f in fold.items() if f != i)
        if len(rest) < 2:
            raise ValueError(f"fold {i} leaves {len(rest)} non-test patient(s): at least 2 are "
                             "needed (one to train on, one to validate)")
        rng = np.random.default_rng([int(seed), i])
        val: set[str] = set()
        for stratum in ([g for g in rest if g in tumour], [g for g in rest if g not in tumour]):
            if not stratum:
                continue
            n = int(round(float(val_fraction) * len(stratum)))
            val.update(stratum[j] for j in rng.permutation(len(stratum))[:n])
        if not val:
            val.add(rest[int(rng.integers(len(rest)))])
        if len(val) == len(rest):
            val.discard(sorted(val)[0])
        side = {g: ("test" if fold[g] == i else "val" if g in val else "train") for g in fold}
        parts: dict[str, list] = {n: [] for n in SPLIT_NAMES}
        for r, g in zip(records, groups):
            parts[side[g]].append(r)
        out.append(parts)
    return out
