"""Proxy objectives: build the net, score with nascore.proxies, cache, sign, failures."""

import numpy as np
import pytest
import torch

import nascore.proxies as proxies
from nascore.cache import ScoreCache
from nascore.bench.nb201_objectives import NB201Builder
from nascore.bench.nb201_space import NB201Space
from nascore.search import STRATEGIES
from nascore.search.objectives import HybridSegBuilder, ProxyObjective, resize_batch
from nascore.space import HybridSegSpace


def nb201_batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(4, 3, 8, 8, generator=g), torch.randint(0, 10, (4,), generator=g)


def test_proxy_objective_scores_caches_and_matches_harness(tmp_path, monkeypatch):
    space = NB201Space()
    obj = ProxyObjective("naswot", NB201Builder(C=4, N=1), nb201_batch(), seed=0,
                         cache_path=tmp_path / "c.sqlite", dataset="toy8")
    h = STRATEGIES.get("random")(batch_size=4).run(space, obj, 6, np.random.default_rng(0))
    assert len(h) == 6
    cache = ScoreCache(tmp_path / "c.sqlite")
    assert len(cache) == 6
    for r in h:
        if r.ok:
            direct = proxies.score("naswot", obj.build_model(r.arch), nb201_batch(), seed=0)
            assert r.score == pytest.approx(direct.value, rel=1e-6)
            assert cache.get(r.arch_id, "naswot", 0, "toy8").value == pytest.approx(r.score)

    def no_scoring(*a, **k):
        raise AssertionError("scored although cached")

    monkeypatch.setattr(proxies, "score", no_scoring)
    again = STRATEGIES.get("random")(batch_size=4).run(space, obj, 6, np.random.default_rng(0))
    assert [r.scores["score"] for r in again if r.ok] == [r.scores["score"] for r in h if r.ok]


def test_lower_is_better_proxies_are_negated():
    obj = ProxyObjective("params", NB201Builder(C=4, N=1), nb201_batch())
    out = obj._result(5.0, 0.1, "ok", "", {}, hib=False)
    assert out["score"] == -5.0
    assert obj._result(5.0, 0.1, "ok", "", {}, hib=True)["score"] == 5.0


def failing_build(arch):
    raise RuntimeError("cannot build")


def test_build_failures_are_recorded():
    obj = ProxyObjective("params", failing_build, nb201_batch())
    h = STRATEGIES.get("random")().run(NB201Space(), obj, 3, np.random.default_rng(0))
    assert h.n_failed == 3 and all("cannot build" in r.message for r in h)


def test_hybrid_seg_objective_resizes_to_the_arch_resolution():
    space = HybridSegSpace(resolutions=(32, 48), stem_widths=(4,),
                           widths=((4,), (8,), (8, 16), (16,)), depths=((1,), (1,), (1,), (1,)),
                           heads=(2,), mlp_ratios=(2,), decoder_widths=((8, 8, 4, 4),),
                           kernels=(3,), expands=(2,))
    g = torch.Generator().manual_seed(0)
    batch = (torch.randn(2, 1, 64, 64, generator=g), torch.randint(0, 2, (2, 64, 64), generator=g))
    x, y = resize_batch(batch, 32)
    assert x.shape == (2, 1, 32, 32) and y.shape == (2, 32, 32) and y.dtype == batch[1].dtype
    obj = ProxyObjective("params", HybridSegBuilder(1, 2), batch)
    h = STRATEGIES.get("random")().run(space, obj, 4, np.random.default_rng(0))
    assert h.n_failed == 0 and len(h) == 4
    assert len({r.score for r in h}) > 1
