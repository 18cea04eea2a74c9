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
    groups, tumour = [], set()
    for r in records:
        if "group" not in r:
            raise ValueError(f"record {r.get('id', '?')!r} has no 'group' key")
        groups.append(str(r["group"]))
        if _has_tumour(r):
            tumour.add(groups[-1])
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
