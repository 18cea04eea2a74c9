"""Registries and plug-in discovery: a new file in a plug-in package registers itself, also in a
spawned worker, without any import line being edited."""

import multiprocessing as mp
import sys
import textwrap

import pytest

from nascore.registry import Registry, import_submodules


def _make_package(tmp_path, name="plugpkg"):
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent("""
        from nascore.registry import Registry, import_submodules
        THINGS = Registry("thing")
        PLUGINS = import_submodules(__name__, __path__)
    """))
    (pkg / "alpha.py").write_text("from . import THINGS\nTHINGS.register('alpha', 1)\n")
    (pkg / "_private.py").write_text("raise RuntimeError('underscore modules are not plug-ins')\n")
    return pkg


def _names_in_child(q, path, name):
    sys.path.insert(0, path)
    q.put(__import__(name).THINGS.names())


def test_a_new_file_registers_itself_here_and_in_a_spawned_worker(tmp_path, monkeypatch):
    pkg = _make_package(tmp_path)
    (pkg / "beta.py").write_text("from . import THINGS\nTHINGS.register('beta', 2)\n")  # the new file
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = __import__("plugpkg")
    try:
        assert mod.THINGS.names() == ["alpha", "beta"]
        assert mod.PLUGINS == ["plugpkg.alpha", "plugpkg.beta"]
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        p = ctx.Process(target=_names_in_child, args=(q, str(tmp_path), "plugpkg"))
        p.start()
        assert q.get(timeout=60) == ["alpha", "beta"]
        p.join(60)
    finally:
        for m in [m for m in sys.modules if m == "plugpkg" or m.startswith("plugpkg.")]:
            del sys.modules[m]


def test_a_broken_plugin_fails_loudly_naming_itself(tmp_path, monkeypatch):
    pkg = _make_package(tmp_path, "brokenpkg")
    (pkg / "gamma.py").write_text("import no_such_module_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(ImportError, match="brokenpkg.gamma"):
            __import__("brokenpkg")
    finally:
        for m in [m for m in sys.modules if m == "brokenpkg" or m.startswith("brokenpkg.")]:
            del sys.modules[m]


def test_the_shipped_packages_discover_their_modules():
    import nascore.proxies as P
    import nascore.search as S

    assert "nascore.proxies.zico" in P.PLUGINS and "zico" in P.PROXIES
    assert "nascore.search.evolution" in S.PLUGINS and "evolution" in S.STRATEGIES


def test_registry_refuses_duplicates_and_names_unknowns():
    r = Registry("thing")
    r.register("a", 1)
    with pytest.raises(ValueError, match="duplicate thing"):
        r.register("a", 2)
    with pytest.raises(KeyError, match="unknown thing 'b'; known: a"):
        r.get("b")
    assert import_submodules("nascore", [], skip=()) == []


PLUGIN = '''
from torch import nn

from nascore.block_types import register_block
from nascore.blocks import register_builder

register_block("plug_dw", knobs=("kernel",), label="pdw{kernel}", role="conv", colour="#123456")


class PlugDW(nn.Module):
    def __init__(self, spec, spatial_dims, dim, norm="batch"):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, spec.kernel, padding=spec.kernel // 2, groups=dim)

    def forward(self, x):
        return x + self.conv(x)


register_builder("plug_dw", PlugDW)
'''


def test_a_plugin_module_named_in_the_environment_reaches_spawned_workers(tmp_path):
    """NASCORE_PLUGINS=my_blocks: every process that imports nascore registers the block,
    a spawned worker (as the search's pools and seg_prefill's jobs are) included."""
    import os
    import subprocess

    (tmp_path / "my_blocks_plugin.py").write_text(PLUGIN)
    env = dict(os.environ, NASCORE_PLUGINS="my_blocks_plugin",
               PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    code = ("import multiprocessing as mp\n"
            "def names(q):\n"
            "    from nascore.block_types import BLOCKS\n"
            "    q.put('plug_dw' in BLOCKS)\n"
            "if __name__ == '__main__':\n"
            "    import nascore\n"
            "    from nascore.block_types import BLOCKS\n"
            "    assert nascore.PLUGINS == ['my_blocks_plugin'] and 'plug_dw' in BLOCKS\n"
            "    ctx = mp.get_context('spawn'); q = ctx.Queue()\n"
            "    p = ctx.Process(target=names, args=(q,)); p.start()\n"
            "    print('child sees it:', q.get(timeout=60)); p.join()\n")
    (tmp_path / "run_it.py").write_text(code)  # spawn needs an importable __main__
    r = subprocess.run([sys.executable, "run_it.py"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "child sees it: True" in r.stdout
    bad = dict(env, NASCORE_PLUGINS="no_such_plugin_module")
    r = subprocess.run([sys.executable, "-c", "import nascore"], cwd=tmp_path, env=bad,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "no_such_plugin_module" in r.stderr and "NASCORE_PLUGINS" in r.stderr
