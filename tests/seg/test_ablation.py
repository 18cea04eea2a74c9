"""The loss-term ablation: variant weights, a tiny run, its table and figure."""

import math

import pytest

from nascore.seg.ablation import VARIANTS, ablation_table, run_loss_ablation, variant_weights
from nascore.seg.data import make_loaders
from nascore.seg.objective import LossWeights
from nascore.seg.pipeline import SegPipelineConfig


def test_variant_weights_switch_terms_off():
    base = LossWeights(dice=1.0, transformer=0.4, complexity=1.0, entropy=0.05)
    got = {v: variant_weights(base, v).as_dict() for v in VARIANTS}
    assert got["dice_ce"] == {"dice": 1.0, "transformer": 0.0, "complexity": 0.0, "entropy": 0.0}
    assert got["+transformer"]["transformer"] == 0.4 and got["+transformer"]["complexity"] == 0.0
    assert got["+complexity"]["complexity"] == 1.0 and got["+complexity"]["entropy"] == 0.0
    assert got["+entropy"]["entropy"] == 0.05 and got["+entropy"]["transformer"] == 0.0
    assert got["all"] == base.as_dict()
    with pytest.raises(ValueError, match="dice_ce"):
        variant_weights(base, "bogus")


def test_tiny_ablation_run_table_and_figure(arch, records):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nascore.plots.seg import loss_ablation

    cfg = SegPipelineConfig.smoke(search_steps=1)
    loaders = lambda seed: make_loaders(records, 32, cfg.batch_size, cfg.fractions, cfg.split_seed,
                                        seed=seed)
    rows, cases = run_loss_ablation(arch, loaders, cfg, 1, None, variants=("dice_ce", "+entropy"))
    assert list(rows["variant"]) == ["dice_ce", "+entropy"] and (rows["seed"] == 0).all()
    assert (rows["flops_after"] <= rows["flops_before"]).all() and (rows["n_attn_after"] >= 1).all()
    assert rows["gate_entropy"].between(0, 1).all()  # logged even when the term is off
    assert rows["steps"].nunique() == 1
    assert set(cases["model"]) == {"ablation:dice_ce", "ablation:+entropy"}
    t = ablation_table(rows, cases)
    assert list(t["variant"]) == ["dice_ce", "+entropy"]
    assert math.isnan(t.loc[0].get("dice_tumor_diff", math.nan))  # the reference itself
    assert "dice_tumor_diff_ci95_lo" in t.columns
    fig = loss_ablation(t)
    assert len(fig.axes) == 3
    plt.close(fig)
