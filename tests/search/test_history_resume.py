"""Resumable JSONL histories: kill-and-resume loses and repeats nothing."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from nascore.search import STRATEGIES, Constraints, SearchHistory
from nascore.search.history import read_jsonl
from nascore.search.toy import (KillAfter, SimulatedKill, ToyArch, ToySpace, toy_cost,
                                toy_objective)

SPACE = ToySpace(5, 4)  # 1024 archs
SETTINGS = {"evolution": {"population": 10, "sample": 3}, "reinforce": {"batch_size": 4},
            "random": {"batch_size": 4}}
CONS = Constraints(max_params=10)
BUDGET = 40


def make(name):
    return STRATEGIES.get(name)(**SETTINGS.get(name, {}))


def run(name, objective, path=None, seed=3):
    return make(name).run(SPACE, objective, BUDGET, np.random.default_rng(seed), constraints=CONS,
                          cost_fn=toy_cost, history_path=path)


@pytest.mark.parametrize("name", STRATEGIES.names())
@pytest.mark.parametrize("k", [0, 1, 17])
def test_kill_and_resume_equals_uninterrupted_run(tmp_path, name, k):
    ref = run(name, toy_objective)
    path = tmp_path / "h.jsonl"
    first = KillAfter(toy_objective, k)
    with pytest.raises(SimulatedKill):
        run(name, first, path)
    assert first.calls == k
    _, events, _ = read_jsonl(path)
    assert sum(e.__class__.__name__ == "EvalRecord" for e in events) == k
    second = KillAfter(toy_objective, 10 ** 9)
    h = run(name, second, path)
    assert h.signature() == ref.signature()
    assert first.calls + second.calls == len(ref)  # every arch scored exactly once in total
    assert h.n_objective_calls == second.calls
    assert h.n_rejected == ref.n_rejected > 0
    # the file holds exactly the uninterrupted history
    assert SearchHistory.open(path, ToyArch).signature() == ref.signature()
    # a third run replays everything and calls nothing
    third = KillAfter(toy_objective, 0)
    assert run(name, third, path).signature() == ref.signature()


def test_torn_last_line_is_ignored_and_cut(tmp_path):
    path = tmp_path / "h.jsonl"
    with pytest.raises(SimulatedKill):
        run("evolution", KillAfter(toy_objective, 12), path)
    good = path.read_bytes()
    with open(path, "ab") as f:
        f.write(b'{"type": "eval", "index": 12, "arch_id": "toy-1-')  # torn write
    loaded = SearchHistory.open(path)
    assert len(loaded) == 12
    second = KillAfter(toy_objective, 10 ** 9)
    h = run("evolution", second, path)
    assert h.signature() == run("evolution", toy_objective).signature()
    assert second.calls == BUDGET - 12
    assert path.read_bytes().startswith(good)
    for line in path.read_text().splitlines():
        json.loads(line)  # every line is whole again


def test_corrupt_middle_line_raises_naming_file_and_line(tmp_path):
    path = tmp_path / "h.jsonl"
    run("random", toy_objective, path)
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = "{not json\n"
    path.write_text("".join(lines))
    with pytest.raises(ValueError, match=r"h\.jsonl, line 4"):
        SearchHistory.open(path)
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        SearchHistory.open(tmp_path / "missing.jsonl")


def test_resume_with_other_settings_raises(tmp_path):
    path = tmp_path / "h.jsonl"
    run("evolution", toy_objective, path, seed=3)
    with pytest.raises(ValueError, match="rng_state"):
        run("evolution", toy_objective, path, seed=4)
    with pytest.raises(ValueError, match="strategy"):
        run("random", toy_objective, path, seed=3)
    with pytest.raises(ValueError, match="config"):
        STRATEGIES.get("evolution")(population=11, sample=3).run(
            SPACE, toy_objective, BUDGET, np.random.default_rng(3), constraints=CONS,
            cost_fn=toy_cost, history_path=path)


@pytest.mark.parametrize("name", ["evolution", "reinforce"])
def test_a_log_from_before_the_widening_settings_resumes(tmp_path, name):
    """Logs written before ``patience``/``max_steps``/``explore_steps`` existed (their meta
    config lacks them) resume when this run uses the defaults, and only then."""
    path = tmp_path / "h.jsonl"
    full = run(name, toy_objective)
    with pytest.raises(SimulatedKill):
        run(name, KillAfter(toy_objective, 15), path)
    lines = path.read_text().splitlines(keepends=True)
    meta = json.loads(lines[0])
    for k in ("patience", "max_steps", "explore_steps"):
        meta["config"].pop(k, None)
    lines[0] = json.dumps(meta, sort_keys=True) + "\n"
    path.write_text("".join(lines))
    counter = KillAfter(toy_objective, 10 ** 9)
    assert run(name, counter, path).signature() == full.signature()
    assert counter.calls == len(full) - 15
    with pytest.raises(ValueError, match="config"):
        STRATEGIES.get(name)(**SETTINGS[name], patience=7).run(
            SPACE, toy_objective, BUDGET, np.random.default_rng(3), constraints=CONS,
            cost_fn=toy_cost, history_path=path)


def test_failures_survive_the_round_trip(tmp_path):
    path = tmp_path / "h.jsonl"

    h = make("random").run(SPACE, _half_failing, 30, np.random.default_rng(0), history_path=path)
    loaded = SearchHistory.open(path)
    assert loaded.signature() == h.signature()
    assert loaded.n_failed == h.n_failed > 0
    assert all(np.isnan(r.score) for r in loaded if not r.ok)


def _half_failing(arch):
    if arch.idx[0] % 2:
        raise ValueError("odd")
    return toy_objective(arch)


_CHILD = """
import sys, time, numpy as np
from nascore.search import STRATEGIES
from nascore.search.toy import ToySpace, toy_objective
def slow(arch):
    time.sleep(0.05)
    return toy_objective(arch)
STRATEGIES.get("evolution")(population=10, sample=3).run(
    ToySpace(5, 4), slow, 40, np.random.default_rng(3), history_path=sys.argv[1])
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL needs POSIX")
def test_sigkilled_process_resumes(tmp_path):
    path = tmp_path / "h.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)])
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if path.exists() and path.read_text().count('"type": "eval"') >= 8:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    done_before = len(SearchHistory.open(path))
    assert 8 <= done_before < 40
    counter = KillAfter(toy_objective, 10 ** 9)
    h = STRATEGIES.get("evolution")(population=10, sample=3).run(
        ToySpace(5, 4), counter, 40, np.random.default_rng(3), history_path=path)
    ref = STRATEGIES.get("evolution")(population=10, sample=3).run(
        ToySpace(5, 4), toy_objective, 40, np.random.default_rng(3))
    assert h.signature() == ref.signature()
    assert counter.calls == 40 - done_before
