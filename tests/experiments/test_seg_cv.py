"""The cross-validated notebook-04 command: one fold per call, partial reports that say so,
and the pooled report once every fold is done (tiny synthetic data)."""

import json

from nascore.experiments.seg_cv import main


def test_one_fold_per_call_then_the_pooled_report(tmp_path, capsys):
    out = tmp_path / "cv"
    base = ["--profile", "smoke", "--folds", "2", "--steps", "3", "--baselines", "hctnet_like",
            "--seeds", "0", "--out", str(out), "--no-progress"]
    assert main(base + ["--report-only"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["folds_done"] == [] and m["complete"] is False and "targets" not in m
    assert main(base + ["--fold", "1"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["folds_done"] == [1] and m["complete"] is False
    assert m["n_patients_tested"] == m["patients_per_fold"]["1"]
    assert main(base) == 0  # trains the missing fold 0, reads fold 1 back
    m = json.loads((out / "metrics.json").read_text())
    assert m["folds_done"] == [0, 1] and m["complete"] is True
    assert m["n_patients_tested"] == 10 and "SYNTHETIC" in m["dataset"]
    t = m["targets"]
    assert {"halfwidth_met", "dice_met", "cost_met", "dice_patient_diff_ci95"} <= set(t)
    assert (out / "summary.csv").is_file() and (out / "paired.csv").is_file()
    assert "hctnet_like" in (out / "paired.csv").read_text()
    assert main(base + ["--fold", "7"]) == 2
    assert "out of range" in capsys.readouterr().err
