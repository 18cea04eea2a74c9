"""Per-block latency LUT for HybridSegSpace on a reduced space."""

import math

import numpy as np
import pytest

from nascore.latency import LatencyLUT, arch_pieces, measure_model, space_pieces, validate
from nascore.search import STRATEGIES, Constraints
from nascore.space import HybridSegSpace

SPACE = HybridSegSpace(resolutions=(32, 48), stem_widths=(4, 8),
                       widths=((4, 8), (8,), (8, 16), (16,)), depths=((1,), (1,), (1, 2), (1,)),
                       kernels=(3,), expands=(2,), heads=(2,), mlp_ratios=(2,),
                       decoder_widths=((8, 8, 4, 4), (16, 8, 8, 4)))


def archs(n, seed=0):
    rng = np.random.default_rng(seed)
    return [SPACE.sample(rng) for _ in range(n)]


def test_space_pieces_cover_every_arch():
    keys = set(space_pieces(SPACE))
    for a in archs(30):
        assert {k for k, _ in arch_pieces(a)} <= keys


def test_flops_table_sums_exactly_to_the_whole_model():
    sample = archs(6)
    lut = LatencyLUT.build(SPACE, metric="flops", archs=sample)
    for a in sample:
        assert lut.predict(a) == pytest.approx(measure_model(a, lut), rel=1e-9)


def test_params_table_sums_exactly_to_count_params_of_the_built_model():
    import dataclasses

    from nascore.build import build_model
    from nascore.cost import count_params
    from nascore.latency import param_pieces

    no_aux = dataclasses.replace(SPACE, aux_head=False)
    lut = LatencyLUT.build(SPACE, 3, 2, metric="params", repeats=1, warmup=0)
    assert set(lut.entries) == set(space_pieces(SPACE, 3, 2, aux=True))
    assert any(k.startswith("aux|") for k in lut.entries)
    rng = np.random.default_rng(4)
    for a in archs(8, seed=2) + [no_aux.sample(rng) for _ in range(4)]:
        want = count_params(build_model(a, 3, 2))
        assert lut.predict(a) == want
        assert len(param_pieces(a, 3, 2)) == len(arch_pieces(a, 3, 2)) + a.aux_head


def test_latency_table_predicts_save_load_and_validates(tmp_path):
    sample = archs(5, seed=1)
    lut = LatencyLUT.build(SPACE, repeats=3, warmup=1, archs=sample)
    assert all(v > 0 for v in lut.entries.values())
    a = sample[0]
    assert lut.predict(a) == pytest.approx(sum(lut.entries[k] for k, _ in arch_pieces(a)))
    p = lut.save(tmp_path / "lut.json")
    again = LatencyLUT.load(p)
    assert again.entries == lut.entries and again.meta == lut.meta
    v = validate(lut, sample, repeats=3)
    assert v["n"] == 5 and len(v["measured"]) == 5 and all(m > 0 for m in v["measured"])
    assert math.isfinite(v["mape"]) and -1 <= v["spearman"] <= 1
    # a piece not in the table is named
    other = next(x for x in archs(50, seed=2) if any(k not in lut.entries for k, _ in arch_pieces(x)))
    with pytest.raises(KeyError, match="latency LUT has no entry"):
        lut.predict(other)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="bad.json"):
        LatencyLUT.load(tmp_path / "bad.json")


def test_lut_as_search_cost_fn():
    lut = LatencyLUT.build(SPACE, metric="flops")  # whole (reduced) space, exact and fast
    cost = lut.cost_fn("flops")
    values = [cost(a)["flops"] for a in archs(40)]
    cap = float(np.median(values))
    h = STRATEGIES.get("random")().run(SPACE, lambda a: -cost(a)["flops"] + a.stem_width, 20,
                                       np.random.default_rng(0),
                                       constraints=Constraints(max_flops=cap), cost_fn=cost)
    assert h.n_rejected > 0 and all(r.cost["flops"] <= cap for r in h)
