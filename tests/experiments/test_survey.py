"""Notebook 01 drivers: skip share and rank disorder on toy cases with known answers, the
second ground on a fake mini-benchmark table, the cost table."""

import json

import numpy as np
import pandas as pd
import pytest

from nascore.bench.hybrid_seg.table import ROW_COLUMNS, BenchTable
from nascore.experiments import survey_baselines as SB
from nascore.experiments import survey_hybrid as SHy
from nascore.space import HybridSegSpace


@pytest.mark.parametrize("arch, share", [
    ("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|", 1.0),
    ("|skip_connect~0|+|none~0|skip_connect~1|+|nor_conv_3x3~0|avg_pool_3x3~1|skip_connect~2|", 0.5),
    (("nor_conv_3x3",) * 6, 0.0),
])
def test_skip_share(arch, share):
    assert SB.skip_share(arch) == share


def test_rank_disorder_known_answers():
    same = SB.rank_disorder(np.arange(20.0), 90 + np.arange(20.0) / 10, n_boot=200)
    assert same["kendall"] == pytest.approx(1.0) and same["ci95_kendall"] == pytest.approx([1.0, 1.0])
    assert same["n"] == 20
    t = [90.0, 91.0, 92.0, 93.0]
    assert SB.rank_disorder([4, 3, 2, 1], t, n_boot=0)["kendall"] == pytest.approx(-1.0)
    # one discordant pair out of 6: tau = (5 - 1) / 6
    assert SB.rank_disorder([1, 3, 2, 4], t, n_boot=0)["kendall"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="3 inherited vs 4"):
        SB.rank_disorder([1, 2, 3], t)


def test_sample_cells_distinct_non_degenerate_and_seeded():
    from nascore.bench.nb201 import is_degenerate

    a = SB.sample_cells(30, seed=3)
    assert len(set(a)) == 30 and not any(is_degenerate(s) for s in a)
    assert a == SB.sample_cells(30, seed=3)


def _fake_table(path, n=9, seed=0):
    space = HybridSegSpace()
    rng = np.random.default_rng(seed)
    t = BenchTable(path, {"fake": True})
    for i in range(n):
        a = space.sample(rng)
        row = {c: 0 for c in ROW_COLUMNS}
        row.update(arch_id=f"a{i}", arch_json=a.to_json(), seed=0, budget=150, recipe_id="r",
                   val_dice_tumor=0.1 * i, params=1000 * (n - i), flops=1e6 * i, train_time_s=10.0)
        t.append(row)
    # a second-seed row and an unfinished row must not enter the ground
    t.append({**row, "seed": 1, "val_dice_tumor": 5.0})
    t.append({**row, "arch_id": "nan", "val_dice_tumor": float("nan")})
    return path


def test_second_ground_on_a_fake_table(tmp_path):
    assert SHy.load_ground(tmp_path / "absent.csv") is None
    g = SHy.load_ground(_fake_table(tmp_path / "t.csv"))
    assert list(g["arch_id"]) == [f"a{i}" for i in range(9)]
    assert SHy.table_space(g)._feat is not None  # HybridSegSpace encodings as features
    df = SHy.run_ground(g, ["random", "reinforce"], ["oracle", "params@table", "random"], [0, 1],
                        budget=50, settings={})
    assert (df["n_evals"] == 9).all()  # budget capped at the table's size
    # oracle: the best Dice row; params@table: the most parameters = a0, the worst Dice
    assert np.allclose(df.loc[df.objective == "oracle", "quality"], 0.8)
    assert np.allclose(df.loc[df.objective == "params@table", "quality"], 0.0)
    assert np.allclose(df["best_quality_seen"], 0.8)
    assert set(df["arch"]) <= set(g["arch_id"])
    rnd = SHy.run_ground(g, ["random"], ["random"], range(6), 3, settings={})
    assert rnd["arch"].nunique() > 1  # the random score is redrawn per seed
    with pytest.raises(ValueError, match="no scores column 'hybrid'"):
        SHy.table_objective("hybrid@scores", g)
    s = pd.DataFrame({"arch_id": g["arch_id"], "hybrid": g["val_dice_tumor"][::-1].to_numpy()})
    r = SHy.run_ground(g, ["random"], ["hybrid@scores"], [0], 9, scores=s, settings={})
    assert r["quality"].iloc[0] == pytest.approx(0.0)


def test_cost_table_means_over_seeds():
    df = pd.DataFrame({"objective": ["o"] * 2, "strategy": ["random"] * 2, "seed": [0, 1],
                       "n_evals": [10, 10], "quality": [90.0, 92.0], "search_cpu_s": [1.0, 3.0]})
    t = SB.cost_table(df, "g", "acc", {"o": 2.0}, {"o": "x"}, {"o": "fam"})
    row = t.iloc[0]
    assert row["quality_mean"] == 91.0 and row["search_cpu_s"] == 2.0 and row["est_cpu_s"] == 20.0
    assert row["quality_sd"] == pytest.approx(np.sqrt(2.0)) and row["family"] == "fam"


def test_train_step_cost_scales_the_measured_step_to_the_protocols():
    c = SB.train_step_cost(n_cells=1, batch_size=2, steps=1)
    assert c["cpu_s_per_image"] > 0
    e = c["cpu_s_per_eval"]
    assert e[SB.ORACLE] == pytest.approx(c["cpu_s_per_image"] * 50_000 * 200)
    assert e[SB.ORACLE] / e[SB.SHORT] == pytest.approx(200 / 12)


def test_wide_scores_reads_notebook02_long_form_and_names_v1():
    import pandas as pd

    from nascore.experiments.survey_hybrid import table_objective, wide_scores

    long = pd.DataFrame([
        {"arch_id": "a", "proxy": "hybrid", "value": 1.0, "extra": '{"log_dss": 2.0}'},
        {"arch_id": "a", "proxy": "snip", "value": 3.0, "extra": "{}"},
        {"arch_id": "b", "proxy": "hybrid", "value": 0.5, "extra": '{"log_dss": 1.0}'},
        {"arch_id": "b", "proxy": "snip", "value": float("nan"), "extra": "{}"},
    ])
    w = wide_scores(long)
    assert set(w.columns) == {"arch_id", "hybrid_v1", "snip"}  # a pre-v2 'hybrid' row is v1
    assert w.set_index("arch_id").loc["a", "snip"] == 3.0
    wide = pd.DataFrame({"arch_id": ["a"], "x": [1.0]})
    assert wide_scores(wide) is wide
    ground = pd.DataFrame({"arch_id": ["a", "b"], "val_dice_tumor": [0.6, 0.5]})
    obj = table_objective("hybrid_v1@scores", ground, w)
    assert obj.values == {"a": 1.0, "b": 0.5}
