import numpy as np
import pytest

from nascore.arch import example_arch
from nascore.decisions import changed_decisions
from nascore.space import HybridSegSpace


@pytest.fixture(scope="module")
def space():
    return HybridSegSpace()


def test_same_seed_same_samples(space):
    a = [space.sample(np.random.default_rng(7)) for _ in range(2)]
    xs = [space.sample(r) for r in [np.random.default_rng(7)] for _ in range(20)]
    ys = [space.sample(r) for r in [np.random.default_rng(7)] for _ in range(20)]
    assert a[0] == a[1] and xs == ys
    zs = [space.sample(r) for r in [np.random.default_rng(8)] for _ in range(20)]
    assert zs != xs


def test_encode_decode_and_contains(space):
    rng = np.random.default_rng(0)
    ds = space.decisions()
    for _ in range(300):
        a = space.sample(rng)
        enc = space.encode(a)
        assert len(enc) == len(ds) and all(0 <= i < len(d) for i, d in zip(enc, ds))
        assert space.decode(enc) == a and space.contains(a)
    assert [g for g in space.groups()] == ["global", "stage0", "stage1", "stage2", "stage3", "decoder"]
    assert [d.group for d in ds] == sorted((d.group for d in ds), key=space.groups().index)


def test_mutate_changes_exactly_one_decision(space):
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(500):
        a = space.sample(rng)
        b = space.mutate(a, rng)
        changed = changed_decisions(space.encode(a), space.encode(b), space.active(a), space.active(b))
        assert len(changed) == 1 and space.contains(b) and a != b
        seen.add(space.decisions()[changed[0]].name.split(".")[1].rstrip("0123456789"))
    assert {"resolution", "stem_width", "width", "depth", "block", "widths"} <= seen


def test_contains_rejects_foreign_archs(space):
    assert not space.contains("not an arch")
    cnn_only = HybridSegSpace(block_types=("conv", "mbconv"))
    hybrid = example_arch("hybrid", resolution=128)
    assert not cnn_only.contains(hybrid)
    assert not HybridSegSpace(attn_min_stride=16).contains(hybrid)


def test_spans_pure_cnn_and_attention_heavy(space):
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(1000)]
    assert any(a.num_attn_blocks == 0 for a in archs)
    deep = [sum(b.is_attn for st in a.stages[2:] for b in st.blocks) /
            sum(st.depth for st in a.stages[2:]) for a in archs]
    assert sum(d > 0.5 for d in deep) > 50
    # attention never below the stride threshold
    assert all(not b.is_attn for a in archs for st in a.stages[:2] for b in st.blocks)


def test_attention_threshold_is_configurable():
    s = HybridSegSpace(attn_min_stride=4)
    assert any(b.is_attn for b in s.block_choices(1)) and not any(b.is_attn for b in s.block_choices(0))
    rng = np.random.default_rng(0)
    assert any(a.stages[1].blocks[0].is_attn for a in (s.sample(rng) for _ in range(200)))


def test_log10_size_counts_a_small_space():
    s = HybridSegSpace(resolutions=(64,), stem_widths=(8,), widths=((8,), (8,), (8,), (8,)),
                       depths=((1,), (1,), (1,), (1, 2)), kernels=(3,), expands=(2,), heads=(2,),
                       mlp_ratios=(2,), decoder_widths=((8, 8, 8, 8),))
    # stages 0,1: 2 blocks (conv, mbconv); stages 2,3: 3 (+ attn); stage 3 depth 1 or 2
    assert 10 ** s.log10_size() == pytest.approx(2 * 2 * 3 * (3 + 9))
    rng = np.random.default_rng(0)
    assert len({s.sample(rng) for _ in range(2000)}) == 144


def test_bad_space_settings_are_named():
    with pytest.raises(ValueError, match="HybridSegSpace.heads"):
        HybridSegSpace(heads=(3,))
    with pytest.raises(ValueError, match="HybridSegSpace.block_types"):
        HybridSegSpace(block_types=("conv", "rnn"))
    with pytest.raises(ValueError, match=r"stage0\.depth"):
        HybridSegSpace(depths=((1,), (1,), (1,), (1,))).encode(_deep_stage0())
    with pytest.raises(ValueError, match=r"global\.resolution.*out of range"):
        HybridSegSpace().decode([99] + [0] * 26)


def _deep_stage0():
    rng = np.random.default_rng(0)
    s = HybridSegSpace()
    while True:
        a = s.sample(rng)
        if a.stages[0].depth > 1:
            return a
