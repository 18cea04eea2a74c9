"""Driver of notebook 02: caching/resume, correlation table, rank aggregates, metrics, meta-analysis."""

import json

import numpy as np
import pandas as pd
import pytest

from nascore import paths, provenance
from nascore.bench.nb201 import is_degenerate, to_arch_str
from nascore.cache import ScoreCache
from nascore.experiments import proxy_corr as pc
from nascore.experiments import transnas_meta as tm

CELLS = [
    to_arch_str(["nor_conv_3x3"] * 6),
    to_arch_str(["skip_connect"] * 6),
    to_arch_str(["nor_conv_1x1", "avg_pool_3x3", "nor_conv_3x3", "skip_connect", "none", "nor_conv_1x1"]),
    to_arch_str(["avg_pool_3x3"] * 6),
    to_arch_str(["nor_conv_3x3", "none", "skip_connect", "none", "nor_conv_1x1", "avg_pool_3x3"]),
    to_arch_str(["none"] * 6),  # degenerate
]
PROXIES = ["params", "synflow"]


def _score(cache, cells=CELLS):
    return pc.score_nb201(cells, PROXIES, "cifar10", batch_size=4, seed=0, cache=cache,
                          progress=False, input_kind="gaussian", C=4, N=1)


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    cache = ScoreCache(tmp_path_factory.mktemp("c") / "scores.sqlite")
    return cache, _score(cache)


def test_score_nb201_long_frame(first):
    _, s = first
    assert len(s) == len(CELLS) * len(PROXIES)
    for c in ("benchmark", "dataset", "arch_str", "proxy", "value", "time_s", "status", "degenerate"):
        assert c in s.columns
    assert not s["cached"].any()
    assert set(s["benchmark"]) == {"nb201"} and set(s["dataset"]) == {"cifar10"}
    assert s.loc[s["arch_str"] == CELLS[-1], "degenerate"].all()
    ok = s[(s["proxy"] == "params") & (s["status"] == "ok")]
    assert len(ok) == len(CELLS) and (ok["value"] > 0).all()
    # all-3x3 cells have more parameters than all-pool cells
    p = ok.set_index("arch_str")["value"]
    assert p[CELLS[0]] > p[CELLS[3]]


def test_second_call_recomputes_nothing(first, monkeypatch):
    cache, s1 = first

    def boom():
        raise AssertionError("a proxy was recomputed despite the cache")

    monkeypatch.setattr(pc.scoring, "_score_fn", boom)
    s2 = _score(cache)
    assert s2["cached"].all()
    pd.testing.assert_series_equal(s1["value"], s2["value"])
    assert list(s1["status"]) == list(s2["status"])


def test_killed_run_resumes(tmp_path, monkeypatch):
    cache = ScoreCache(tmp_path / "scores.sqlite")
    _score(cache, CELLS[:2])  # the "killed" run scored two cells only
    calls = []
    real = pc.scoring._score_fn()

    def counting(*a, **k):
        calls.append(a[0])
        return real(*a, **k)

    monkeypatch.setattr(pc.scoring, "_score_fn", lambda: counting)
    s = _score(cache, CELLS[:4])
    assert len(calls) == 2 * len(PROXIES)
    assert s["cached"].tolist() == [True] * 4 + [False] * 4


def test_unknown_proxy_is_rejected_up_front(tmp_path):
    cache = ScoreCache(tmp_path / "scores.sqlite")
    with pytest.raises(KeyError, match="no_such_proxy"):
        pc.score_nb201(CELLS[:2], ["params", "no_such_proxy"], batch_size=4, cache=cache,
                       progress=False, input_kind="gaussian", C=4, N=1)
    assert len(cache) == 0


def test_shards_cover_all_nets_once(first, monkeypatch):
    cache, s1 = first
    monkeypatch.setattr(pc.scoring, "_score_fn", lambda: None)  # everything is cached
    parts = [pc.score_nb201(CELLS, PROXIES, "cifar10", batch_size=4, cache=cache, progress=False,
                            input_kind="gaussian", C=4, N=1, shard=(i, 4)) for i in range(4)]
    got = pd.concat(parts)
    assert sorted(got["arch_str"].unique()) == sorted(CELLS) and len(got) == len(s1)
    with pytest.raises(ValueError, match="shard"):
        pc.score_nb201(CELLS, PROXIES, batch_size=4, cache=cache, input_kind="gaussian", C=4, N=1,
                       shard=(4, 4))


def test_cache_namespace_separates_settings(first):
    cache, _ = first
    ns_a = pc.namespace("nb201", "cifar10", "gaussian", "noise", 4, "C4N1")
    ns_b = pc.namespace("nb201", "cifar10", "gaussian", "noise", 8, "C4N1")
    assert ns_a != ns_b
    v = pc.proxy_version("params")
    assert cache.get(CELLS[0], "params", 0, f"{ns_a}/{v}") is not None
    assert cache.get(CELLS[0], "params", 0, f"{ns_b}/{v}") is None
    # each proxy's scores are keyed by its own code version
    assert pc.proxy_version("params") != pc.proxy_version("synflow")
    assert pc.proxy_version("hybrid") == pc.proxy_version("hybrid")


