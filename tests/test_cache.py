"""Score cache: round trip across instances and processes, NaN values, concurrency."""

import math
import multiprocessing as mp
import pickle

import pytest

from nascore.cache import ScoreCache


def test_round_trip_across_instances(tmp_path):
    p = tmp_path / "c" / "scores.sqlite"
    c = ScoreCache(p)
    arch = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    assert (arch, "synflow", 0) not in c
    c.put(arch, "synflow", 0, value=12.5, time_s=0.25)
    c.put(arch, "naswot", 0, value=float("-inf"), time_s=0.1, status="nonfinite")
    c.put(arch, "jacob_cov", 0, value=float("nan"), time_s=0.1, status="error", extra={"msg": "boom"})
    c.put(17, "synflow", 1, value=3.0, time_s=0.2, dataset="cifar100")
    c.close()

    d = ScoreCache(p)  # a fresh instance (as after a restart) sees everything
    assert len(d) == 4
    assert d.get(arch, "synflow", 0) == (12.5, 0.25, "ok", None)
    assert d.get(arch, "naswot", 0).value == -math.inf
    e = d.get(arch, "jacob_cov", 0)
    assert math.isnan(e.value) and e.status == "error" and e.extra == {"msg": "boom"}
    assert ("17", "synflow", 1, "cifar100") in d and (17, "synflow", 1) not in d
    assert d.get(arch, "synflow", 1) is None
    d.put(arch, "synflow", 0, value=13.0, time_s=0.3)  # replace
    df = d.to_frame()
    assert len(df) == 4 and df.set_index(["arch_key", "proxy"]).loc[(arch, "synflow"), "value"] == 13.0


def test_put_result_and_bad_key(tmp_path):
    class R:
        value, time_s, status = 1.5, 0.01, "ok"

    c = ScoreCache(tmp_path / "s.sqlite")
    c.put_result("a", "snip", 0, R())
    assert c.get("a", "snip", 0).value == 1.5
    with pytest.raises(TypeError):
        ("a", "snip") in c
    assert c.get("a", "snip", 0).extra is None


def test_put_result_keeps_extra(tmp_path):
    class R:
        value, time_s, status = 2.0, 0.01, "ok"
        extra = {"log_dss": 3.5, "naswot": float("-inf")}

    c = ScoreCache(tmp_path / "s.sqlite")
    c.put_result("a", "hybrid", 0, R(), "ns")
    got = c.get("a", "hybrid", 0, "ns").extra
    assert got["log_dss"] == 3.5 and got["naswot"] == float("-inf")


def _writer(path, start):
    c = pickle.loads(path)  # the cache pickles without its connection
    for i in range(start, start + 25):
        c.put(f"arch{i}", "synflow", 0, value=float(i), time_s=0.0)


def test_concurrent_writers(tmp_path):
    c = ScoreCache(tmp_path / "s.sqlite")
    blob = pickle.dumps(c)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(blob, k * 25)) for k in range(2)]
    for p in procs:
        p.start()
    _writer(blob, 50)
    for p in procs:
        p.join(600)  # a spawned interpreter can take long to start on a loaded machine
        assert p.exitcode == 0
    assert len(c) == 75 and c.get("arch60", "synflow", 0).value == 60.0


def test_not_a_database(tmp_path):
    p = tmp_path / "junk.sqlite"
    p.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ValueError, match="junk.sqlite"):
        ScoreCache(p)


def test_module_closure_follows_imports_and_hash_tracks_them(tmp_path, monkeypatch):
    import importlib

    from nascore.cache import module_closure, source_hash

    pkg = tmp_path / "fakepkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\nimport os\n\ndef f():\n    from . import c\n")
    (pkg / "sub" / "b.py").write_text("from ..d import x\n")
    (pkg / "c.py").write_text("")
    (pkg / "d.py").write_text("x = 1\n")
    (pkg / "unrelated.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    got = module_closure(["fakepkg.a"], package="fakepkg")
    assert got == ["fakepkg.a", "fakepkg.c", "fakepkg.d", "fakepkg.sub", "fakepkg.sub.b"]
    h = source_hash(got)
    (pkg / "unrelated.py").write_text("y = 2\n")
    assert source_hash(module_closure(["fakepkg.a"], package="fakepkg")) == h
    (pkg / "d.py").write_text("x = 2\n")  # a transitive import changed
    assert source_hash(module_closure(["fakepkg.a"], package="fakepkg")) != h


def test_proxy_version_covers_the_proxy_and_its_primitives():
    from nascore.cache import module_closure
    from nascore.proxies.versions import proxy_version
    from nascore.proxies import PROXIES

    assert proxy_version("synflow") != proxy_version("params")
    mods = module_closure([PROXIES.get("synflow").fn.__module__, "nascore.proxies.harness"])
    assert {"nascore.proxies.synflow", "nascore.proxies.signals", "nascore.proxies._utils",
            "nascore.proxies.base", "nascore.proxies.harness"} <= set(mods)
    assert "nascore.proxies.hybrid.hybrid_v1" not in mods and "nascore.proxies.dss" not in mods
