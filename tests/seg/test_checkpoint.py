"""Checkpoints: atomic writes, clear errors, exact resumption from the saved step."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest
import torch

from nascore.build import build_model
from nascore.seg.checkpoint import checkpoint_lock, load_checkpoint, save_checkpoint
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


def test_lock_refuses_a_second_trainer_not_a_reader_and_dies_with_its_holder(arch, records, tmp_path):
    train = make_loader(records[:4], 32, batch_size=2, train=True, seed=0)
    kw = dict(steps=2, lr=5e-3, seed=1, device="cpu", progress=False)

    def fit(ck, **extra):
        with seeded(0):
            model = build_model(arch, 1, 1)
        return train_model(model, train, checkpoint_dir=ck, **{**kw, **extra})

    ck = tmp_path / "run"
    with checkpoint_lock(ck) as lock:
        assert json.loads(lock.read_text()) == {"pid": os.getpid(), "host": socket.gethostname()}
        with pytest.raises(RuntimeError, match="this process already holds it"):
            with checkpoint_lock(ck):
                pass
        with pytest.raises(RuntimeError, match=f"checkpoint folder {ck} is in use"):
            fit(ck)  # an unfinished run is not trained while another holds its folder
        assert not (ck / "last.pt").exists()
    done = fit(ck)  # released: it trains now
    assert done.step == 2
    with checkpoint_lock(ck):  # a finished run is only read: no lock needed
        assert fit(ck).step == 2
    # another process holds the lock until it dies, however it dies (SIGKILL here)
    other = tmp_path / "other"
    code = textwrap.dedent(f"""
        import sys, time
        from nascore.seg.checkpoint import checkpoint_lock
        with checkpoint_lock({str(other)!r}):
            print("held", flush=True)
            time.sleep(600)
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "held"
        with pytest.raises(RuntimeError, match=f"process {p.pid} on {socket.gethostname()} holds it"):
            fit(other)
    finally:
        p.kill()
        p.wait()
    assert fit(other).step == 2  # the kernel dropped the dead holder's lock
    with checkpoint_lock(None) as lock:
        assert lock is None


def test_lock_file_gets_the_umask_permissions_like_the_checkpoints(tmp_path):
    """Under a group-sharing umask a colleague can open the lock to resume the run."""
    import os
    import stat

    from nascore.seg.checkpoint import LOCK, checkpoint_lock

    old = os.umask(0o002)
    try:
        with checkpoint_lock(tmp_path / "run"):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "run" / LOCK).stat().st_mode) == 0o664
