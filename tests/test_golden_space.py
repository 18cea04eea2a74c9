"""The refactor guard of issue 15: spaces, networks and strategies match the golden record.

``tests/data/golden_space.json`` was recorded with the code before the block registry and the
search-space protocol (see ``tests/golden_space.py``). Architectures' JSON and ids, encodings,
samples and mutations from seeded RNGs, the strategies' proposals, the spaces' configs, and
every built network's ``state_dict`` keys, shapes and initial-weight checksums must be
unchanged, so committed search histories and benchmark rows stay valid.
"""

import json
import math
from pathlib import Path

import pytest

import golden_space

GOLDEN = Path(__file__).parent / "data" / "golden_space.json"


def _diff(a, b, path="$"):
    """The first difference between two JSON values (floats to 1e-9 relative), or None."""
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(
                a, b, rel_tol=1e-9, abs_tol=1e-12):
            return None
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return f"{path}: keys {sorted(set(a) ^ set(b))} differ"
        for k in a:
            d = _diff(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = _diff(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


@pytest.fixture(scope="module")
def current():
    return json.loads(json.dumps(golden_space.compute()))


@pytest.mark.parametrize("part", ["spaces", "hybrid", "fixed", "nb201", "strategies"])
def test_matches_golden(current, part):
    golden = json.loads(GOLDEN.read_text())
    assert _diff(golden[part], current[part], part) is None, _diff(golden[part], current[part], part)


def test_diff_detects_changes():
    assert _diff({"a": [1.0, "x"]}, {"a": [1.0 + 1e-6, "x"]}) is not None
    assert _diff({"a": [1.0, "x"]}, {"a": [1.0, "y"]}) is not None
    assert _diff({"a": [1.0, "x"]}, {"a": [1.0 + 1e-13, "x"]}) is None
