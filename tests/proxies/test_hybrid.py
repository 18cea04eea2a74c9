"""The project's ``hybrid`` proxy: components, determinism, CNN / hybrid / ViT coverage."""

import math

import pytest
import torch

from nascore.arch import example_arch
from nascore.bench.vit import build_autoformer_vit
from nascore.build import build_model
from nascore.proxies import score
from nascore.proxies import hybrid as H


def _seg(kind):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return build_model(example_arch(kind, 32), 3, 1)


def _batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(4, 3, 32, 32, generator=g), torch.randint(0, 2, (4, 1, 32, 32), generator=g)


def test_constants_cover_every_component():
    assert set(H.WEIGHTS) == set(H.CENTER) == set(H.SCALE) == set(H.COMPONENTS)
    assert all(s > 0 for s in H.SCALE.values())


@pytest.mark.parametrize("kind", ["hybrid", "cnn"])
def test_hybrid_components_on_seg_nets(kind):
    r = score("hybrid", _seg(kind), _batch(), seed=0)
    assert r.ok, r.error
    for k in H.COMPONENTS:
        assert math.isfinite(r.extra[k]), k
    assert r.value == pytest.approx(H.hybrid_value(r.extra))


def test_attention_changes_the_dss_term():
    """The attention blocks feed the DSS term; a pure CNN uses the conv SynFlow fallback."""
    hyb = score("dss", _seg("hybrid"), _batch())
    cnn = score("dss", _seg("cnn"), _batch())
    assert hyb.extra["cnn_fallback"] == 0.0 and math.isfinite(hyb.extra["log_attn_diversity"])
    assert cnn.extra["cnn_fallback"] == 1.0


def test_hybrid_on_vit_uses_all_blocks():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        vit = build_autoformer_vit(24, 3, 2.0, 2, num_classes=10, img_size=16, patch_size=4, head_dim=8)
    b = (torch.randn(4, 3, 16, 16), torch.zeros(4, dtype=torch.long))
    r1, r2 = score("hybrid", vit, b, seed=1), score("hybrid", vit, b, seed=1)
    assert r1.ok and r1.value == r2.value
    assert r1.extra["naswot"] > 0  # GELU codes are collected on ViTs


def test_hybrid_ignores_batch_contents():
    net = _seg("hybrid")
    x, y = _batch()
    a = score("hybrid", net, (x, y), seed=0).value
    b = score("hybrid", net, (x * 3 + 1, y), seed=0).value
    assert a == b
