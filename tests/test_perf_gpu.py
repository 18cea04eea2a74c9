"""The GPU commands on the CPU, at smoke size, on the same code path (--device cpu): the pack
is made, each finished fold comes back as its own archive at once, a fold cut short by the
time limit loses only itself, and the pooled report says how many folds it holds."""

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARAMS = """resolution: 32
input_arch: default
seeds: [0]
batch_size: 4
search_steps: 1
baselines: [unet]
cv_baselines: [unet]
latency_repeats: 1
n_overlay: 1
num_threads: 1
"""


def test_gpu_cv04_on_the_cpu_keeps_every_finished_fold(tmp_path):
    if subprocess.run(["bash", "--version"], capture_output=True).returncode != 0:
        pytest.skip("bash not available")
    pack = tmp_path / "pack"
    assert subprocess.call([sys.executable, str(ROOT / "perf" / "gpu_pack.py"), "--data",
                            "synthetic", "--out", str(pack), "--no-wheel"], cwd=ROOT) == 0
    info = json.loads((pack / "pack.json").read_text())
    assert info["data"] == "data/synthetic" and info["wheels"] == []
    (tmp_path / "p.yaml").write_text(PARAMS)
    out = tmp_path / "out"

    def run(folds, limit):
        env = dict(os.environ, OUT=str(out), PACK=str(pack), DATA=str(pack / "data" / "synthetic"),
                   PARAMS=str(tmp_path / "p.yaml"), K="2", FOLDS=folds, STEPS="2", DEVICE="cpu",
                   PYTHON=sys.executable, WORK=str(tmp_path / "work"), TIME_LIMIT=str(limit))
        return subprocess.run(["bash", str(ROOT / "perf" / "gpu_cv04.sh")], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)

    r = run("0", 300)  # fold 0 finishes; fold 1 is not run now
    assert r.returncode == 0, r.stderr[-2000:]
    with tarfile.open(out / "fold0.tgz") as t:
        names = t.getnames()
    assert any(n.startswith("folds/") and n.endswith("/fold0/per_case.csv") for n in names)
    assert "fold0.log" in names
    with tarfile.open(out / "report.tgz") as t:
        m = json.load(t.extractfile("metrics.json"))
    assert m["folds_done"] == [0] and m["complete"] is False and "SYNTHETIC" in m["dataset"]

    r = run("1", 1)  # fold 1 is cut short at once: only its log comes back
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out / "fold1.log.tgz").is_file() and not (out / "fold1.tgz").exists()
    with tarfile.open(out / "report.tgz") as t:
        assert json.load(t.extractfile("metrics.json"))["folds_done"] == [0]
    assert len(list(out.iterdir())) <= 8  # what a device call brings back


def test_gpu_gt128_on_the_cpu_copies_every_table_out(tmp_path):
    """The 128-px ground-truth command at smoke size on the CPU: the resolution knob is sampled
    and every table comes back through $OUT (within the 8 files a device call returns)."""
    import pandas as pd

    pack = tmp_path / "pack"
    assert subprocess.call([sys.executable, str(ROOT / "perf" / "gpu_pack.py"), "--data",
                            "synthetic", "--out", str(pack), "--no-wheel"], cwd=ROOT) == 0
    out = tmp_path / "out"
    env = dict(os.environ, OUT=str(out), PACK=str(pack), DATA=str(pack / "data" / "synthetic"),
               NAME="hybrid_gpu_test", RES="64", ARCH_RES="32 64", BUDGETS="1 2", TAU="0.0",
               N_ARCHS="6", WORKERS="1", DEVICE="cpu", BATCH="4", TIME_LIMIT="300",
               KILL_AFTER="400", PYTHON=sys.executable, WORK=str(tmp_path / "work"),
               EXTRA="--pool-size 24 --n-flops-bins 2 --pilot-archs 3 --n-second-seed 2 "
                     "--executor serial")
    r = subprocess.run(["bash", str(ROOT / "perf" / "gpu_gt128.sh")], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    t = pd.read_csv(out / "hybrid_gpu_test.csv", comment="#")
    assert len(t) >= 6 and set(t["resolution"]) <= {32, 64} and t["resolution"].nunique() == 2
    assert (out / "hybrid_gpu_test_pilot.json").is_file() and len(list(out.iterdir())) <= 8
    assert "exit 0" in r.stdout
