"""Attention replaced by conv blocks of matched FLOPs."""

import pytest

from nascore.build import build_model
from nascore.cost import count_flops
from nascore.seg.attn_swap import replace_attention


def test_replacement_matches_flops_block_by_block(arch):
    new, rep = replace_attention(arch)
    assert new.num_attn_blocks == 0 and arch.num_attn_blocks == len(rep["blocks"]) == 3
    # non-attention blocks, widths and the decoder are untouched
    for a, b in zip(arch.stages, new.stages):
        assert a.width == b.width and a.depth == b.depth
        assert all(x == y for x, y in zip(a.blocks, b.blocks) if not x.is_attn)
    assert new.decoder_widths == arch.decoder_widths
    # the whole-net FLOPs are the counted ones and move by exactly the block differences
    assert rep["flops_after"] == count_flops(build_model(new, 1, 1), (1, 1, 32, 32))
    delta = sum(r["replacement_flops"] - r["attn_flops"] for r in rep["blocks"])
    assert rep["flops_after"] - rep["flops_before"] == delta
    assert rep["matched"] == (abs(rep["flops_ratio"] - 1) <= 0.10)
    assert (rep["note"] == "") == rep["matched"]
    # each choice is the closest of the space's conv/MBConv blocks
    from nascore.space import HybridSegSpace
    from nascore.seg.attn_swap import _block_flops

    r0 = rep["blocks"][0]
    cands = [b for b in HybridSegSpace().block_choices(r0["stage"]) if not b.is_attn]
    gaps = [abs(_block_flops(c, 32, 4) - r0["attn_flops"]) for c in cands]
    assert abs(r0["replacement_flops"] - r0["attn_flops"]) == min(gaps)


def test_unreachable_tolerance_is_said(arch):
    _, rep = replace_attention(arch, tol=1e-9)
    assert rep["matched"] is False and "not matched" in rep["note"]


def test_needs_attention(arch):
    new, _ = replace_attention(arch)
    with pytest.raises(ValueError, match="no attention"):
        replace_attention(new)
