"""Notebook 00's driver: the survey, the example architecture, the files it writes."""

import json

import pandas as pd

from nascore.arch import HybridSegArch
from nascore.experiments import space_survey as survey
from nascore.space import HybridSegSpace


def test_survey_run_writes_samples_and_metrics(tmp_path):
    space = HybridSegSpace()
    config = {"profile": "smoke", "n_samples": 4, "n_latency": 0, "latency_repeats": 1,
              "seed": 3, "in_channels": 3}
    df = survey.run(space, config, tmp_path)
    again = survey.survey_space(space, 4, seed=3, progress=False)
    assert df.drop(columns=["latency_ms", "latency_iqr_ms"]).equals(
        again.drop(columns=["latency_ms", "latency_iqr_ms"]))  # same seed, same sample
    assert pd.read_csv(tmp_path / "samples.csv", comment="#")["arch_id"].tolist() == df["arch_id"].tolist()
    summary = survey.summarise(df)
    example = survey.example_arch(df)
    assert isinstance(example, HybridSegArch) and example.arch_id in set(df["arch_id"])
    if (df["n_attn"] > 0).any():
        assert example.num_attn_blocks > 0
    m = json.loads(survey.write_metrics(tmp_path, space, summary, example, config).read_text())
    assert m["survey"]["n"] == 4 and m["provenance"]["seed"] == 3
    assert HybridSegArch.from_dict(m["example_arch"]) == example
    assert "params spread" in survey.headline(summary)
    table = survey.decisions_table(space)
    assert list(table.columns) == ["group", "decision", "choices"] and len(table) == len(space.decisions())
