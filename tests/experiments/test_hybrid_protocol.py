"""The hybrid v2 protocol on synthetic benchmarks with a known answer."""

import numpy as np
import pandas as pd
import pytest

from nascore.experiments.hybrid_protocol import (components_table, fit_table, lgg_split,
                                                 lobo_table, report_rows, select)
from nascore.proxies.hybrid.rule import Rule


def _bench(n, good, rng, noise=0.3):
    """Components where ``good`` carries the truth and the rest are noise."""
    truth = pd.Series(rng.normal(size=n), index=[f"n{i}" for i in range(n)])
    comp = pd.DataFrame({c: rng.normal(size=n) for c in ("log_dss", "log_flops", "naswot_noise")},
                        index=truth.index)
    comp[good] = truth.to_numpy() + noise * rng.normal(size=n)
    return comp, truth


def test_selection_finds_the_informative_component_and_lobo_holds_out():
    rng = np.random.default_rng(0)
    fits = {"a": _bench(80, "log_dss", rng), "b": _bench(80, "log_dss", rng),
            "c": _bench(80, "log_flops", rng)}
    rules = [Rule((c,), n) for c in ("log_dss", "log_flops", "naswot_noise") for n in ("z", "rank")]
    rules += [Rule(("log_dss", "log_flops"), "z")]
    tab = fit_table(fits, rules)
    assert len(tab) == len(rules) and {"tau_a", "tau_b", "tau_c"} <= set(tab.columns)
    sel = select(tab, ["a", "b", "c"])
    assert sel["rule"] == "z:log_dss+log_flops"  # the only one positive everywhere and best mean
    assert select(tab, ["a", "b"])["rule"].endswith("log_dss")
    reports = {}
    for b, (comp, truth) in fits.items():
        singles = comp.rename(columns=lambda c: f"p_{c}")
        reports[f"{b}/r"] = {"benchmark": b, "components": comp, "truth": truth, "singles": singles}
    lobo = lobo_table(tab, reports, ["a", "b", "c"], n_boot=50)
    assert list(lobo["held_out"]) == ["a", "b", "c"]
    # without c, the rule is log_dss alone, which carries nothing on c
    rc = lobo[lobo["held_out"] == "c"].iloc[0]
    assert rc["rule"].endswith(":log_dss") and abs(rc["kendall"]) < 0.2
    assert rc["best_single"] == "p_log_flops" and not rc["within_ci_of_best"]
    ra = lobo[lobo["held_out"] == "a"].iloc[0]  # selected on b + c: log_dss + log_flops
    assert ra["rule"] == "z:log_dss+log_flops" and ra["best_single"] == "p_log_dss"
    assert 0.2 < ra["kendall"] < ra["best_single_kendall"] and ra["diff_vs_best"] < 0


def test_select_raises_when_nothing_is_positive_everywhere():
    tab = pd.DataFrame({"rule": ["z:log_dss"], "cost": [0.2], "n_components": [1],
                        "tau_a": [0.3], "tau_b": [-0.1]})
    with pytest.raises(ValueError, match="tau > 0"):
        select(tab, ["a", "b"])


def test_components_table_reads_extras_and_failures():
    long = pd.DataFrame([
        {"k": "x", "proxy": "hybrid", "value": 1.0, "status": "ok",
         "extra": '{"log_dss": 2.0, "naswot": 5.0}'},
        {"k": "x", "proxy": "snip", "value": 100.0, "status": "ok", "extra": "{}"},
        {"k": "y", "proxy": "hybrid", "value": float("nan"), "status": "error", "extra": ""},
    ])
    t = components_table(long, "k")
    assert t.loc["x", "log_dss"] == 2.0 and t.loc["x", "naswot_noise"] == 5.0
    assert t.loc["x", "log_snip"] == pytest.approx(np.log(100.0))
    assert np.isnan(t.loc["y", "log_dss"])


def test_lgg_split_is_stratified_and_seeded():
    rows = [{"arch_id": f"a{b}{g}{i}", "role": "sample", "flops_bin": b, "attn_group": g}
            for b in range(2) for g in ("none", "some") for i in range(10)]
    rows.append({"arch_id": "ref", "role": "reference:x", "flops_bin": 0, "attn_group": "none"})
    t = pd.DataFrame(rows)
    s = lgg_split(t)
    assert len(s["fit"]) == 16 and "ref" in s["report"] and len(s["report"]) == 25
    assert not set(s["fit"]) & set(s["report"]) and s == lgg_split(t)


def test_metrics_block_reads_committed_outputs_or_skips(tmp_path):
    from nascore.experiments.hybrid_protocol.run import metrics_block
    from nascore.paths import repo_root

    assert "skipped" in metrics_block(str(tmp_path))
    src = repo_root() / "reports" / "benchmarks" / "hybrid_v2"
    if not (src / "report.csv").is_file():
        pytest.skip("no committed protocol outputs")
    b = metrics_block(src)
    assert b["rule"].startswith(("rank:", "z:")) and len(b["report"]) >= 1 and b["lobo"]


