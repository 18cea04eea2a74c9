"""Transformer knob search: analytic FLOPs, gates, discretisation rules, weight transfer and
search with a high complexity weight."""

import pytest
import torch

from nascore.arch import HybridSegArch
from nascore.blocks import AttnBlock
from nascore.build import build_model
from nascore.cost import count_flops
from nascore.seg.data import make_loader
from nascore.seg.knob_search import search_knobs, transfer_weights
from nascore.seg.knobs import TransformerKnobs, attn_block_flops
from nascore.seg.objective import LossWeights
from nascore.seg.train import TrainConfig, seeded


@pytest.mark.parametrize("dim,heads,mlp,side", [(32, 2, 2, 4), (48, 4, 3, 8), (64, 8, 4, 2)])
def test_analytic_block_flops_match_count_flops(dim, heads, mlp, side):
    blk = AttnBlock(2, dim, heads, mlp)
    assert attn_block_flops(dim, heads, mlp, side * side) == count_flops(blk, (1, dim, side, side))


def test_expected_flops_at_open_gates_equal_the_model_flops(arch):
    with seeded(0):
        model = build_model(arch, 1, 1)
    knobs = TransformerKnobs(model, init_keep=40.0, attach=False)  # (gate maths would count)
    assert knobs.full_flops == count_flops(model, (1, 1, 32, 32))
    assert knobs.expected_flops().item() == pytest.approx(knobs.full_flops, rel=1e-6)
    assert [(b.stage, b.index) for b in knobs.infos] == [(2, 1), (3, 0), (3, 1)]


def test_gates_are_set_per_forward_and_hard_open_gates_change_nothing(arch):
    with seeded(0):
        model = build_model(arch, 1, 1).eval()
    x = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    ref = model(x, return_aux=True)[1]  # the aux head sees the deepest (attention) features
    knobs = TransformerKnobs(model, init_keep=3.0, mode="st")
    out = model(x, return_aux=True)[1]
    blk = next(model.attn_blocks())
    assert blk.layer_gate is not None and blk.mlp.hidden_gate.shape == (32 * 4,)
    assert torch.allclose(out, ref, atol=1e-6)  # hard gates all open
    knobs.mode = "soft"
    with torch.no_grad():
        for lg in knobs.layer_logits:
            lg.zero_()
    assert not torch.allclose(model(x, return_aux=True)[1], ref, atol=1e-4)  # half-open layers
    knobs.detach()
    assert blk.layer_gate is None and blk.attn.head_gate is None
    assert torch.allclose(model(x, return_aux=True)[1], ref, atol=1e-6)


def test_mlp_gate_keeps_a_prefix_of_hidden_units(arch):
    knobs = TransformerKnobs(build_model(arch, 1, 1), init_keep=1.0, attach=False)
    assert knobs.infos[0].ratios == (2, 3, 4)
    g = knobs.gates()[0]["hidden"].detach()
    assert torch.all(g[:64] == 1.0)  # every ratio keeps the first 2·C units
    assert torch.all(g[1:] <= g[:-1] + 1e-7) and g[-1] < g[64] < 1.0


def test_discretise_rules(arch):
    knobs = TransformerKnobs(build_model(arch, 1, 1), init_keep=2.0, attach=False)
    with torch.no_grad():
        # block (2, 1): keep, 1 of 2 heads kept, MLP ratio 3
        knobs.head_logits[0].copy_(torch.tensor([3.0, -3.0]))
        knobs.mlp_logits[0].copy_(torch.tensor([0.0, 5.0, 0.0]))
        # stage 3: both attention blocks drop; (3, 1) has the higher keep prob
        knobs.layer_logits[1].copy_(torch.tensor([2.0, -2.0]))
        knobs.layer_logits[2].copy_(torch.tensor([1.0, -1.0]))
    new, block_map, dec = knobs.discretise()
    assert isinstance(new, HybridSegArch)
    assert [s.short() for s in new.stages[2].blocks] == ["mb3e2", "a2m3"]  # 1 head -> nearest 2
    assert new.stages[3].depth == 1 and block_map[3] == [1]
    assert dec[2]["forced"] and not dec[1]["forced"]
    # rounding to allowed counts: 3 heads kept out of 8 -> tie between 2 and 4 goes to 4
    a8 = arch.__class__.from_dict({**arch.to_dict(), "stages": [
        s if i < 3 else {"width": 32, "blocks": [{"type": "attn", "heads": 8, "mlp_ratio": 2}]}
        for i, s in enumerate(arch.to_dict()["stages"])]})
    k8 = TransformerKnobs(build_model(a8, 1, 1), attach=False)
    with torch.no_grad():
        k8.head_logits[-1].copy_(torch.tensor([3.0] * 3 + [-3.0] * 5))
    assert k8.discretise()[0].stages[3].blocks[0].heads == 4


