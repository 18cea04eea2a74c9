"""``hybrid_v1`` (the components ``hybrid`` v2 reuses): components, determinism, CNN / hybrid / ViT coverage."""

import copy
import math

import pytest
import torch

from nascore.arch import example_arch
from nascore.bench.nb201 import build_nb201_net
from nascore.bench.vit import build_autoformer_vit
from nascore.build import build_model
from nascore.proxies import score
from nascore.proxies.hybrid import hybrid_v1 as H
from nascore.proxies.signals import log_abs_sum, log_nuclear

pytestmark = pytest.mark.numeric_pin  # rerun under scalar kernels by .ci/run


def _seg(kind):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return build_model(example_arch(kind, 32), 3, 1)


def _batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(4, 3, 32, 32, generator=g), torch.randint(0, 2, (4, 1, 32, 32), generator=g)


CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|avg_pool_3x3~2|"


def _vit():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return build_autoformer_vit(24, 3, 2.0, 2, num_classes=10, img_size=16, patch_size=4, head_dim=8)


def _vit_batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(4, 3, 16, 16, generator=g), torch.zeros(4, dtype=torch.long)


def test_constants_cover_every_component():
    for c, s, w in ((H.CENTER, H.SCALE, H.WEIGHTS), (H.ATTN_CENTER, H.ATTN_SCALE, H.ATTN_WEIGHTS)):
        assert set(w) == set(c) == set(s) == set(H.COMPONENTS)
        assert all(v > 0 for v in s.values())
        assert all(v >= 0 for v in w.values()) or w is H.WEIGHTS


def test_attention_share_by_kind():
    """a = 0 for an NB201 cell and a pure CNN, ~1 for a ViT, strictly between for a hybrid net."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        cell = build_nb201_net(CELL, C=4, N=1)
    x16, x32 = _vit_batch()[0], _batch()[0]
    assert H.attention_share(cell, x16) == 0.0
    assert H.attention_share(_seg("cnn"), x32) == 0.0
    assert H.attention_share(_vit(), x16) > 0.8  # tiny ViT; ~0.99 for the AutoFormer-Ti ViTs
    assert 0.0 < H.attention_share(_seg("hybrid"), x32) < 1.0


def test_value_blends_by_attention_share():
    comp = {"log_expressivity": 4.0, "progressivity": -0.05, "trainability": -1.0, "naswot": 12.5,
            "log_dss": 300.0, "log_params": 15.5, "log_flops": 19.8}
    cnn = H.hybrid_value(comp)
    assert H.hybrid_value({**comp, "attn_share": 0.0}) == cnn  # NB201 / CNN values unchanged
    attn = H.hybrid_value({**comp, "attn_share": 1.0})
    half = H.hybrid_value({**comp, "attn_share": 0.5})
    assert half == pytest.approx(0.5 * cnn + 0.5 * attn)
    assert attn != cnn


def test_log_dss_matches_dss_proxy_and_survives_huge_gradients():
    vit = _vit()
    ref = score("dss", vit, _vit_batch()).value
    assert H.log_dss(copy.deepcopy(vit), _vit_batch()[0]) == pytest.approx(ref, rel=1e-9)
    big = torch.full((4, 4), 1e200, dtype=torch.float64)  # its Gram matrix overflows float64
    assert log_nuclear(big) == pytest.approx(math.log(4e200), rel=1e-7)  # rank 1: σ = 4e200
    assert log_abs_sum(big) == pytest.approx(math.log(16e200), rel=1e-12)


@pytest.mark.parametrize("kind", ["hybrid", "cnn"])
def test_hybrid_components_on_seg_nets(kind):
    r = score("hybrid_v1", _seg(kind), _batch(), seed=0)
    assert r.ok, r.error
    for k in H.COMPONENTS:
        assert math.isfinite(r.extra[k]), k
    assert r.value == pytest.approx(H.hybrid_value(r.extra))
    assert (r.extra["attn_share"] > 0) == (kind == "hybrid")


def test_attention_changes_the_dss_term():
    """The attention blocks feed the DSS term; a pure CNN uses the conv SynFlow fallback."""
    hyb = score("dss", _seg("hybrid"), _batch())
    cnn = score("dss", _seg("cnn"), _batch())
    assert hyb.extra["cnn_fallback"] == 0.0 and math.isfinite(hyb.extra["log_attn_diversity"])
    assert cnn.extra["cnn_fallback"] == 1.0


def test_hybrid_on_vit_uses_all_blocks():
    vit, b = _vit(), _vit_batch()
    r1, r2 = score("hybrid_v1", vit, b, seed=1), score("hybrid_v1", vit, b, seed=1)
    assert r1.ok and r1.value == r2.value and math.isfinite(r1.value)
    assert r1.extra["attn_share"] > 0.8
    assert r1.extra["naswot"] > 0  # GELU codes are collected on ViTs


def test_hybrid_ignores_batch_contents():
    net = _seg("hybrid")
    x, y = _batch()
    a = score("hybrid_v1", net, (x, y), seed=0).value
    b = score("hybrid_v1", net, (x * 3 + 1, y), seed=0).value
    assert a == b
