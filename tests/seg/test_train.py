"""Training loop: the loss goes down, validation picks the best state, determinism, RNG."""

import math
from pathlib import Path

import pytest
import torch

from nascore.build import build_model
from nascore.seg.data import make_loader
from nascore.seg.objective import SegObjective
from nascore.seg.train import TrainConfig, Trainer, seeded, train_model

NO_AUG = {"crop_frac": 1.0, "rotate_deg": 0.0, "prob": 0.0}


def _model(arch, seed=0):
    with seeded(seed):
        return build_model(arch, 1, 1)


def test_training_on_a_fixed_batch_lowers_the_loss(arch, records):
    tumour = [r for r in records if r["has_tumor"]][:4]
    loader = make_loader(tumour, 32, batch_size=4, train=True, seed=0, **NO_AUG)
    assert len(loader) == 1
    res = train_model(_model(arch), loader, None, SegObjective(w_complexity=0, w_entropy=0),
                      steps=8, lr=1e-2, seed=0, device="cpu", progress=False)
    df = res.history_df()
    assert list(df["step"]) == list(range(1, 9))
    assert {"dice", "transformer", "complexity", "entropy", "total", "lr"} <= set(df.columns)
    assert df["total"].iloc[-2:].mean() < df["total"].iloc[0]
    assert df["dice"].iloc[-1] < df["dice"].iloc[0]
    assert df["lr"].iloc[-1] < df["lr"].iloc[0]  # cosine decay
    assert res.step == 8 and res.train_time_s > 0 and math.isnan(res.best_val_dice)


def test_validation_selects_the_best_state_and_is_deterministic(arch, records, tmp_path):
    train = make_loader(records[:8], 32, batch_size=4, train=True, seed=0)
    val = make_loader(records[8:12], 32, batch_size=4)
    rng_before = torch.get_rng_state()
    runs = []
    for k in range(2):
        model = _model(arch)
        res = train_model(model, train, val, epochs=2, lr=5e-3, seed=3, device="cpu",
                          checkpoint_dir=tmp_path / f"run{k}", progress=False)
        runs.append((model, res))
    assert torch.equal(torch.get_rng_state(), rng_before)  # global RNG untouched
    (m0, r0), (m1, r1) = runs
    vd = r0.val_df()
    assert list(vd["epoch"]) == [0, 1] and r0.best_val_dice == pytest.approx(vd["val_dice"].max())
    assert r0.best_step == int(vd.loc[vd["val_dice"].idxmax(), "step"])
    assert (tmp_path / "run0" / "best.pt").is_file() and (tmp_path / "run0" / "last.pt").is_file()
    for k, v in m0.state_dict().items():  # restore_best: the model holds the best state
        assert torch.equal(v, r0.best_state[k])
    for (k, a), b in zip(m0.state_dict().items(), m1.state_dict().values()):
        assert torch.equal(a, b), k
    assert [h["total"] for h in r0.history] == [h["total"] for h in r1.history]


def test_another_seed_changes_the_run(arch, records):
    train = make_loader(records[:8], 32, batch_size=4, train=True, seed=0)
    hist = [train_model(_model(arch), train, steps=2, seed=s, device="cpu",
                        progress=False).history for s in (0, 1)]
    assert hist[0][0]["total"] != hist[1][0]["total"]


def test_knobs_join_a_second_param_group(arch, records):
    from nascore.seg.knobs import TransformerKnobs

    model = _model(arch)
    knobs = TransformerKnobs(model, init_keep=1.0)
    before = [p.detach().clone() for p in knobs.parameters()]
    train = make_loader(records[:4], 32, batch_size=4, train=True, seed=0)
    res = train_model(model, train, steps=2, seed=0, device="cpu", knobs=knobs, arch_lr=0.1,
                      objective=SegObjective(w_complexity=1.0, w_entropy=0.1), progress=False)
    knobs.detach()
    assert all(not torch.equal(a, b) for a, b in zip(before, knobs.parameters()))
    assert "expected_gflops" in res.history[0] and math.isfinite(res.history[-1]["complexity"])


def test_config_trainer_and_keyword_entry_train_identically(arch, records):
    train = make_loader(records[:4], 32, batch_size=2, train=True, seed=0)
    cfg = TrainConfig(steps=3, lr=5e-3, seed=2, device="cpu", progress=False)
    m_cfg, m_kw, m_mix = _model(arch), _model(arch), _model(arch)
    r_cfg = Trainer(m_cfg, config=cfg).fit(train)
    r_kw = train_model(m_kw, train, steps=3, lr=5e-3, seed=2, device="cpu", progress=False)
    r_mix = train_model(m_mix, train, None, None, TrainConfig(steps=3, seed=9), lr=5e-3, seed=2,
                        device="cpu", progress=False)
    for a, b, c in zip(m_cfg.state_dict().values(), m_kw.state_dict().values(),
                       m_mix.state_dict().values()):
        assert torch.equal(a, b) and torch.equal(a, c)
    assert [h["total"] for h in r_cfg.history] == [h["total"] for h in r_kw.history] \
        == [h["total"] for h in r_mix.history]
    assert TrainConfig.resolve(cfg, lr=0.1).lr == 0.1 and cfg.lr == 5e-3  # frozen: a copy
    assert TrainConfig(checkpoint_dir=Path("x")).to_dict()["checkpoint_dir"] == "x"
    with pytest.raises(TypeError, match="stpes"):
        train_model(_model(arch), train, stpes=3)
