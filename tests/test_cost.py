import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nascore.blocks import AttnBlock, MHSA
from nascore.build import build_model
from nascore.cost import count_flops, count_params, measure_latency
from nascore.space import HybridSegSpace

pytestmark = pytest.mark.numeric_pin  # rerun under scalar kernels by .ci/run


def test_conv_flops_analytic():
    conv = nn.Conv2d(4, 8, 3, padding=1, bias=False)
    assert count_flops(conv, (2, 4, 16, 16)) == 2 * 2 * 4 * 8 * 9 * 16 * 16
    conv3d = nn.Conv3d(2, 4, 3, padding=1)
    assert count_flops(conv3d, (1, 2, 4, 4, 4)) == 2 * 2 * 4 * 27 * 64


def test_attention_flops_analytic():
    n, c, h, m = 64, 32, 4, 2
    mhsa = MHSA(c, h)
    core = 2 * n * c * 3 * c + 2 * 2 * n * n * c + 2 * n * c * c  # qkv, QK^T and AV, proj
    assert count_flops(mhsa, (1, n, c)) == core
    blk = AttnBlock(2, c, h, m)  # + PEG depthwise 3x3 + MLP
    assert count_flops(blk, (1, c, 8, 8)) == core + 2 * c * 9 * n + 2 * 2 * n * c * m * c


def test_fused_sdpa_is_counted():
    class S(nn.Module):
        def forward(self, x):
            return F.scaled_dot_product_attention(x, x, x)

    assert count_flops(S(), (1, 2, 64, 16)) == 2 * 2 * (2 * 64 * 64 * 16)


def test_params_and_mode_restored():
    lin = nn.Linear(3, 4)
    assert count_params(lin) == 16
    lin.weight.requires_grad_(False)
    assert count_params(lin) == 4 and count_params(lin, trainable_only=False) == 16
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)).train()
    count_flops(net, (2, 1, 8, 8))
    measure_latency(net, (1, 1, 8, 8), repeats=2, warmup=0)
    assert net.training


def test_latency_has_median_and_spread():
    out = measure_latency(nn.Conv2d(1, 4, 3), (1, 1, 32, 32), repeats=5)
    assert set(out) >= {"median_ms", "iqr_ms", "min_ms"} and out["median_ms"] >= out["min_ms"] > 0
    with pytest.raises(ValueError, match="repeats"):
        measure_latency(nn.Conv2d(1, 4, 3), (1, 1, 8, 8), repeats=0)


@pytest.mark.slow
def test_space_spans_small_to_large():
    """Params over 1,000 samples and FLOPs over 300 differ >= 10x between p5 and p95."""
    space = HybridSegSpace()
    rng = np.random.default_rng(0)
    params, flops = [], []
    for i in range(1000):
        arch = space.sample(rng)
        with torch.device("meta"):
            net = build_model(arch, 3, 1)
        params.append(count_params(net))
        if i < 300:
            flops.append(count_flops(net, (1, 3, arch.resolution, arch.resolution)))
    for v in (params, flops):
        assert np.percentile(v, 95) / np.percentile(v, 5) >= 10
