"""The search-space protocol: four methods per space, the rest derived once in SearchSpace."""

import ast
import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from nascore.bench.nb201_space import NB201Space
from nascore.decisions import Decision, SearchSpace
from nascore.search.toy import ToyArch, ToySpace
from nascore.space import HybridSegSpace

SMALL_HYBRID = HybridSegSpace(resolutions=(32,), stem_widths=(8,), widths=((8,), (8,), (16,), (16,)),
                              depths=((1,), (1,), (1,), (1, 2)), kernels=(3,), expands=(2,),
                              heads=(2,), mlp_ratios=(2,), decoder_widths=((8, 8, 8, 8),))


class Chain(SearchSpace):
    """A conditional space: ``n`` (1 or 2) then ``x0``, ``x1``; ``x1`` is used only when n=2."""

    def decisions(self):
        return (Decision("n", "g", (1, 2)), Decision("x0", "g", (0, 1, 2)),
                Decision("x1", "h", (0, 1, 2)))

    def encode(self, arch):
        if not (isinstance(arch, tuple) and 1 <= len(arch) <= 2):
            raise ValueError(f"not a Chain arch: {arch!r}")
        return (len(arch) - 1, arch[0], arch[1] if len(arch) == 2 else 0)

    def decode(self, indices):
        n, x0, x1 = (int(i) for i in indices)
        for d, i in zip(self.decisions(), (n, x0, x1)):
            if not 0 <= i < len(d):
                raise ValueError(f"{d.name}: index {i} out of range")
        return (x0, x1)[:n + 1]

    def active(self, arch):
        return (True, True, len(arch) == 2)


SPACES = {"hybrid": SMALL_HYBRID, "nb201": NB201Space(), "toy": ToySpace(4, 3), "chain": Chain()}


@pytest.mark.parametrize("name", SPACES)
def test_derived_methods(name):
    space = SPACES[name]
    rng = np.random.default_rng(0)
    groups = space.groups()
    assert list(groups) == list(dict.fromkeys(d.group for d in space.decisions()))
    for _ in range(30):
        a = space.sample(rng)
        assert space.contains(a) and space.decode(space.encode(a)) == a
        b = space.mutate(a, rng)
        assert space.contains(b) and b != a
        assert len(space.changed(a, b)) == 1  # exactly one active decision changed
    assert not space.contains("not an architecture")


@pytest.mark.parametrize("name", ["nb201", "toy", "hybrid"])
def test_log10_size_counts_distinct_archs(name):
    space = SPACES[name]
    if name == "nb201":
        assert 10 ** space.log10_size() == pytest.approx(15625)
        return
    archs = {space.decode(ix) for ix in itertools.product(*[range(len(d)) for d in space.decisions()])}
    assert 10 ** space.log10_size() == pytest.approx(len(archs))


def test_base_log10_size_is_the_product_and_conditional_spaces_override():
    # Chain has 2 * 3 * 3 = 18 index vectors but only 3 + 9 = 12 distinct archs: the base
    # formula is exact only when every decision is always active (documented)
    assert 10 ** Chain().log10_size() == pytest.approx(18)
    assert HybridSegSpace.log10_size is not SearchSpace.log10_size


def test_mutate_without_choices_is_named():
    with pytest.raises(ValueError, match="no active decision"):
        ToySpace(2, 1).mutate(ToyArch((0, 0)), np.random.default_rng(0))


def test_contains_rejects_foreign_points():
    assert not NB201Space().contains(ToyArch((0, 0, 0, 0)))
    assert not ToySpace(4, 3).contains(ToyArch((0, 0, 0, 5)))
    assert not ToySpace(4, 3).contains(ToyArch((0, 0, 0, 1.0)))
    assert not SMALL_HYBRID.contains(HybridSegSpace().sample(np.random.default_rng(0)))


def test_search_imports_no_benchmark_package():
    root = Path(__file__).resolve().parents[1] / "nascore" / "search"
    for f in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom):
                mod = "." * node.level + (node.module or "")
                assert "bench" not in mod, f"{f.name} imports {mod}"
            elif isinstance(node, ast.Import):
                assert not any("bench" in a.name for a in node.names), f.name
