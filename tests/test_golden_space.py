"""The refactor guard of the block-registry refactor: spaces, networks and strategies match the golden record.

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

pytestmark = pytest.mark.numeric_pin  # rerun under scalar kernels by .ci/run

GOLDEN = Path(__file__).parent / "data" / "golden_space.json"

#: Float tolerance of the checksums. The initial weights are float32 draws whose last bits
#: depend on the CPU's SIMD kernels: under ``ATEN_CPU_CAPABILITY=default`` (scalar kernels) the
#: float64 weight sums moved by 2.9e-9 relative (about 1e-5 absolute on sums of ~5,000) from
#: the AVX-512 record. Any real change of a block or an initialiser moves them by far more.
REL, ABS = 1e-6, 1e-4


def _diff(a, b, path="$"):
    """The first difference between two JSON values (floats to :data:`REL`/:data:`ABS`), or None."""
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(
                a, b, rel_tol=REL, abs_tol=ABS):
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
    assert _diff({"a": [4801.4, "x"]}, {"a": [4801.4 * (1 + 1e-5), "x"]}) is not None
    assert _diff({"a": [1.0, "x"]}, {"a": [1.0, "y"]}) is not None
    assert _diff({"a": [4801.4, "x"]}, {"a": [4801.4 * (1 + 3e-9), "x"]}) is None
