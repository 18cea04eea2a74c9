"""Fixtures of the nascore.seg tests: a tiny hybrid arch and tiny synthetic records."""

import pytest

from nascore.arch import BlockSpec, HybridSegArch, StageSpec


def tiny_arch(resolution: int = 32, mlp_ratio: int = 4, heads: int = 2) -> HybridSegArch:
    """Attention at strides 8 (after an MBConv) and 16 (two blocks, attention only)."""
    c3, mb = BlockSpec("conv", 3), BlockSpec("mbconv", 3, expand=2)
    a = BlockSpec("attn", heads=heads, mlp_ratio=mlp_ratio)
    return HybridSegArch(resolution=resolution, stem_width=8,
                         stages=(StageSpec(8, (c3,)), StageSpec(16, (mb,)), StageSpec(32, (mb, a)),
                                 StageSpec(32, (a, a))),
                         decoder_widths=(32, 16, 8, 8))


@pytest.fixture
def arch():
    return tiny_arch()


@pytest.fixture
def records():
    from data_prep import make_synthetic

    return make_synthetic(n_patients=6, slices_per_patient=3, size=32, seed=0)


@pytest.fixture
def make_arch():
    """The :func:`tiny_arch` factory."""
    return tiny_arch


@pytest.fixture(autouse=True)
def _one_thread():
    """These tiny tensors gain nothing from intra-op threads, and on a busy machine the
    thread hand-offs dominate; restored after each test."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
