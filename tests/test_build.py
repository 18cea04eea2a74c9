import numpy as np
import pytest
import torch

from nascore.arch import example_arch
from nascore.blocks import AttnBlock
from nascore.build import build_model
from nascore.space import HybridSegSpace

SMALL = HybridSegSpace(resolutions=(32,), stem_widths=(4, 8), widths=((8, 16), (8, 16), (16, 32), (16, 32)),
                       depths=((1, 2), (1, 2), (1, 2), (1, 2)), decoder_widths=((16, 8, 8, 4), (8, 8, 4, 4)))


def test_200_seeded_samples_build_and_run():
    """200 seeded samples of a scaled-down copy of the space (same block types and knobs)."""
    rng = np.random.default_rng(0)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        for _ in range(200):
            arch = SMALL.sample(rng)
            net = build_model(arch, 3, 2).eval()
            y = net(x)
            assert y.shape == (1, 2, 32, 32) and torch.isfinite(y).all()


def test_default_space_samples_build_at_small_resolution():
    rng = np.random.default_rng(1)
    space = HybridSegSpace()
    for _ in range(6):
        arch = space.sample(rng)
        y = build_model(arch, 1, 1).eval()(torch.randn(1, 1, 32, 32))
        assert y.shape == (1, 1, 32, 32)


@pytest.mark.parametrize("kind", ["cnn", "hybrid"])
def test_3d_builds(kind):
    net = build_model(example_arch(kind), 2, 3, spatial_dims=3)
    logits, aux = net(torch.randn(2, 2, 16, 32, 16), return_aux=True)
    assert logits.shape == aux.shape == (2, 3, 16, 32, 16)


def test_aux_head_and_gradients():
    net = build_model(example_arch("hybrid"), 1, 1)
    logits, aux = net(torch.randn(2, 1, 32, 32), return_aux=True)
    (logits.mean() + aux.mean()).backward()
    assert all(p.grad is not None for p in net.parameters())
    assert len(list(net.attn_blocks())) == 3


def test_layer_gate_zero_removes_attention_block():
    blk = AttnBlock(2, 16, 2, 2).eval()
    x = torch.randn(1, 16, 4, 4)
    blk.layer_gate = torch.tensor(0.0)
    assert torch.equal(blk(x), x)
    blk.layer_gate = None
    blk.attn.head_gate = torch.ones(2)
    y1 = blk(x)
    blk.attn.head_gate = None
    assert torch.allclose(y1, blk(x))


def test_bad_input_size_is_explained():
    net = build_model(example_arch("cnn"), 1, 1)
    with pytest.raises(ValueError, match="divisible by 16"):
        net(torch.randn(1, 1, 40, 40))
    with pytest.raises(TypeError, match="HybridSegArch"):
        build_model({"resolution": 64}, 1, 1)