def test_measured_cost_check_walks_down_the_selection_order():
    """v3: the first rule in selection order whose measured cost is within the budget wins;
    the ones passed over are listed with their cost, and LOBO uses the same check."""
    tab = pd.DataFrame({"rule": ["z:log_dss", "z:log_flops", "z:naswot_noise"],
                        "cost": [0.2, 1 / 3, 1 / 3], "n_components": [1, 1, 1],
                        "tau_a": [0.6, 0.5, 0.4], "tau_b": [0.6, 0.5, 0.4]})
    costs = {"z:log_dss": 2.6, "z:log_flops": 1.4, "z:naswot_noise": 0.9}
    seen = []

    def cost_of(r):
        seen.append(r)
        return costs[r]

    assert select(tab, ["a", "b"])["rule"] == "z:log_dss"  # v2: declared cost only
    sel = select(tab, ["a", "b"], cost_of=cost_of)
    assert sel["rule"] == "z:log_flops" and sel["measured_cost"] == 1.4
    assert sel["over_budget"] == [{"rule": "z:log_dss", "measured_cost": 2.6, "fit_mean_tau": 0.6}]
    assert "z:naswot_noise" not in seen  # nothing past the chosen rule is timed
    with pytest.raises(ValueError, match="measured cost budget"):
        select(tab, ["a", "b"], cost_of=lambda r: 3.0)


def test_cost_book_times_a_rule_through_the_harness_and_reads_it_back(tmp_path):
    import torch

    from nascore.bench.nb201 import build_nb201_net
    from nascore.experiments.hybrid_protocol.cost import CostBook

    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = build_nb201_net("|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|"
                              "nor_conv_1x1~1|avg_pool_3x3~2|", C=4, N=1)
    g = torch.Generator().manual_seed(0)
    nets = [("tiny", net, (torch.randn(4, 3, 16, 16, generator=g), torch.randint(0, 10, (4,), generator=g)))]
    book = CostBook(tmp_path / "costs.csv", repeats=2, config={"x": 1}, nets=nets)
    c = book("rank:log_expressivity+naswot_noise")
    assert c > 0 and (tmp_path / "costs.csv").is_file()
    row = pd.read_csv(tmp_path / "costs.csv", comment="#").iloc[0]
    assert row["rule"] == "rank:log_expressivity+naswot_noise" and row["argmax_net"] == "tiny"
    again = CostBook(tmp_path / "costs.csv", nets=[])  # read back, not re-timed (no nets to time)
    assert again("rank:log_expressivity+naswot_noise") == pytest.approx(c)
    # a proxy that fails on a net is an error, not a silent cost
    from nascore.experiments.hybrid_protocol.cost import time_spec
    from nascore.proxies.base import ProxySpec

    with pytest.raises(RuntimeError, match="failed"):
        time_spec(ProxySpec("broken", lambda m, b, c: 1 / 0), net, nets[0][2])


def test_lobo_uses_the_measured_cost_check():
    rng = np.random.default_rng(1)
    fits = {"a": _bench(60, "log_dss", rng), "b": _bench(60, "log_dss", rng)}
    for comp, truth in fits.values():  # log_flops: weaker, but positive everywhere
        comp["log_flops"] = truth.to_numpy() + 1.0 * rng.normal(size=len(truth))
    rules = [Rule(("log_dss",), "z"), Rule(("log_flops",), "z")]
    tab = fit_table(fits, rules)
    reports = {f"{b}/r": {"benchmark": b, "components": c, "truth": t,
                          "singles": c.rename(columns=lambda x: f"p_{x}")} for b, (c, t) in fits.items()}
    lobo = lobo_table(tab, reports, ["a", "b"], n_boot=20,
                      cost_of=lambda r: 3.0 if "log_dss" in r else 1.0)
    assert set(lobo["rule"]) == {"z:log_flops"}  # the informative rule is over budget


def test_committed_v3_selection_replays_from_its_own_files():
    """The committed candidates and measured costs give back the committed final and LOBO rules
    (nothing re-timed: the cost book reads the stored file only)."""
    import json

    from nascore.experiments.hybrid_protocol import BENCHMARKS
    from nascore.experiments.hybrid_protocol.cost import CostBook
    from nascore.paths import repo_root

    root = repo_root() / "reports" / "benchmarks" / "hybrid_v3"
    if not (root / "selection.json").is_file():
        pytest.skip("no committed v3 protocol outputs")
    sel = json.loads((root / "selection.json").read_text())
    cand = pd.read_csv(root / "candidates.csv", comment="#")
    book = CostBook(root / "measured_costs.csv", nets=[])
    final = select(cand, BENCHMARKS, cost_of=book)
    assert final["rule"] == sel["final"]["rule"] and final["over_budget"] == sel["final"]["over_budget"]
    assert final["over_budget"]  # v2's rule was passed over: the check did something
    for b, rule in sel["lobo"].items():
        assert select(cand, [o for o in BENCHMARKS if o != b], cost_of=book)["rule"] == rule


def test_cost_book_refuses_a_file_measured_on_other_nets(tmp_path):
    from nascore.experiments.hybrid_protocol.cost import CostBook

    pd.DataFrame([{"rule": "z:log_dss", "max_ratio": 1.0, "argmax_net": "x", "ratio_x": 1.0}]).to_csv(
        tmp_path / "c.csv", index=False)
    with pytest.raises(ValueError, match="measured on the nets"):
        CostBook(tmp_path / "c.csv")
    assert CostBook(tmp_path / "c.csv", nets=[])("z:log_dss") == 1.0
    with pytest.raises(ValueError, match="no stored cost"):
        CostBook(tmp_path / "c.csv", nets=[])("z:log_flops")