def _synthetic(n=30, seed=0):
    """Long frame + truth where proxy 'good' tracks truth, 'bad' is noise, one failure, one degenerate."""
    rng = np.random.default_rng(seed)
    keys = [f"a{i}" for i in range(n)]
    truth = pd.Series(np.linspace(50, 95, n), index=keys)
    rows = []
    for i, k in enumerate(keys):
        rows.append({"arch_str": k, "proxy": "params", "value": float(i), "status": "ok"})
        rows.append({"arch_str": k, "proxy": "synflow", "value": float(rng.normal()), "status": "ok"})
        comps = {"expressivity": float(i), "progressivity": float(i % 7), "trainability": float(-i % 5),
                 "complexity": float(i * 3)}
        rows.append({"arch_str": k, "proxy": "az_nas", "value": float(i), "status": "ok",
                     "extra": comps})
    df = pd.DataFrame(rows)
    df["benchmark"], df["dataset"], df["time_s"] = "nb201", "cifar10", 0.01
    df["degenerate"] = df["arch_str"] == "a5"
    df.loc[(df["arch_str"] == "a20") & (df["proxy"] == "params"), ["value", "status"]] = [np.nan, "error"]
    df["extra"] = [e if isinstance(e, dict) else {} for e in df["extra"]]
    return df, truth


def test_correlation_table_shape_and_failures():
    df, truth = _synthetic()
    t = pc.correlation_table(df, truth, n_boot=50)
    assert len(t) == 3
    need = {"benchmark", "dataset", "proxy", "spearman", "kendall", "ci95_spearman_lo",
            "ci95_spearman_hi", "pearson", "n", "n_failed", "top10"}
    assert need <= set(t.columns)
    r = t.set_index("proxy").loc["params"]
    assert r["n"] == 30 and r["n_failed"] == 2 and r["n_degenerate"] == 1  # error + degenerate
    assert 0.8 < r["spearman"] < 1.0  # two ranked worst break the perfect order
    assert r["ci95_spearman_lo"] <= r["spearman"] <= r["ci95_spearman_hi"]
    assert abs(t.set_index("proxy").loc["synflow", "spearman"]) < 0.6


def test_correlation_table_dataset_mapping_and_errors():
    df, truth = _synthetic()
    t = pc.correlation_table(df, {"cifar10": truth}, n_boot=0)
    assert len(t) == 3
    with pytest.raises(ValueError, match="cifar10"):
        pc.correlation_table(df, {"cifar100": truth}, n_boot=0)


def test_rank_aggregates_added():
    df, truth = _synthetic()
    out = pc.add_rank_aggregates(df)
    agg = out[out["proxy"] == "az_nas_rank"]
    assert len(agg) == 30 and (agg["status"] == "ok").all()
    v = agg.set_index("arch_str")["value"]
    assert v["a29"] > v["a0"]  # best on expressivity and complexity
    assert "hybrid_rank" not in set(out["proxy"])  # hybrid was not scored


def test_metrics_json_shape(tmp_path):
    df, truth = _synthetic()
    df = pc.add_rank_aggregates(df)
    t = pc.correlation_table(df, truth, n_boot=20)
    vit = t.copy()
    vit["benchmark"], vit["dataset"] = "autoformer", "cifar100"
    rep = pc.reproduction_table(t)
    m = pc.metrics_json(pd.concat([t, vit]), df, transnas={"tnb101_micro": {}}, notes=["x"],
                        reproduction=rep)
    assert {"nb201", "autoformer", "timing_s", "transnas_meta", "notes"} <= set(m)
    assert set(m["nb201"]) == {"cifar10"} and set(m["autoformer"]) == {"c100"}
    e = m["nb201"]["cifar10"]["params"]
    assert set(e) == {"spearman", "kendall", "ci95_spearman", "n", "n_failed"}
    assert len(e["ci95_spearman"]) == 2 and e["n"] == 30
    assert set(m["timing_s"]) == {"params", "synflow", "az_nas"}  # aggregates left out
    assert m["reproduction"]["synflow"]["published"] == pytest.approx(0.737)
    p = provenance.write_metrics(tmp_path / "metrics.json", m, {"profile": "test"}, 0)
    back = json.loads(p.read_text())
    assert back["provenance"]["config"] == {"profile": "test"}
    assert back["nb201"]["cifar10"]["params"]["n_failed"] == 2


