import dataclasses
import json

import numpy as np
import pytest

from nascore.arch import BlockSpec, HybridSegArch, StageSpec, example_arch
from nascore.space import HybridSegSpace


def _with_stage(arch, i, stage):
    stages = list(arch.stages)
    stages[i] = stage
    return dataclasses.replace(arch, stages=tuple(stages))


@pytest.mark.parametrize("kind", ["cnn", "hybrid"])
def test_json_round_trip_examples(kind):
    a = example_arch(kind)
    b = HybridSegArch.from_json(a.to_json())
    assert b == a and hash(b) == hash(a) and b.arch_id == a.arch_id
    assert json.loads(a.to_json()) == json.loads(json.dumps(a.to_dict(), sort_keys=True))


def test_json_round_trip_samples():
    space = HybridSegSpace()
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = space.sample(rng)
        assert HybridSegArch.from_json(a.to_json()) == a


def test_arch_id_is_short_stable_and_distinct():
    a, b = example_arch("cnn"), example_arch("hybrid")
    assert len(a.arch_id) == 12 and a.arch_id == example_arch("cnn").arch_id
    assert a.arch_id != b.arch_id


def test_heads_must_divide_width():
    a = example_arch("hybrid")
    bad = StageSpec(48, (BlockSpec("attn", heads=5, mlp_ratio=2),))
    with pytest.raises(ValueError, match=r"stages\[3\]\.blocks\[0\]\.heads.*divide"):
        _with_stage(a, 3, bad)


def test_attention_below_allowed_stride():
    a = example_arch("cnn")
    bad = StageSpec(24, (BlockSpec("attn", heads=2, mlp_ratio=2),))
    with pytest.raises(ValueError, match=r"stages\[1\]\.blocks\[0\]\.type.*stride 4"):
        _with_stage(a, 1, bad)
    # the threshold is configurable
    ok = dataclasses.replace(_with_stage(dataclasses.replace(a, attn_min_stride=4), 1, bad))
    assert ok.num_attn_blocks == 1


def test_unknown_block_type():
    a = example_arch("cnn")
    with pytest.raises(ValueError, match=r"stages\[0\]\.blocks\[0\]\.type.*unknown block type 'lstm'"):
        _with_stage(a, 0, StageSpec(16, (BlockSpec("lstm"),)))


def test_unused_fields_must_be_canonical():
    with pytest.raises(ValueError, match="heads"):
        BlockSpec("conv", heads=2).validate("b")


@pytest.mark.parametrize("text,field", [
    ("{not json", "malformed"),
    ("[1, 2]", "expected a JSON object"),
    ('{"stem_width": 8}', "resolution"),
])
def test_malformed_json(text, field):
    with pytest.raises(ValueError, match=field):
        HybridSegArch.from_json(text)


def test_json_field_errors_name_the_field():
    d = example_arch("hybrid").to_dict()
    d["stages"][2]["blocks"][1]["colour"] = "red"
    with pytest.raises(ValueError, match=r"stages\[2\]\.blocks\[1\].*colour"):
        HybridSegArch.from_dict(d)
    d = example_arch("hybrid").to_dict()
    d["resolution"] = 100
    with pytest.raises(ValueError, match="resolution.*multiple of 16"):
        HybridSegArch.from_dict(d)