def test_transfer_weights_slices_mlp_and_remaps_blocks(arch):
    knobs = TransformerKnobs(build_model(arch, 1, 1), attach=False)
    with torch.no_grad():
        knobs.layer_logits[1].copy_(torch.tensor([3.0, -3.0]))  # drop block (3, 0)
        knobs.mlp_logits[2].copy_(torch.tensor([5.0, 0.0, 0.0]))  # block (3, 1): ratio 2
    new, block_map, _ = knobs.discretise()
    assert block_map == [[0], [0], [0, 1], [1]]
    src = knobs._model[0]
    dst = build_model(new, 1, 1)
    transfer_weights(src, dst, block_map)
    s_blk, d_blk = src.stages[3][2], dst.stages[3][1]
    assert torch.equal(d_blk.mlp.fc1.weight, s_blk.mlp.fc1.weight[:64])
    assert torch.equal(d_blk.mlp.fc2.weight, s_blk.mlp.fc2.weight[:, :64])
    assert torch.equal(d_blk.attn.qkv.weight, s_blk.attn.qkv.weight)
    assert torch.equal(dst.head.conv.conv.weight, src.head.conv.conv.weight)


def test_search_with_high_complexity_weight_gives_a_smaller_valid_arch(arch, records):
    loader = make_loader(records[:8], 32, batch_size=4, train=True, seed=0)
    new, rep = search_knobs(arch, loader, steps=6, w_complexity=50.0, arch_lr=0.5, init_keep=1.0,
                            seed=0, device="cpu")
    assert isinstance(new, HybridSegArch) and HybridSegArch.from_json(new.to_json()) == new
    assert rep["flops_after"] < rep["flops_before"]
    assert rep["params_after"] < rep["params_before"]
    assert rep["flops_after"] == count_flops(build_model(new, 1, 1), (1, 1, 32, 32))
    assert new.num_attn_blocks < arch.num_attn_blocks
    assert all(st.depth >= 1 for st in new.stages)
    assert len(rep["history"]) == 6 and rep["history"][-1]["complexity"] < rep["history"][0]["complexity"]
    assert build_model(new, 1, 1)(torch.zeros(1, 1, 32, 32)).shape == (1, 1, 32, 32)
    # without complexity pressure and with strong keep logits nothing is pruned
    same, rep0 = search_knobs(arch, loader, weights=LossWeights(complexity=0.0, entropy=0.0),
                              config=TrainConfig(steps=2, arch_lr=0.01, seed=0, device="cpu",
                                                 progress=False), init_keep=4.0)
    assert same == arch and rep0["flops_after"] == rep0["flops_before"]
    assert rep0["objective"]["w_complexity"] == 0.0 and len(rep0["history"]) == 2
    with pytest.raises(TypeError, match="w_complexty"):
        search_knobs(arch, loader, w_complexty=1.0)


def _mixed_arch():
    """Every attention block shares its stage with a conv block (so all of them may go)."""
    from nascore.arch import BlockSpec, StageSpec

    c3, mb = BlockSpec("conv", 3), BlockSpec("mbconv", 3, expand=2)
    a = BlockSpec("attn", heads=2, mlp_ratio=4)
    return HybridSegArch(resolution=32, stem_width=8,
                         stages=(StageSpec(8, (c3,)), StageSpec(16, (mb,)), StageSpec(32, (mb, a)),
                                 StageSpec(32, (mb, a, a))), decoder_widths=(32, 16, 8, 8))


def _drop_all(knobs):
    with torch.no_grad():
        for k, lg in enumerate(knobs.layer_logits):
            lg.copy_(torch.tensor([1.0 + k, -1.0 - k]))  # later blocks drop more surely


def test_min_attn_blocks_keeps_the_most_likely_attention_block():
    knobs = TransformerKnobs(build_model(_mixed_arch(), 1, 1), attach=False)
    _drop_all(knobs)
    new, _, dec = knobs.discretise()  # default min_attn_blocks=1
    assert new.num_attn_blocks == 1 and dec[0]["forced"] and dec[0]["reason"] == "min_attn_blocks"
    assert knobs.last_discretisation["min_attn_met"] and knobs.last_discretisation["note"] == ""
    new2, _, _ = knobs.discretise(min_attn_blocks=2)
    assert new2.num_attn_blocks == 2
    new0, _, _ = knobs.discretise(min_attn_blocks=0)
    assert new0.num_attn_blocks == 0 and "NO attention" in knobs.last_discretisation["note"]
    with pytest.raises(ValueError, match="min_attn_blocks"):
        knobs.discretise(min_attn_blocks=-1)


