"""Progress bars pick an update interval for where their output goes, and make reproduce
streams cell output (so a long cell's bar shows under Papermill)."""

import io
import shutil
import subprocess
import sys

import pytest

from nascore import progress


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_interval_follows_the_output(monkeypatch):
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.setattr(progress, "_in_kernel", lambda: False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert progress.default_interval() == 30.0  # a log file or pipe
    monkeypatch.setattr(sys, "stderr", _Tty())
    assert progress.default_interval() == 0.1  # a terminal
    monkeypatch.setattr(progress, "_in_kernel", lambda: True)
    assert progress.default_interval() == 5.0  # JupyterLab, or a notebook Papermill runs


def test_bar_uses_it_and_an_explicit_interval_wins(monkeypatch):
    monkeypatch.setattr(progress, "_in_kernel", lambda: True)
    out = io.StringIO()
    bar = progress.tqdm(range(3), file=out)
    assert bar.mininterval == 5.0 and bar.maxinterval >= 10.0
    list(bar)
    assert "3/3" in out.getvalue()
    assert progress.tqdm(range(1), file=out, mininterval=0.5).mininterval == 0.5


def test_make_reproduce_streams_cell_output():
    from nascore.paths import repo_root

    if shutil.which("make") is None:
        pytest.skip("make not installed")
    res = subprocess.run(["make", "-n", "reproduce", "PROFILE=smoke"], cwd=repo_root(),
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "--log-output" in res.stdout
