"""``hybrid`` (v3): the rule the protocol's measured cost check selected, as a per-network proxy."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from nascore.arch import example_arch
from nascore.bench.nb201 import build_nb201_net
from nascore.build import build_model
from nascore.paths import repo_root
from nascore.proxies import PROXIES, score
from nascore.proxies.hybrid import hybrid as V3
from nascore.proxies.harness import _run
from nascore.proxies.hybrid.rule import POOL, Rule
from nascore.proxies.hybrid.calibrated import FAMILIES
from nascore.experiments.hybrid_protocol.cost import rule_spec

pytestmark = pytest.mark.numeric_pin  # rerun under scalar kernels by .ci/run

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|avg_pool_3x3~2|"
ROOT = repo_root() / "reports" / "benchmarks" / "hybrid_v3"


def _seg():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return build_model(example_arch("hybrid", 32), 3, 1)


def _cell():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return build_nb201_net(CELL, C=4, N=1)


def _seg_batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(4, 3, 32, 32, generator=g), torch.randint(0, 2, (4, 1, 32, 32), generator=g).float()


def _cls_batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(4, 3, 16, 16, generator=g), torch.randint(0, 10, (4,), generator=g)


def test_rule_is_the_v3_selection_within_the_measured_budget_and_calibration_is_its_output():
    sel = json.loads((ROOT / "selection.json").read_text())
    assert V3.RULE == Rule.from_name(sel["final"]["rule"])
    assert sel["config"]["version"] == "v3"
    costs = pd.read_csv(ROOT / "measured_costs.csv", comment="#").set_index("rule")
    assert costs.loc[V3.RULE.name, "max_ratio"] <= sel["config"]["cost_budget"]
    for r in sel["final"]["over_budget"]:  # every rule passed over was measured over the budget
        assert costs.loc[r["rule"], "max_ratio"] > sel["config"]["cost_budget"]
    shipped = json.loads(V3.CALIBRATION_FILE.read_text())
    report = json.loads((ROOT / "calibration.json").read_text())
    assert shipped["families"] == report["families"] and shipped["rule"] == V3.RULE.name


def test_components_equal_their_source_proxies():
    """The rule's components are hybrid_v1's (same seed, same values), and the proxy's value is
    the family calibration of them."""
    for net, batch, fam in ((_seg(), _seg_batch(), "segmentation"), (_cell(), _cls_batch(), "cnn")):
        r = score("hybrid", net, batch, seed=2)
        v1 = score("hybrid_v1", net, batch, seed=2)
        assert r.ok and v1.ok, (r.error, v1.error)
        for c in V3.RULE.components:
            src, key, _, _ = POOL[c]
            if src == "hybrid_v1":
                assert r.extra[c] == v1.extra[key], c
            assert math.isfinite(r.extra[c])
        assert FAMILIES[int(r.extra["family_index"])] == fam
        assert r.value == pytest.approx(V3.calibrations()[fam].value(r.extra, V3.RULE))
        assert score("hybrid", net, batch, seed=2).value == r.value


def test_targets_pick_the_segmentation_calibration_and_are_optional():
    net, (x, y) = _seg(), _seg_batch()
    with_masks = score("hybrid", net, (x, y), seed=0)
    without = score("hybrid", net, (x, None), seed=0)
    assert with_masks.ok and without.ok
    assert FAMILIES[int(with_masks.extra["family_index"])] == "segmentation"
    assert FAMILIES[int(without.extra["family_index"])] != "segmentation"
    spec = PROXIES.get("hybrid")
    assert not spec.needs_targets and spec.changes_weights and spec.higher_is_better


def test_bad_batches_are_refused_by_name():
    """A rule reading the task loss (log_snip) refuses a batch without targets; integer inputs
    and targets of another length are bad input, not a crash deep in the noise pass."""
    from nascore.proxies.base import ProxyFailure
    from nascore.proxies.hybrid.calibrated import check_batch

    with pytest.raises(ProxyFailure, match="targets"):
        check_batch(Rule(("log_snip", "naswot_noise"), "rank"), (torch.zeros(1), None))
    check_batch(V3.RULE, (torch.zeros(1), None))
    x, y = _cls_batch()
    r = score("hybrid", _cell(), ((x * 100).to(torch.uint8), y), seed=0)
    assert r.status == "bad_input" and "floating point" in r.error
    r = score("hybrid", _cell(), (x, y[:2]), seed=0)
    assert r.status == "bad_input" and "one entry per input" in r.error
    r = score("hybrid", _cell(), (x, [0, 1, 2, 3]), seed=0)
    assert r.status == "bad_input"


def test_data_components_come_from_their_proxies():
    net, batch = _cell(), _cls_batch()
    r = _run(rule_spec(Rule(("log_snip", "naswot_data"), "z")), net, batch, 0, None, {})
    assert r.ok, r.error
    assert r.extra["log_snip"] == pytest.approx(math.log(score("snip", net, batch).value))
    assert r.extra["naswot_data"] == pytest.approx(score("naswot", net, batch).value)


@pytest.mark.parametrize("name", ["hybrid", "hybrid_v2"])
def test_cache_version_follows_the_calibration_file(monkeypatch, tmp_path, name):
    import importlib

    from nascore.proxies.versions import proxy_version

    mod = importlib.import_module(f"nascore.proxies.hybrid.{name}")  # file name = registry name
    before = proxy_version(name)
    f = tmp_path / "cal.json"
    f.write_text(mod.CALIBRATION_FILE.read_text() + " ")
    monkeypatch.setattr(mod, "VERSION_FILES", (f,))
    assert proxy_version(name) != before
    assert proxy_version("snip") == proxy_version("snip")  # other proxies untouched


def test_every_version_is_one_file_named_as_its_registry_name_and_in_the_table():
    import importlib

    from nascore.proxies.hybrid import CURRENT, VERSIONS, version_record

    registered = {n for n in PROXIES.names() if n == "hybrid" or n.startswith("hybrid_v")}
    assert set(VERSIONS) == registered and CURRENT == "hybrid"
    for name, v in VERSIONS.items():
        assert PROXIES.get(name).fn.__module__ == f"nascore.proxies.hybrid.{name}"
        mod = importlib.import_module(f"nascore.proxies.hybrid.{name}")
        if v["calibration"].startswith("data/"):
            assert mod.CALIBRATION_FILE == Path(mod.__file__).parent / v["calibration"]
            assert mod.CALIBRATION_FILE.is_file()
        assert v["superseded_by"] is None or v["superseded_by"] in VERSIONS
        assert 0 < v["measured_cost"] < 10 and v["fit_sets"]
    rec = version_record()
    assert rec["name"] == "hybrid" and rec["version"] == "v3" and len(rec["code_version"]) == 12
    with pytest.raises(KeyError, match="not a hybrid version"):
        version_record("synflow")


def test_the_calibration_family_is_an_explicit_option():
    net, (x, _) = _seg(), _seg_batch()
    auto = score("hybrid", net, (x, None), seed=0)  # no masks: guessed cnn or vit
    seg = score("hybrid", net, (x, None), seed=0, options={"hybrid_family": "segmentation"})
    assert auto.ok and seg.ok
    i = float(FAMILIES.index("segmentation"))
    assert seg.extra["family_index"] == i and auto.extra["family_index"] != i
    masked = score("hybrid", net, _seg_batch(), seed=0)  # masks: the guess says segmentation
    assert masked.value == pytest.approx(seg.value, rel=1e-9)
    bad = score("hybrid", net, (x, None), seed=0, options={"hybrid_family": "rnn"})
    assert bad.status == "bad_input" and "unknown calibration family" in bad.error