def test_discretise_repairs_or_flags_the_flops_budget():
    arch = _mixed_arch()
    model = build_model(arch, 1, 1)
    knobs = TransformerKnobs(model, attach=False)  # all open: the arch as it is
    full = knobs.discrete_flops(knobs.decisions())
    assert full == count_flops(model, (1, 1, 32, 32))
    new, _, _ = knobs.discretise(flops_budget=full)
    assert new == arch and knobs.last_discretisation["budget_met"] is True
    assert knobs.last_discretisation["budget_steps"] == []
    budget = knobs.fixed_flops + (full - knobs.fixed_flops) * 0.5
    new, _, _ = knobs.discretise(flops_budget=budget)
    info = knobs.last_discretisation
    assert info["budget_met"] and info["budget_steps"] and new.num_attn_blocks >= 1
    assert count_flops(build_model(new, 1, 1), (1, 1, 32, 32)) == info["flops"] <= budget
    # below the floor (fixed FLOPs + the cheapest attention block): flagged, never silent
    new, _, _ = knobs.discretise(flops_budget=knobs.fixed_flops)
    info = knobs.last_discretisation
    assert info["budget_met"] is False and "NOT met" in info["note"]
    assert new.num_attn_blocks == 1 and info["flops"] > knobs.fixed_flops
    # with min_attn_blocks=0 the same budget is met by dropping every attention block
    new, _, _ = knobs.discretise(min_attn_blocks=0, flops_budget=knobs.fixed_flops)
    assert knobs.last_discretisation["budget_met"] and new.num_attn_blocks == 0
    assert "NO attention" in knobs.last_discretisation["note"]


def test_search_report_records_budget_and_attention(arch, records):
    loader = make_loader(records[:4], 32, batch_size=4, train=True, seed=0)
    probe = TransformerKnobs(build_model(arch, 1, 1), attach=False)
    new, rep = search_knobs(arch, loader, steps=1, seed=0, device="cpu",
                            flops_budget=probe.fixed_flops)
    assert rep["budget_met"] is False and "NOT met" in rep["note"]
    assert rep["flops_after"] > rep["flops_budget"] and rep["n_attn_after"] >= 1
    assert rep["n_attn_before"] == 3 and rep["attention_removed"] is False


def test_an_attention_block_of_another_registered_type_is_kept_not_searched(arch):
    """A user's attention-role block type (not an AttnBlock: no gates) no longer breaks the
    knob search: it is kept as it is, its FLOPs count as fixed, and the AttnBlocks are searched."""
    import dataclasses

    from torch import nn

    from nascore.arch import BlockSpec, StageSpec
    from nascore.block_types import BLOCKS, register_block
    from nascore.blocks import BLOCK_BUILDERS, register_builder

    class TokenMixer(nn.Module):  # an attention-role block of another design
        def __init__(self, spec, spatial_dims, dim, norm="batch"):
            super().__init__()
            self.mix = nn.Conv2d(dim, dim, 1)

        def forward(self, x):
            return x + self.mix(x)

    register_block("mixer_t", knobs=("heads",), label="mx{heads}", role="attn", colour="#000000")
    register_builder("mixer_t", TokenMixer)
    try:
        st = list(arch.stages)
        st[3] = StageSpec(st[3].width, (BlockSpec("mixer_t", heads=2),) + st[3].blocks)
        a = dataclasses.replace(arch, stages=tuple(st))
        with seeded(0):
            model = build_model(a, 1, 1)
        knobs = TransformerKnobs(model, init_keep=40.0, attach=False)
        assert knobs.fixed_attn == [(3, 0, "mixer_t")]
        assert [(b.stage, b.index) for b in knobs.infos] == [(2, 1), (3, 1), (3, 2)]
        assert knobs.expected_flops().item() == pytest.approx(knobs.full_flops, rel=1e-6)
        new, block_map, _ = knobs.discretise(min_attn_blocks=1)
        assert new.stages[3].blocks[0] == BlockSpec("mixer_t", heads=2) and block_map[3][0] == 0
        only = dataclasses.replace(a, stages=tuple(st[:2]) + (StageSpec(st[2].width, st[2].blocks[:1]),
                                                              StageSpec(st[3].width, st[3].blocks[:1])))
        with seeded(0):
            m2 = build_model(only, 1, 1)
        with pytest.raises(ValueError, match="no gates to search"):
            TransformerKnobs(m2, attach=False)
    finally:
        BLOCK_BUILDERS.unregister("mixer_t")
        BLOCKS.unregister("mixer_t")
