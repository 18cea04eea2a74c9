"""The search-throughput benchmark script runs end to end at a tiny size (numbers are not
checked: performance is measured by the script on an idle machine, never in tests)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "perf" / "search_throughput.py"


@pytest.mark.slow
def test_search_throughput_script_tiny(tmp_path):
    pytest.importorskip("psutil", reason="the script samples memory with psutil (dask extra)")
    out = tmp_path / "tp" / "search_throughput.json"
    # one mode only (each mode is a fresh process; the pools and Dask are tested in
    # tests/search/test_workers.py and test_executor_dask.py)
    cmd = [sys.executable, str(SCRIPT), "--n", "3", "--modes", "serial",
           "--profile-n", "2", "--epoch-nets", "1", "--epoch-steps", "1", "--scaling", "3",
           "--scaling-modes", "serial", "--data", "synthetic", "--no-prefill",
           "--proxy-resolution", "32", "--proxy-batch", "2", "--population", "4",
           "--sample", "2", "--out", str(out)]
    subprocess.run(cmd, check=True, cwd=tmp_path, timeout=900)
    d = json.loads(out.read_text())
    assert d["provenance"]["git_sha"] and d["command"].startswith("python perf/")
    (m,) = d["modes"]
    assert (m["mode"], m["workers"]) == ("serial", 1)
    assert m["n_evals"] == m["budget"] == 3 and m["stop_reason"] == "budget"
    assert m["n_proposed"] == 3 + m["n_cached"] + m["n_rejected"]
    assert m["wall_s"] > 0 and m["cpu_s"] > 0 and m["peak_rss_tree_mb"] > 0
    assert m["ratio_epoch_over_wall_per_eval"] > 0
    assert len(m["history_sha1"]) == 40 and d["same_history_in_every_mode"] is True
    e = d["proxy_vs_epoch"]
    assert e["resolution"] == e["proxy_resolution"] == 32 and len(e["nets"]) == 1
    assert math.isfinite(e["ratio_median"]) and e["ratio_median"] > 0
    assert e["nets"][0]["epoch_steps_measured"] == 1
    prof = out.with_name("search_throughput_profile.txt")
    assert prof.is_file() and "cumulative" in prof.read_text()
    assert d["profile"]["top_cumulative"] and d["profile"]["n"] == 2
    (sc,) = d["scaling"]
    assert sc["proxy"] == "params" and sc["n_evals"] == 3
    assert out.with_suffix(".png").stat().st_size > 0
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "search_throughput.json", "search_throughput.png", "search_throughput_profile.txt"]
