"""Checkpoints: atomic writes, clear errors, exact resumption from the saved step."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from nascore.build import build_model
from nascore.seg.checkpoint import LOCK, checkpoint_lock, load_checkpoint, save_checkpoint
from nascore.seg.data import make_loader
from nascore.seg.train import seeded, train_model


def test_save_is_atomic_and_load_checks(tmp_path):
    p = tmp_path / "ck" / "last.pt"
    save_checkpoint(p, {"step": 3, "w": torch.arange(4.0), "history": [{"a": 1.0}]})
    assert [f.name for f in p.parent.iterdir()] == ["last.pt"]  # no temporary left behind
    st = load_checkpoint(p)
    assert st["step"] == 3 and torch.equal(st["w"], torch.arange(4.0))
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt"):
        load_checkpoint(bad)


def test_resume_continues_from_the_saved_step(arch, records, tmp_path):
    # 6 records, batch 2: 3 batches per epoch, so step 2 is mid-epoch; augmentation is on
    train = make_loader(records[:6], 32, batch_size=2, train=True, seed=0)
    val = make_loader(records[6:8], 32, batch_size=2)

    def model(seed):
        with seeded(seed):
            return build_model(arch, 1, 1)

    kw = dict(steps=4, lr=5e-3, seed=1, device="cpu", progress=False, restore_best=False)
    ref = model(0)
    r_ref = train_model(ref, train, val, **kw)

    first = train_model(model(0), train, val, checkpoint_dir=tmp_path, stop_at_step=2, **kw)
    assert first.step == 2 and load_checkpoint(tmp_path / "last.pt")["step"] == 2
    resumed = model(7)  # different init: everything must come from the checkpoint
    r = train_model(resumed, train, val, checkpoint_dir=tmp_path, **kw)
    assert r.step == 4 and [h["step"] for h in r.history] == [1, 2, 3, 4]
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 4
    for (k, a), b in zip(ref.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    assert [h["total"] for h in r.history] == [h["total"] for h in r_ref.history]
    assert [v["val_dice"] for v in r.val_history] == [v["val_dice"] for v in r_ref.val_history]

    # a finished run resumes to itself; resume=False starts over
    again = train_model(model(9), train, val, checkpoint_dir=tmp_path, **kw)
    assert again.step == 4 and len(again.history) == 4
    with pytest.raises(ValueError, match="last.pt"):
        train_model(model(0), train, val, checkpoint_dir=tmp_path, **{**kw, "steps": 6})


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid  # reaped: no process has it now (pids are not reused this quickly)


def test_lock_refuses_a_second_trainer_and_takes_over_a_stale_lock(arch, records, tmp_path):
    with checkpoint_lock(tmp_path) as lock:
        assert json.loads(lock.read_text()) == {"pid": os.getpid(), "host": socket.gethostname()}
        with pytest.raises(RuntimeError, match=f"in use by process {os.getpid()}"):
            with checkpoint_lock(tmp_path):
                pass
        train = make_loader(records[:4], 32, batch_size=2, train=True, seed=0)
        with pytest.raises(RuntimeError, match=str(tmp_path)):  # fit() takes the same lock
            train_model(build_model(arch, 1, 1), train, steps=1, device="cpu", progress=False,
                        checkpoint_dir=tmp_path)
        assert not (tmp_path / "last.pt").exists()
    assert not (tmp_path / LOCK).exists()  # released
    # a lock whose holder is gone (killed job) or that is unreadable is taken over, with a warning
    for content in (json.dumps({"pid": _dead_pid(), "host": socket.gethostname()}), "garbage"):
        (tmp_path / LOCK).write_text(content)
        with pytest.warns(UserWarning, match="stale lock"):
            with checkpoint_lock(tmp_path):
                assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()
        assert not (tmp_path / LOCK).exists()
    # a holder on another host (shared file system) cannot be checked: refused
    (tmp_path / LOCK).write_text(json.dumps({"pid": 1, "host": socket.gethostname() + "-other"}))
    with pytest.raises(RuntimeError, match="delete the lock file"):
        with checkpoint_lock(tmp_path):
            pass
    with checkpoint_lock(None) as lock:
        assert lock is None
