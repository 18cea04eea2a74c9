"""The block registry: every registered type validates, samples, builds and draws; the README's
extension example adds a block type; encoding architectures imports no torch."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nascore.arch import HybridSegArch, example_arch
from nascore.block_types import BLOCKS, CANONICAL, KNOBS, ROLES, BlockSpec, register_block
from nascore.blocks import BLOCK_BUILDERS, create_block, register_builder
from nascore.build import build_model
from nascore.space import HybridSegSpace

README = Path(__file__).resolve().parents[1] / "README.md"
SHAPES = "(B, C, *spatial) -> (B, C, *spatial)"


def _space_with(name: str) -> HybridSegSpace:
    """A small space using ``name`` (plus conv below the attention stride)."""
    types = ("conv", name) if name != "conv" else ("conv",)
    return HybridSegSpace(resolutions=(32,), stem_widths=(8,),
                          widths=((8,), (16,), (16,), (32,)), depths=((1,), (1,), (1, 2), (1, 2)),
                          decoder_widths=((16, 8, 8, 8),), block_types=types)


@pytest.mark.parametrize("name", BLOCKS.names())
def test_declaration_is_complete(name):
    bt = BLOCKS.get(name)
    assert bt.role in ROLES and bt.colour and bt.doc
    assert set(bt.knobs) <= set(KNOBS)
    assert name in BLOCK_BUILDERS, f"block type {name!r} has no module builder"


@pytest.mark.parametrize("name", BLOCKS.names())
def test_choices_validate_and_label_distinctly(name):
    space = _space_with(name)
    for stage in range(4):
        cands = [b for b in space.block_choices(stage) if b.type == name]
        if BLOCKS.get(name).role == "attn" and stage < 2:
            assert not cands  # attention only at strides >= attn_min_stride (8)
            continue
        assert cands
        for b in cands:
            b.validate("b")
            for f in KNOBS:
                if f not in BLOCKS.get(name).knobs:
                    assert getattr(b, f) == CANONICAL[f]
        assert len({b.short() for b in cands}) == len(cands)


@pytest.mark.parametrize("name", BLOCKS.names())
def test_unused_knob_must_be_canonical(name):
    unused = [f for f in KNOBS if f not in BLOCKS.get(name).knobs]
    good = _space_with(name).block_choices(3)
    b = next(x for x in good if x.type == name)
    for f in unused:
        with pytest.raises(ValueError, match=rf"b\.{f}.*unused"):
            BlockSpec(**{**vars(b), f: CANONICAL[f] + 2}).validate("b")


@pytest.mark.parametrize("name", BLOCKS.names())
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_builder_keeps_shape_and_documents_it(name, spatial_dims):
    b = next(x for x in _space_with(name).block_choices(3) if x.type == name)
    m = create_block(b, spatial_dims, 16).eval()
    x = torch.randn(2, 16, *(4,) * spatial_dims)
    with torch.no_grad():
        assert m(x).shape == x.shape
    assert SHAPES in (type(m).forward.__doc__ or ""), f"{type(m).__name__}.forward docstring"


@pytest.mark.parametrize("name", BLOCKS.names())
def test_sampled_archs_build_and_draw(name):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nascore.plots.arch import draw_arch

    space = _space_with(name)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(20)]
    arch = next(a for a in archs if any(b.type == name for s in a.stages for b in s.blocks))
    assert space.contains(arch) and HybridSegArch.from_json(arch.to_json()) == arch
    net = build_model(arch, 1, 2).eval()
    with torch.no_grad():
        assert net(torch.zeros(1, 1, 32, 32)).shape == (1, 2, 32, 32)
    ax = draw_arch(arch)
    assert any(t.get_text() == name for t in ax.get_legend().get_texts())
    plt.close(ax.figure)


def test_unknown_type_and_missing_builder_are_named():
    with pytest.raises(ValueError, match="unknown block type 'lstm'"):
        BlockSpec("lstm").validate("b")
    with pytest.raises(ValueError, match="unknown knob"):
        register_block("bad", knobs=("stride",), label="x", role="conv", colour="k")
    with pytest.raises(ValueError, match="role"):
        register_block("bad", knobs=(), label="x", role="mlp", colour="k")
    with pytest.raises(ValueError, match="not a declared block type"):
        register_builder("nope", lambda *a: None)
    register_block("nomodule", knobs=("kernel",), label="n{kernel}", role="conv", colour="k")
    try:
        with pytest.raises(ValueError, match="no module builder.*'nomodule'"):
            create_block(BlockSpec("nomodule", 3), 2, 8)
    finally:
        BLOCKS.unregister("nomodule")
    assert "nomodule" not in BLOCKS


def _readme_block_example() -> str:
    text = README.read_text()
    section = text[text.index("* **A block:**"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    return "\n".join(line[2:] if line.startswith("  ") else line for line in code.splitlines())


def test_readme_block_example_adds_a_block_type():
    code = _readme_block_example()
    ns = {}
    try:
        exec(compile(code, "README.md (A block)", "exec"), ns)
        space, arch = ns["space"], ns["arch"]
        assert "dwconv" in BLOCKS and "dwconv" in BLOCK_BUILDERS
        dw = [b for b in space.block_choices(0) if b.type == "dwconv"]
        assert [b.short() for b in dw] == ["dw3", "dw5"]
        # the new type is sampled, mutated, round-tripped and built like the built-in ones
        rng = np.random.default_rng(1)
        archs = [arch] + [space.sample(rng) for _ in range(30)]
        with_dw = [a for a in archs if any(b.type == "dwconv" for s in a.stages for b in s.blocks)]
        assert with_dw
        a = with_dw[0]
        assert space.contains(a) and HybridSegArch.from_json(a.to_json()) == a
        assert space.contains(space.mutate(a, rng))
        small = HybridSegArch.from_dict({**a.to_dict(), "resolution": 32})
        net = build_model(small, 1, 2).eval()
        assert any(type(m).__name__ == "DWConvBlock" for m in net.modules())
        with torch.no_grad():
            assert net(torch.zeros(1, 1, 32, 32)).shape == (1, 2, 32, 32)
        # the default space and its architectures are unchanged by a registration
        assert HybridSegSpace().block_types == ("conv", "mbconv", "attn")
        assert example_arch().arch_id == example_arch().arch_id
    finally:
        for reg in (BLOCK_BUILDERS, BLOCKS):
            if "dwconv" in reg:
                reg.unregister("dwconv")


def test_encoding_imports_no_torch():
    code = ("import sys, numpy as np; import nascore.arch, nascore.space, nascore.block_types, "
            "nascore.decisions, nascore.bench.nb201_space, nascore.search.toy; "
            "nascore.space.HybridSegSpace().sample(np.random.default_rng(0)); "
            "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')); "
            "print(bad); sys.exit(1 if bad else 0)")
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
