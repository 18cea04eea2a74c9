"""Baselines: registry, construction and forward passes at 64 px, the HCT-Net-like arch."""

import pytest
import torch

from nascore.arch import example_arch
from nascore.build import HybridSegNet, build_model
from nascore.cost import count_flops, count_params
from nascore.seg.baselines import BASELINES, build_baseline, hctnet_like_arch
from nascore.space import HybridSegSpace


def test_registry_names():
    assert BASELINES.names()[:5] == ["hctnet_like", "unet", "swinunetr", "unetr", "dynunet"]
    with pytest.raises(KeyError, match="nope"):
        build_baseline("nope", 1, 1, 64)


@pytest.mark.parametrize("name", BASELINES.names())
def test_baselines_build_and_forward_at_64px(name):
    b = build_baseline(name, 3, 1, 64)
    assert b.name == name
    with torch.no_grad():  # eval: deep-supervised models give their full-resolution head only
        y = b.model.eval()(torch.zeros(2, 3, 64, 64))
    y = y[0] if isinstance(y, tuple) else y
    assert y.shape == (2, 1, 64, 64)
    assert count_params(b.model) > 5e5  # sized like real models, not toys
    assert (b.arch is not None) == (name == "hctnet_like")


def test_hctnet_like_is_a_hand_design_in_the_space():
    arch = hctnet_like_arch(128)
    assert HybridSegSpace().contains(arch)
    assert arch.widths == (32, 64, 128, 256) and arch.depths == (2, 2, 2, 4)
    assert [b.short() for b in arch.stages[3].blocks] == ["a8m4"] * 4
    assert all(not b.is_attn for s in arch.stages[:3] for b in s.blocks)
    model = build_baseline("hctnet_like", 1, 1, 64).model
    assert isinstance(model, HybridSegNet) and model.aux_head is not None
    small = build_model(example_arch("hybrid", 64), 1, 1)
    assert count_flops(small, (1, 1, 64, 64)) < 0.5 * count_flops(model, (1, 1, 64, 64))


def test_size_checks():
    with pytest.raises(ValueError, match="img_size"):
        build_baseline("swinunetr", 1, 1, 48)
    with pytest.raises(ValueError, match="img_size"):
        build_baseline("unetr", 1, 1, 40)


def _last_leaf(model, x):
    """The last leaf module that ran in ``model(x)``."""
    order = []
    hooks = [m.register_forward_hook(lambda mod, i, o: order.append(mod))
             for m in model.modules() if not list(m.children())]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return order[-1]


def test_unet_output_layer_is_a_plain_conv():
    """MONAI UNet's own top layer ends in norm + activation + identity skip, which made the
    baseline collapse in an earlier run; its logits now come from a plain 1x1 conv with a bias."""
    from monai.networks.nets import UNet

    m = build_baseline("unet", 3, 1, 64).model.eval()
    last = _last_leaf(m, torch.zeros(1, 3, 64, 64))
    assert type(last) is torch.nn.Conv2d and last is m.head and last.bias is not None
    assert last.kernel_size == (1, 1) and last.out_channels == 1
    # the bias moves every logit: a uniform background prior is reachable
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y0 = m(x)
        m.head.bias.sub_(5.0)
        assert torch.allclose(m(x), y0 - 5.0, atol=1e-5)
    # plain MONAI UNet with out_channels=1: its top decoder layer normalises a 1-channel map
    raw = UNet(2, 3, 1, (16, 32, 64, 128, 256), (2, 2, 2, 2), num_res_units=2)
    top = raw.model[-1]  # the top up layer: Sequential(Convolution(transposed, norm, act), RU)
    assert any("InstanceNorm" in type(mod).__name__ for mod in top[0].modules())
