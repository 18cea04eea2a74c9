"""Seeded patient-level train/val/test split: a patient is never on two sides."""

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


def patient_split(records: Sequence[Mapping], fractions: Sequence[float] = (0.7, 0.15, 0.15),
                  seed: int = 0) -> dict[str, list]:
    """Splits records by their ``group`` (patient) into ``train``, ``val`` and ``test``.

    The groups are sorted, shuffled with ``numpy.random.default_rng(seed)`` and cut by
    ``fractions`` of the number of groups, so the result does not depend on record order.

    Args:
        records: records with a ``group`` key.
        fractions: train/val/test fractions of patients; non-negative, summing to 1.
        seed: shuffling seed.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}``; records keep their input order.

    Raises:
        ValueError: on bad fractions or a record without ``group`` (naming its id).
    """
    fr = [float(f) for f in fractions]
    if len(fr) != 3 or min(fr) < 0 or abs(sum(fr) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be 3 non-negative numbers summing to 1, got {fractions!r}")
    groups = []
    for r in records:
        if "group" not in r:
            raise ValueError(f"record {r.get('id', '?')!r} has no 'group' key")
        groups.append(str(r["group"]))
    uniq = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(uniq))
    counts = _counts(len(uniq), fr)
    side = {}
    start = 0
    for name, n in zip(SPLIT_NAMES, counts):
        for j in order[start:start + n]:
            side[uniq[j]] = name
        start += n
    out: dict[str, list] = {n: [] for n in SPLIT_NAMES}
    for r, g in zip(records, groups):
        out[side[g]].append(r)
    return out
