"""Patient-level K-fold cross-validation (data_prep.patient_kfold): every patient is tested
exactly once, no patient is on two sides of a fold, validation patients come from the fold's
training patients, and the folds are deterministic."""

import random

import numpy as np
import pytest

from data_prep import kfold_assignment, make_synthetic, patient_kfold
from nascore.paths import data_root


def _groups(recs):
    return {r["group"] for r in recs}


def _records(n_patients=23, tumour_free=(3, 7, 11, 19)):
    recs = []
    for p in range(n_patients):
        for s in range(3):
            recs.append({"id": f"P{p:02d}_{s}", "group": f"P{p:02d}",
                         "has_tumor": p not in tumour_free and s == 1})
    return recs


@pytest.mark.parametrize("k", [2, 5])
def test_every_patient_is_tested_once_and_sides_never_overlap(k):
    recs = _records()
    folds = patient_kfold(recs, k=k, seed=3)
    assert len(folds) == k
    tested = [g for f in folds for g in _groups(f["test"])]
    assert sorted(tested) == sorted(_groups(recs))  # each patient exactly once
    for f in folds:
        tr, va, te = (_groups(f[s]) for s in ("train", "val", "test"))
        assert tr and va and te
        assert not (tr & va) and not (tr & te) and not (va & te)
        assert tr | va | te == _groups(recs)  # validation comes out of the non-test patients
        assert sum(len(f[s]) for s in f) == len(recs)
    sizes = [len(_groups(f["test"])) for f in folds]
    assert max(sizes) - min(sizes) <= 1


def test_folds_are_stratified_by_tumour_free_patients():
    recs = _records(n_patients=25, tumour_free=tuple(range(0, 25, 5)))  # 5 tumour-free
    folds = patient_kfold(recs, k=5, seed=0)
    free = {r["group"] for r in recs if not any(x["has_tumor"] for x in recs
                                                if x["group"] == r["group"])}
    assert [len(_groups(f["test"]) & free) for f in folds] == [1] * 5


def test_deterministic_and_independent_of_record_order():
    recs = _records()
    shuffled = recs[:]
    random.Random(0).shuffle(shuffled)
    a = [{s: sorted(_groups(f[s])) for s in f} for f in patient_kfold(recs, 5, seed=1)]
    b = [{s: sorted(_groups(f[s])) for s in f} for f in patient_kfold(shuffled, 5, seed=1)]
    assert a == b == [{s: sorted(_groups(f[s])) for s in f} for f in patient_kfold(recs, 5, seed=1)]
    assert kfold_assignment(recs, 5, 1) == kfold_assignment(shuffled, 5, 1)
    assert a != [{s: sorted(_groups(f[s])) for s in f} for f in patient_kfold(recs, 5, seed=2)]


def test_records_keep_their_order_within_a_side():
    recs = make_synthetic(n_patients=10, slices_per_patient=3, size=8)
    for f in patient_kfold(recs, 5, 0):
        pos = {r["id"]: i for i, r in enumerate(recs)}
        for side in f.values():
            idx = [pos[r["id"]] for r in side]
            assert idx == sorted(idx)


def test_bad_arguments_are_named():
    recs = _records(n_patients=4)
    with pytest.raises(ValueError, match="too few patients for 5 folds"):
        patient_kfold(recs, k=5)
    with pytest.raises(ValueError, match="k must be an integer >= 2"):
        kfold_assignment(recs, k=1)
    with pytest.raises(ValueError, match="val_fraction"):
        patient_kfold(recs, k=2, val_fraction=1.0)
    with pytest.raises(ValueError, match="has no 'group'"):
        patient_kfold([{"id": "x"}] * 3, k=2)
    with pytest.raises(ValueError, match="fold 0 leaves 1 non-test"):
        patient_kfold(_records(n_patients=2), k=2)


@pytest.mark.needs_data
def test_whole_lgg_set_five_folds():
    import csv

    man = data_root() / "seg" / "lgg_kaggle3m_full128" / "manifest.csv"
    if not man.is_file():
        pytest.skip("needs ../shared/data/seg/lgg_kaggle3m_full128: set NASCORE_DATA")
    with open(man, newline="") as f:
        recs = [{"id": r["stem"], "group": r["patient"], "has_tumor": r["has_tumor"] == "1"}
                for r in csv.DictReader(f)]
    folds = patient_kfold(recs, k=5, seed=0)
    assert sorted(len(_groups(f["test"])) for f in folds) == [22] * 5
    assert sum(len(f["test"]) for f in folds) == 3929
    assert np.all([len(_groups(f["val"])) >= 10 for f in folds])
