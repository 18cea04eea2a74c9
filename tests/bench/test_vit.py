"""AutoFormer-Ti ViT builder: shapes, per-layer config, parameter and attention-FLOP counts."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from nascore.bench.vit import Attention, Mlp, build_autoformer_vit, vit_from_gt_row
from nascore.paths import has_data


def _params(m):
    return sum(p.numel() for p in m.parameters())


def test_forward_shape_and_per_layer_modules():
    m = build_autoformer_vit(192, 3, [3.5, 4.0, 3.5], [3, 4, 3], num_classes=100)
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 100)
    assert [b.attn.num_heads for b in m.blocks] == [3, 4, 3]
    assert all(isinstance(b.attn, Attention) and isinstance(b.mlp, Mlp) for b in m.blocks)
    assert m.blocks[1].attn.qkv.out_features == 3 * 4 * 64  # qkv width = heads * 64 (AutoFormer)
    assert m.blocks[0].mlp.fc1.out_features == int(192 * 3.5)
    assert m.num_patches == 64 and m.pos_embed.shape == (1, 65, 192)
    assert build_autoformer_vit(192, 1, 4.0, 3, pool="cls")(torch.zeros(1, 3, 32, 32)).shape == (1, 100)


def test_param_count_formula():
    d, L, r, h, c = 216, 2, [4.0, 3.5], [4, 3], 10
    m = build_autoformer_vit(d, L, r, h, num_classes=c)
    expect = 3 * 16 * d + d + d + 65 * d  # patch conv (w+b), cls token, pos embed
    for ri, hi in zip(r, h):
        q = hi * 64
        hid = int(d * ri)
        expect += 2 * 2 * d + (d * 3 * q + 3 * q) + (q * d + d) + (d * hid + hid) + (hid * d + d)
    expect += 2 * d + d * c + c
    assert _params(m) == expect


@pytest.mark.parametrize("bigger", [dict(hidden_dim=240), dict(depth=3), dict(mlp_ratio=4.0),
                                    dict(num_heads=4)])
def test_params_monotone_in_each_dimension(bigger):
    base = dict(hidden_dim=192, depth=2, mlp_ratio=3.5, num_heads=3)
    assert _params(build_autoformer_vit(**{**base, **bigger})) > _params(build_autoformer_vit(**base))


def test_attention_flops_counted():
    m = build_autoformer_vit(192, 1, 4.0, 3).to("meta")
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        m(torch.zeros(1, 3, 32, 32, device="meta"))
    counts = {str(k): v for k, v in fc.get_flop_counts()["Global"].items()}
    n, d = 65, 3 * 64
    assert counts["aten.bmm"] == 2 * 2 * n * n * d  # QK^T and AV


def test_wrong_config_rejected():
    with pytest.raises(ValueError, match="depth=3"):
        build_autoformer_vit(192, 3, [4.0, 4.0], [3, 3, 3])
    with pytest.raises(ValueError, match="32x32"):
        build_autoformer_vit(192, 1, 4.0, 3)(torch.zeros(1, 3, 16, 16))


def test_from_gt_row():
    if not has_data("nas", "vit_autoprox", "autoprox_gt_autoformer.json"):
        pytest.skip("needs ../shared/data/nas/vit_autoprox: set NASCORE_DATA")
    from nascore.bench.tables import load_autoformer_gt

    g = load_autoformer_gt()
    row = g.iloc[int(g.depth.idxmin())]
    with torch.device("meta"):
        m = vit_from_gt_row(row)
    assert len(m.blocks) == row.depth == 12
    assert tuple(b.attn.num_heads for b in m.blocks) == row.num_heads
    assert 4e6 < _params(m) < 1e7  # AutoFormer-Ti scale (5.7 M at 224 px)
