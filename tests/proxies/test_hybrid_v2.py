"""``hybrid_v2``: the v2 protocol-selected rule, its components, calibration and families."""

import json
import math

import pandas as pd
import pytest
import torch

from nascore.arch import example_arch
from nascore.bench.nb201 import build_nb201_net
from nascore.bench.vit import build_autoformer_vit
from nascore.build import build_model
from nascore.paths import repo_root
from nascore.proxies import PROXIES, score
from nascore.proxies.hybrid import hybrid_v2 as V2
from nascore.proxies.hybrid.rule import Rule

pytestmark = pytest.mark.numeric_pin  # rerun under scalar kernels by .ci/run

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|avg_pool_3x3~2|"


def _seg(kind):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return build_model(example_arch(kind, 32), 3, 1)


def _seg_batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(4, 3, 32, 32, generator=g), torch.randint(0, 2, (4, 1, 32, 32), generator=g).float()


def _cls_batch(hw=16):
    g = torch.Generator().manual_seed(0)
    return torch.randn(4, 3, hw, hw, generator=g), torch.randint(0, 10, (4,), generator=g)


def test_rule_is_the_protocol_selection_and_calibration_is_its_output():
    root = repo_root() / "reports" / "benchmarks" / "hybrid_v2"
    sel = json.loads((root / "selection.json").read_text())
    assert V2.RULE == Rule.from_name(sel["final"]["rule"])
    assert V2.RULE.cost <= 2.0 and V2.RULE.uses_data
    shipped = json.loads(V2.CALIBRATION_FILE.read_text())
    report = json.loads((root / "calibration.json").read_text())
    assert shipped["families"] == report["families"] and shipped["rule"] == V2.RULE.name
    # the candidate table the rule was chosen from lists it with its fit-set taus
    cand = pd.read_csv(root / "candidates.csv", comment="#")
    assert V2.RULE.name in set(cand["rule"])


def test_spec_reads_the_real_batch():
    spec = PROXIES.get("hybrid_v2")
    assert spec.needs_data and spec.needs_targets and spec.higher_is_better


@pytest.mark.parametrize("kind", ["hybrid", "cnn"])
def test_components_on_seg_nets_and_family(kind):
    r = score("hybrid_v2", _seg(kind), _seg_batch(), seed=0)
    assert r.ok, r.error
    for c in V2.RULE.components:
        assert math.isfinite(r.extra[c]), c
    assert V2.FAMILIES[int(r.extra["family_index"])] == "segmentation"
    assert math.isfinite(r.value)
    assert r.value == pytest.approx(V2.calibrations()["segmentation"].value(r.extra, V2.RULE))


def test_families_for_cells_and_vits_and_determinism():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        cell = build_nb201_net(CELL, C=4, N=1)
        vit = build_autoformer_vit(24, 3, 2.0, 2, num_classes=10, img_size=16, patch_size=4, head_dim=8)
    rc = score("hybrid_v2", cell, _cls_batch(), seed=0)
    rv1, rv2 = score("hybrid_v2", vit, _cls_batch(), seed=1), score("hybrid_v2", vit, _cls_batch(), seed=1)
    assert rc.ok and V2.FAMILIES[int(rc.extra["family_index"])] == "cnn"
    assert rv1.ok and V2.FAMILIES[int(rv1.extra["family_index"])] == "vit"
    assert rv1.value == rv2.value


def test_task_data_changes_the_score():
    """Unlike v1, v2 reads the batch: other images or masks change log_snip and the value."""
    net = _seg("hybrid")
    x, y = _seg_batch()
    a = score("hybrid_v2", net, (x, y), seed=0)
    b = score("hybrid_v2", net, (x, 1 - y), seed=0)
    assert a.extra["log_expressivity"] == b.extra["log_expressivity"]  # noise part unchanged
    assert a.extra["log_snip"] != b.extra["log_snip"] and a.value != b.value


def test_more_salient_net_ranks_higher_on_the_snip_component():
    """Monotone in each component: raising log_snip alone raises the value."""
    cal = V2.calibrations()["cnn"]
    base = {"log_expressivity": 4.0, "trainability": -0.4, "naswot_noise": 12.5, "log_snip": 3.0}
    assert cal.value({**base, "log_snip": 5.0}, V2.RULE) > cal.value(base, V2.RULE)
    assert cal.value({**base, "log_snip": float("-inf")}, V2.RULE) < cal.value(base, V2.RULE)


def test_missing_calibration_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(V2, "CALIBRATION_FILE", tmp_path / "nope.json")
    V2.calibrations.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="nope.json"):
            V2.calibrations()
    finally:
        V2.calibrations.cache_clear()


def test_missing_targets_are_bad_input_and_unmeasured_is_counted():
    net = _seg("cnn")
    x, _ = _seg_batch()
    r = score("hybrid_v2", net, (x, None), seed=0)
    assert r.status == "bad_input" and "targets" in r.error
    ok = score("hybrid_v2", net, _seg_batch(), seed=0)
    assert ok.extra["n_unmeasured"] == 0.0
