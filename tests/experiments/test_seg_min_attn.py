"""The min_attn_blocks constraint of notebook 03's hybrid search, and how notebook 04 reports a
knob search that broke a promise (over budget, no attention left)."""

import pytest

from nascore.experiments import search_hybrid as SH
from nascore.experiments import seg_finetune as sf


def _cnn_and_hybrid():
    from nascore.arch import BlockSpec, HybridSegArch, StageSpec

    c3 = BlockSpec("conv", 3)
    a = BlockSpec("attn", heads=2, mlp_ratio=2)
    mk = lambda last: HybridSegArch(resolution=64, stem_width=8, stages=(
        StageSpec(8, (c3,)), StageSpec(16, (c3,)), StageSpec(32, (c3,)), StageSpec(32, last)),
        decoder_widths=(32, 16, 8, 8))
    return mk((c3,)), mk((c3, a))


def test_min_attn_blocks_is_a_hard_constraint_of_the_hybrid_search():
    cnn, hyb = _cnn_and_hybrid()
    cost_fn = SH.SegCostFn(1, 1)
    c_cnn, c_hyb = cost_fn(cnn), cost_fn(hyb)
    assert c_cnn["minus_n_attn"] == 0 and c_hyb["minus_n_attn"] == -1
    big = dict(flops_budget_frac=100.0)  # only the attention bound matters here
    on = SH.HybridSearchConfig(min_attn_blocks=1, **big).constraints()
    assert "minus_n_attn" in on.check(c_cnn) and on.check(c_hyb) is None
    two = SH.HybridSearchConfig(min_attn_blocks=2, **big).constraints()
    assert two.check(c_hyb) is not None
    off = SH.HybridSearchConfig(min_attn_blocks=0, **big).constraints()
    assert off.check(c_cnn) is None
    assert SH.HybridSearchConfig().budget_info()["min_attn_blocks"] == 1


def test_search_notes_report_broken_promises():
    ok = {"budget_met": True, "attention_removed": False, "flops_after": 1e6, "flops_budget": 2e6}
    assert sf.search_notes(ok) == []
    bad = dict(ok, budget_met=False, flops_after=3e6, attention_removed=True, min_attn_blocks=0)
    notes = sf.search_notes(bad)
    assert any("3.0 M > 2.0 M" in n for n in notes) and any("no attention" in n for n in notes)
