"""Provenance records, atomic writes and notebook parameter gathering."""

import json
import math

import pandas as pd
import pytest

from nascore import paths, provenance


def test_notebook_params_takes_the_literals_of_the_parameters_cell():
    ns = {"__name__": "__main__", "_i1": "x = 1", "In": ["", "x = 1"], "Out": {},
          "math": math, "get_ipython": lambda: None, "pd": pd,
          "profile": "smoke", "n": 20, "proxies": ["params", "synflow"], "vit_proxies": None,
          "lr": 1e-3, "flag": True, "sizes": (1, 2), "opts": {"a": [1, 2]},
          "frame": pd.DataFrame({"a": [1]}), "bad_dict": {1: "non-str key"}}
    got = provenance.notebook_params(ns, exclude=["flag"])
    assert got == {"profile": "smoke", "n": 20, "proxies": ["params", "synflow"],
                   "vit_proxies": None, "lr": 1e-3, "sizes": (1, 2), "opts": {"a": [1, 2]}}
    assert list(got) == ["profile", "n", "proxies", "vit_proxies", "lr", "sizes", "opts"]
    got["proxies"].append("x")  # a copy: the notebook's list is not shared
    assert ns["proxies"] == ["params", "synflow"]


def test_write_metrics_and_csv_record_provenance(tmp_path):
    p = provenance.write_metrics(tmp_path / "m.json", {"a": 1}, {"n": 2}, seed=3)
    m = json.loads(p.read_text())
    assert m["a"] == 1 and m["provenance"]["config"] == {"n": 2} and m["provenance"]["seed"] == 3
    assert {"git_sha", "timestamp", "python"} <= set(m["provenance"])
    c = provenance.write_csv(tmp_path / "t.csv", pd.DataFrame({"x": [1, 2]}), {"n": 2}, 0)
    assert c.read_text().startswith("# provenance: {")
    assert pd.read_csv(c, comment="#")["x"].tolist() == [1, 2]
    assert sorted(f.name for f in tmp_path.iterdir()) == ["m.json", "t.csv"]  # no temporaries


def test_reports_dir_names_a_bad_profile():
    with pytest.raises(ValueError, match="fast"):
        paths.reports_dir("fast", "00_search_space", create=False)
    assert paths.reports_dir("smoke", "x", create=False) == paths.repo_root() / "reports" / "smoke" / "x"


def test_git_sha_outside_a_checkout_reads_the_environment(monkeypatch, tmp_path):
    from nascore import provenance as P

    monkeypatch.setattr(P, "repo_root", lambda: tmp_path)  # no .git here
    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.setenv("NASCORE_GIT_SHA", "abc123")
    assert P.git_sha() == "abc123"
    monkeypatch.delenv("NASCORE_GIT_SHA")
    assert P.git_sha() == "unknown"


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_result_files_get_the_permissions_of_a_plain_open(tmp_path, umask, mode):
    """Results are written through a temporary file; they must get ``0666 & ~umask`` like a
    plain ``open``, not mkstemp's 0600 (a colleague on a shared machine could not read them)."""
    import os
    import stat

    old = os.umask(umask)
    try:
        paths_ = [provenance.write_metrics(tmp_path / "m.json", {"a": 1}),
                  provenance.write_csv(tmp_path / "t.csv", pd.DataFrame({"a": [1]})),
                  provenance.atomic_write_text(tmp_path / "n.txt", "x")]
    finally:
        os.umask(old)
    assert {stat.S_IMODE(p.stat().st_mode) for p in paths_} == {mode}


def test_every_record_names_the_proxy_versions_it_used():
    import nascore.proxies  # noqa: F401 - registers the proxies' provenance entry
    from nascore.provenance import provenance
    from nascore.proxies.versions import proxy_version

    rec = provenance({"proxies": ["synflow", "nope"], "objectives": ["hybrid_v1@published", "oracle"]})
    pv = rec["proxy_versions"]
    assert pv["proxies"] == {"synflow": proxy_version("synflow"), "hybrid_v1": proxy_version("hybrid_v1")}
    assert pv["hybrid"]["name"] == "hybrid" and pv["hybrid"]["version"] == "v3"
    assert len(pv["code_version"]) == 12
