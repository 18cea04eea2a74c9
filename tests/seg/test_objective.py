"""SegObjective: each term's value and gradient behaviour, switching terms off, logging."""

import math

import pytest
import torch

from nascore.build import build_model
from nascore.seg.knobs import TransformerKnobs
from nascore.seg.objective import TERMS, LossWeights, SegObjective
from nascore.seg.train import seeded


@pytest.fixture
def setup(arch):
    with seeded(0):
        model = build_model(arch, 1, 1)
    knobs = TransformerKnobs(model, init_keep=0.0)
    x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    y = (x > 0.6).float()
    return model, knobs, x, y


def test_entropy_is_highest_at_uniform(setup):
    _, knobs, _, _ = setup
    for lg in knobs.mlp_logits:
        assert len(lg) == 3  # ratios 2, 3, 4
        lg.data.zero_()
    assert knobs.entropy().item() == pytest.approx(1.0, abs=1e-6)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        for p in knobs.parameters():
            p.data = torch.randn(p.shape, generator=gen)
        assert knobs.entropy().item() < 1.0 - 1e-4
    for p in knobs.parameters():  # near-deterministic choices: entropy near 0
        p.data = torch.where(torch.arange(p.numel()) == p.numel() - 1, 30.0, -30.0)
    assert knobs.entropy().item() < 1e-6


def test_minimising_entropy_pushes_away_from_uniform(setup):
    _, knobs, _, _ = setup
    knobs.layer_logits[0].data = torch.tensor([0.0, 0.3])   # keep prob slightly above 0.5
    knobs.head_logits[0].data = torch.tensor([-0.2, 0.2])
    p0 = knobs.layer_probs()[0].item()
    h0 = knobs.head_probs()[0].detach().clone()
    opt = torch.optim.SGD(knobs.parameters(), lr=20.0)
    for _ in range(3):
        opt.zero_grad()
        knobs.entropy().backward()
        opt.step()
    assert knobs.layer_probs()[0].item() > p0 + 0.01
    h1 = knobs.head_probs()[0].detach()
    assert h1[0] < h0[0] and h1[1] > h0[1]


def test_complexity_gradient_reduces_expected_flops(setup):
    model, knobs, x, y = setup
    obj = SegObjective(w_dice=0, w_transformer=0, w_complexity=1.0, w_entropy=0)
    e0 = knobs.expected_flops().item()
    total, terms = obj(model(x), y, None, knobs)
    assert terms["complexity"] == pytest.approx(e0 / knobs.full_flops, rel=1e-5)
    total.backward()
    for lg in knobs.layer_logits:  # keep logit has a positive gradient: descent drops layers
        assert lg.grad[1] > 0 > lg.grad[0]
    for lg in knobs.mlp_logits:  # the largest ratio is pushed down most
        assert lg.grad[-1] > lg.grad[0]
    opt = torch.optim.SGD(knobs.parameters(), lr=1.0)
    opt.step()
    assert knobs.expected_flops().item() < e0


def test_complexity_hinge_is_zero_under_budget(setup):
    model, knobs, x, y = setup
    obj = SegObjective(w_dice=0, w_transformer=0, w_complexity=1.0, w_entropy=0,
                       flops_budget=2 * knobs.full_flops, complexity_mode="hinge")
    total, terms = obj(model(x), y, None, knobs)
    assert terms["complexity"] == 0.0
    total.backward()
    assert all(lg.grad is None or not lg.grad.any() for lg in knobs.layer_logits)
    tight = SegObjective(w_dice=0, w_transformer=0, w_complexity=1.0, w_entropy=0,
                         flops_budget=knobs.full_flops / 2, complexity_mode="hinge")
    assert tight(model(x), y, None, knobs)[1]["complexity"] > 0


@pytest.mark.parametrize("off", [0, None])
def test_switched_off_terms_add_nothing_but_are_logged(setup, off):
    model, knobs, x, y = setup
    logits, aux = model(x, return_aux=True)
    full = SegObjective(w_dice=1, w_transformer=0.4, w_complexity=2.0, w_entropy=0.5)
    part = SegObjective(w_dice=1, w_transformer=0.4, w_complexity=off, w_entropy=off)
    t_full, terms_full = full(logits, y, aux, knobs)
    t_part, terms_part = part(logits, y, aux, knobs)
    assert set(terms_part) == set(TERMS) | {"total"}
    for k in TERMS:  # every term is still computed and logged
        assert math.isfinite(terms_part[k]) and terms_part[k] == pytest.approx(terms_full[k])
    assert t_part.item() == pytest.approx(terms_part["dice"] + 0.4 * terms_part["transformer"], rel=1e-5)
    assert t_full.item() == pytest.approx(
        t_part.item() + 2.0 * terms_full["complexity"] + 0.5 * terms_full["entropy"], rel=1e-5)
    # without knobs / aux the terms are NaN-logged and add nothing
    t, terms = SegObjective()(logits, y)
    assert math.isnan(terms["transformer"]) and math.isnan(terms["complexity"])
    assert t.item() == pytest.approx(terms["dice"], rel=1e-6)
    with pytest.raises(ValueError, match="transformer"):
        SegObjective(strict=True)(logits, y)


def test_transformer_term_supervises_the_aux_head(setup):
    model, knobs, x, y = setup
    knobs.detach()
    for w, expect_grad in ((0.0, False), (0.4, True)):
        model.zero_grad(set_to_none=True)
        logits, aux = model(x, return_aux=True)
        total, _ = SegObjective(w_transformer=w, w_complexity=0, w_entropy=0)(logits, y, aux)
        total.backward()
        g = model.aux_head.conv.conv.weight.grad
        assert (g is not None and g.abs().sum() > 0) == expect_grad


def test_dice_term_matches_monai_dicece(setup):
    from monai.losses import DiceCELoss

    model, knobs, x, y = setup
    logits = model(x)
    _, terms = SegObjective(w_transformer=0)(logits, y)
    assert terms["dice"] == pytest.approx(DiceCELoss(sigmoid=True)(logits, y).item(), rel=1e-6)


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="w_entropy"):
        SegObjective(w_entropy=-1)
    with pytest.raises(ValueError, match="complexity_mode"):
        SegObjective(complexity_mode="square")
    with pytest.raises(ValueError, match="flops_budget"):
        SegObjective(flops_budget=0)
    with pytest.raises(ValueError, match="w_dice"):
        LossWeights(dice=float("nan"))
    with pytest.raises(TypeError, match="w_dize"):
        SegObjective(w_dize=1.0)


def test_loss_weights_are_one_value_and_the_w_keywords_override_it(setup):
    model, knobs, x, y = setup
    logits, aux = model(x, return_aux=True)
    w = LossWeights(dice=1.0, transformer=0.2, complexity=3.0, entropy=0.0)
    a = SegObjective(w)
    b = SegObjective(w_transformer=0.2, w_complexity=3.0, w_entropy=0.0)
    c = SegObjective(LossWeights(), w_transformer=0.2, w_complexity=3.0, w_entropy=0)
    assert a.loss_weights == b.loss_weights == c.loss_weights == w
    assert a.config() == {"w_dice": 1.0, "w_transformer": 0.2, "w_complexity": 3.0,
                          "w_entropy": 0.0, "flops_budget": None, "complexity_mode": "ratio"}
    ta, _ = a(logits, y, aux, knobs)
    tb, _ = b(logits, y, aux, knobs)
    assert torch.equal(ta, tb)
    assert w.replace(entropy=0.5).entropy == 0.5 and w.entropy == 0.0  # frozen: a copy
    assert LossWeights.resolve(None) == LossWeights()