def test_reproduction_table_diff():
    t = pd.DataFrame([{"benchmark": "nb201", "dataset": "cifar10", "proxy": "snip", "spearman": 0.62,
                       "n": 100}])
    rep = pc.reproduction_table(t)
    assert rep["proxy"].tolist() == ["snip"]
    assert rep["diff"].iloc[0] == pytest.approx(0.62 - 0.596)
    assert bool(rep["within_0.05"].iloc[0])
    lines = pc.explain_reproduction(rep, 16)
    assert len(lines) == 2 and lines[1].startswith("snip: measured 0.620 vs published 0.596")


def test_rule_score_perfect_components():
    n = 50
    truth = np.arange(n, dtype=float)
    table = pd.DataFrame({"nwot": truth, "snip": truth ** 2, "params": truth + 1, "flops": truth * 3,
                          "grasp": -truth, "val_accuracy": truth})
    mapping, missing = tm.rule_columns(table.columns)
    assert set(mapping.values()) == {"nwot", "snip", "params", "flops"}
    row = tm.meta_for_table(table, "val_accuracy")
    assert row["rule_spearman"] == pytest.approx(1.0)
    assert row["rule_equal_spearman"] == pytest.approx(1.0)
    assert row["spearman_grasp"] == pytest.approx(-1.0)
    # a missing score ranks worst in its column instead of being dropped
    before = tm.rule_score(table, mapping).iloc[-1]
    table.loc[n - 1, "nwot"] = np.nan
    after = tm.rule_score(table, mapping)
    w = abs(tm.hybrid_rule_spec()[1]["naswot"])
    assert after.iloc[-1] == pytest.approx(before + w * np.log(1 / n))  # log(N/N) -> log(1/N)
    assert after.idxmax() == n - 2


@pytest.mark.needs_data
def test_transnas_meta_all_tasks():
    if not paths.has_data("nas/transnas_bench101/naslib_zc_transbench101_micro.json"):
        pytest.skip("needs ../shared/data/nas/transnas_bench101: set NASCORE_DATA")
    m = tm.transnas_meta(spaces=("tnb101_micro",))
    assert len(m) == 7 and "segmentsemantic" in set(m["task"])
    seg = m.set_index("task").loc["segmentsemantic"]
    assert seg["n"] == 711 and np.isfinite(seg["rule_spearman"])
    assert seg["rule_columns"] == "nwot+snip+params+flops"
    j = tm.meta_to_json(m)
    assert "segmentsemantic" in j["tnb101_micro"]


@pytest.mark.needs_data
def test_sample_nb201_excludes_fit_and_nests():
    if not paths.has_data("nas/nb201/nb201_all15625_test_acc_200ep.csv"):
        pytest.skip("needs ../shared/data/nas/nb201: set NASCORE_DATA")
    small, big = pc.sample_nb201(20, seed=0), pc.sample_nb201(60, seed=0)
    assert small["nb201_index"].tolist() == big["nb201_index"].tolist()[:20]
    assert not np.isin(big["nb201_index"], pc.hybrid_fit_indices()).any()
    assert (big["degenerate"] == [is_degenerate(a) for a in big["arch_str"]]).all()


def test_cli_names_a_missing_or_bad_parameter_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        pc.main([str(tmp_path / "nope.yaml")])
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ValueError, match="bad.yaml"):
        pc.main([str(bad)])
    assert pc.prefill({"n_nb201": 0, "n_vit": 0}, cache_path=tmp_path / "c.sqlite") == 0


def test_prefill_scores_every_vit_when_n_vit_is_none_as_the_notebook_does(tmp_path, monkeypatch):
    import pandas as pd

    from nascore.experiments.proxy_corr import cli

    seen = {}
    monkeypatch.setattr(cli, "autoformer_rows", lambda p: pd.DataFrame({"n": [p["n_vit"]] * 4}))

    def score(rows, names, *a, **k):
        seen["rows"] = rows
        return [0] * len(rows)

    monkeypatch.setattr(cli, "score_autoformer", score)
    assert cli.prefill({"n_nb201": 0, "n_vit": None}, cache_path=tmp_path / "c.sqlite") == 4
    assert seen["rows"]["n"].isna().all()  # autoformer_rows got None: all of vit_source
    seen.clear()
    assert cli.prefill({"n_nb201": 0, "n_vit": 0}, cache_path=tmp_path / "c.sqlite") == 0
    assert not seen


def test_resolve_proxies_refuses_a_string_other_than_all():
    from nascore.experiments.proxy_corr import steps

    main, extra, vit, unknown = steps.resolve_proxies(["params", "nope"], ["synflow", "params"])
    assert main == ["params"] and extra == ["synflow"] and vit == ["params"] and unknown == ["nope"]
    assert len(steps.resolve_proxies("all")[0]) > 10
    with pytest.raises(ValueError, match=r"proxies must be a list.*-y 'proxies: \[synflow\]'"):
        steps.resolve_proxies("synflow")
