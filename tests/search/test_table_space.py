"""TableSpace: the rows of a benchmark table as a search space."""

import numpy as np
import pytest

from nascore.search import STRATEGIES
from nascore.search.table_space import TableSpace


def test_encode_decode_and_errors():
    s = TableSpace(["a", "b", "c"])
    assert s.encode("b") == (1,) and s.decode([2]) == "c"
    assert s.contains("a") and not s.contains("z")
    with pytest.raises(ValueError, match="not a row"):
        s.encode("z")
    with pytest.raises(ValueError, match="distinct"):
        TableSpace(["a", "a"])
    with pytest.raises(ValueError, match="features"):
        TableSpace(["a", "b"], [[0, 1]])


def test_mutate_moves_to_a_nearest_row():
    feats = [[0, 0, 0], [0, 0, 1], [1, 1, 1], [0, 1, 1]]
    s = TableSpace(["a", "b", "c", "d"], feats, k=1)
    rng = np.random.default_rng(0)
    assert {s.mutate("a", rng) for _ in range(20)} == {"b"}
    assert {s.mutate("c", rng) for _ in range(20)} == {"d"}
    s2 = TableSpace(["a", "b", "c", "d"], feats, k=2)
    assert {s2.mutate("a", rng) for _ in range(50)} == {"b", "d"}
    with pytest.raises(ValueError, match="single row"):
        TableSpace(["a"]).mutate("a", rng)


@pytest.mark.parametrize("name", ["random", "evolution", "reinforce", "blockwise"])
def test_every_strategy_finds_the_best_row_when_the_budget_covers_the_table(name):
    keys = [f"r{i}" for i in range(12)]
    vals = {k: float(i) for i, k in enumerate(keys)}
    # evolution with near-neighbour mutation may stall before covering the table; without
    # features a mutation can reach any row, so a covering budget must find the best one
    s = TableSpace(keys, None if name == "evolution" else [[i // 4, i % 4] for i in range(12)], k=3)
    settings = {"evolution": {"population": 4, "sample": 2}}.get(name, {})
    h = STRATEGIES.get(name)(**settings).run(s, lambda a: vals[a], 12, np.random.default_rng(0),
                                             max_proposals=5000)
    assert h.best().arch_id == "r11"
