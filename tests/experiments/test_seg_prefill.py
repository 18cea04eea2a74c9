"""The notebook-04 prefill command: parameters as papermill sees them, and its job list."""

import json

import pytest

from nascore.experiments import seg_prefill
from nascore.experiments.notebook_utils import notebook_defaults
from nascore.paths import repo_root


def test_notebook_defaults_reads_the_parameters_cell():
    p = notebook_defaults(repo_root() / seg_prefill.NOTEBOOK)
    assert p["profile"] == "smoke" and p["baselines"] == ["hctnet_like", "unet", "swinunetr", "unetr"]
    assert "run" not in p  # the cells after the parameters cell are not read


def test_notebook_defaults_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.ipynb"):
        notebook_defaults(tmp_path / "nope.ipynb")
    nb = tmp_path / "x.ipynb"
    nb.write_text(json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "source": ["a = 1"]}]}))
    with pytest.raises(ValueError, match="x.ipynb: no cell tagged"):
        notebook_defaults(nb)
    nb.write_text(json.dumps({"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]},
                                         "source": ["a = 1\n", "b = len([])"]}]}))
    with pytest.raises(ValueError, match="'b' is not a literal"):
        notebook_defaults(nb)
    nb.write_text(json.dumps({"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]},
                                         "source": ["a: int = 1\n", "b = c = [2]\n", "print(a)\n"]}]}))
    assert notebook_defaults(nb) == {"a": 1, "b": [2], "c": [2]}
    nb.write_text(json.dumps({"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]},
                                         "source": ["%matplotlib inline\n"]}]}))
    with pytest.raises(ValueError, match="x.ipynb: the parameters cell does not parse"):
        notebook_defaults(nb)
    nb.write_text("not json")
    with pytest.raises(ValueError, match="x.ipynb: not a notebook"):
        notebook_defaults(nb)


def test_load_params_overrides_defaults_and_takes_the_profile_from_the_folder(tmp_path):
    d = tmp_path / "params" / "default"
    d.mkdir(parents=True)
    (d / "04.yaml").write_text("epochs: 7\nseeds: [3, 4]\n")
    p = seg_prefill.load_params(str(d / "04.yaml"))
    assert p["epochs"] == 7 and p["seeds"] == [3, 4] and p["profile"] == "default"
    assert p["batch_size"] == 8  # the notebook's default
    assert seg_prefill.load_params(str(d / "04.yaml"), "full")["profile"] == "full"
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        seg_prefill.load_params(str(tmp_path / "missing.yaml"))
    (d / "bad.yaml").write_text("- 1\n")
    with pytest.raises(ValueError, match="bad.yaml: expected a mapping"):
        seg_prefill.load_params(str(d / "bad.yaml"))
    (d / "broken.yaml").write_text("a: [1\n")
    with pytest.raises(ValueError, match="broken.yaml: not valid YAML"):
        seg_prefill.load_params(str(d / "broken.yaml"))
    elsewhere = tmp_path / "perf"
    elsewhere.mkdir()
    (elsewhere / "gpu.yaml").write_text("epochs: 2\n")
    with pytest.raises(ValueError, match="gpu.yaml: cannot tell the profile.*--profile"):
        seg_prefill.load_params(str(elsewhere / "gpu.yaml"))
    (elsewhere / "bad_profile.yaml").write_text("profile: gpu\n")
    with pytest.raises(ValueError, match="profile 'gpu' is not one of"):
        seg_prefill.load_params(str(elsewhere / "bad_profile.yaml"))
    (elsewhere / "typo.yaml").write_text("epoch: 3\n")
    with pytest.warns(UserWarning, match=r"unknown parameter\(s\) \['epoch'\]"):
        seg_prefill.load_params(str(elsewhere / "typo.yaml"), "smoke")
    assert seg_prefill.load_params(str(elsewhere / "gpu.yaml"), "full")["profile"] == "full"
    (elsewhere / "own.yaml").write_text("profile: smoke\n")
    assert seg_prefill.load_params(str(elsewhere / "own.yaml"))["profile"] == "smoke"
    assert seg_prefill.load_params(str(d / "04.yaml"), data="synthetic")["data"] == "synthetic"


def test_jobs_cover_every_run_of_every_seed_costliest_first():
    p = seg_prefill.load_params(None, "smoke")
    p.update(seeds=[0, 1], include_noattn=True, loss_ablation=True,
             ablation_variants=["dice_ce", "all"], baselines=["unet", "hctnet_like"])
    jobs = seg_prefill.jobs(p)
    names = {"searched", "searched_scratch", "searched_noattn", "unet", "hctnet_like",
             "ablation:dice_ce", "ablation:all"}
    assert sorted(jobs) == sorted((s, n) for s in (0, 1) for n in names)
    assert jobs[0][1] == "hctnet_like"
    order = [n for _, n in jobs]
    first_abl = min(i for i, n in enumerate(order) if n.startswith("ablation:"))
    assert all(n.startswith("ablation:") for n in order[first_abl:])  # the ablation last
    assert order[first_abl - 1] == "unet"
    p.update(include_noattn=False, loss_ablation=False)
    assert {n for _, n in seg_prefill.jobs(p)} == {"searched", "searched_scratch", "unet", "hctnet_like"}


def test_ablation_seeds_limit_the_ablation_jobs_and_keep_one_checkpoint_folder():
    from nascore.experiments.seg_finetune import pipeline_config, run_key
    from nascore.experiments.seg_finetune import default_arch

    p = seg_prefill.load_params(None, "smoke")
    p.update(seeds=[0, 1, 2], loss_ablation=True, ablation_variants=["dice_ce", "all"],
             ablation_seeds=[0], baselines=["unet"])
    abl = [j for j in seg_prefill.jobs(p) if j[1].startswith("ablation:")]
    assert sorted(abl) == [(0, "ablation:all"), (0, "ablation:dice_ce")]
    assert len(seg_prefill.jobs(p)) == 2 + 3 * 3
    info = {"dataset": "x", "n_records": 1, "n_patients": 1, "channels": 1, "resolution": 64}
    a = default_arch(64)
    keys = {run_key(a, info, pipeline_config(dict(p, seeds=s, ablation_seeds=s, loss_ablation=bool(s),
                                                  include_noattn=bool(s))).to_dict())
            for s in ([], [0], [2], [0, 1, 2])}
    assert len(keys) == 1  # every prefill process writes into the notebook's folder
    assert pipeline_config(p).ablation_seeds == (0,)


def test_prefill_spawns_the_search_then_every_job_and_records_them(tmp_path, monkeypatch):
    d = tmp_path / "params" / "smoke"
    d.mkdir(parents=True)
    (d / "04.yaml").write_text("seeds: [0, 1]\nbaselines: [unet]\n")
    monkeypatch.setattr(seg_prefill, "checkpoint_root", lambda p: tmp_path / "ck" / p["profile"])
    calls = []

    def fake_spawn(args, log):
        calls.append(list(args))
        log.write_text("log")
        return (1 if args[-2:] == ["1", "unet"] else 0), 0.5

    monkeypatch.setattr(seg_prefill, "_spawn", fake_spawn)
    monkeypatch.chdir(tmp_path)  # a relative path must reach the children as an absolute one
    n_failed = seg_prefill.prefill("params/smoke/04.yaml", n_jobs=2, progress=False, data="synthetic")
    assert n_failed == 1
    assert all(c[0] == str((d / "04.yaml").resolve()) for c in calls)
    assert calls[0][-2:] == ["--run-one", "search"] and ["--data", "synthetic"] == calls[0][3:5]
    runs = sorted((c[-2], c[-1]) for c in calls[1:])
    assert runs == sorted((s, n) for s in ("0", "1") for n in ("searched", "searched_scratch", "unet"))
    rec_path = tmp_path / "ck" / "smoke" / "prefill_logs" / "prefill.json"
    rec = json.loads(rec_path.read_text())
    assert rec["jobs"] == 2 and rec["n_failed"] == 1 and len(rec["runs"]) == 7
    assert "provenance" in rec and rec["complete"] is True and "earlier" not in rec

    calls.clear()
    monkeypatch.setattr(seg_prefill, "_spawn", lambda args, log: (calls.append(args), (1, 0.1))[1])
    assert seg_prefill.prefill(str(d / "04.yaml"), progress=False) == 1  # the search failed
    assert len(calls) == 1  # so no job started
    rec2 = json.loads(rec_path.read_text())  # a second prefill keeps the first one's record
    assert len(rec2["runs"]) == 1 and [len(r["runs"]) for r in rec2["earlier"]] == [7]

    def dies_on_third(args, log, n=[0]):
        n[0] += 1
        if n[0] == 3:
            raise KeyboardInterrupt  # the session ends mid-prefill
        return 0, 1.0

    monkeypatch.setattr(seg_prefill, "_spawn", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        seg_prefill.prefill(str(d / "04.yaml"), n_jobs=1, progress=False)
    rec3 = json.loads(rec_path.read_text())  # what was trained before the kill is recorded
    assert rec3["complete"] is False and len(rec3["runs"]) >= 2
    assert rec3["runs"][0]["run"] == "knob_search" and all(r["ok"] for r in rec3["runs"])
    assert [len(r["runs"]) for r in rec3["earlier"]] == [7, 1]
    with pytest.raises(ValueError, match="--jobs must be at least 1"):
        seg_prefill.prefill(str(d / "04.yaml"), n_jobs=0)

    # a second prefill of the same folder while one runs is refused, its record untouched
    from nascore.seg.checkpoint import checkpoint_lock

    calls.clear()
    monkeypatch.setattr(seg_prefill, "_spawn", lambda args, log: (calls.append(args), (0, 0.1))[1])
    with checkpoint_lock(rec_path.parent):  # the running prefill's lock
        with pytest.raises(seg_prefill.PrefillBusy, match=r"another prefill \(this process "
                                                          r"already holds it\) is "
                                                          r"already running on .*ck.*smoke.*Wait"):
            seg_prefill.prefill(str(d / "04.yaml"), progress=False)
        assert seg_prefill.main([str(d / "04.yaml"), "--no-progress"]) == 3
    assert calls == [] and json.loads(rec_path.read_text()) == rec3
    assert seg_prefill.prefill(str(d / "04.yaml"), progress=False) == 0  # released: runs


def test_main_exits_2_naming_a_missing_file(tmp_path, capsys):
    assert seg_prefill.main([str(tmp_path / "none.yaml"), "--profile", "smoke"]) == 2
    assert "none.yaml" in capsys.readouterr().err


def test_duplicate_seeds_run_once_and_prefill_notes(tmp_path):
    from nascore.experiments.seg_finetune import pipeline_config, prefill_record

    p = seg_prefill.load_params(None, "smoke")
    p.update(seeds=[0, 0], baselines=[])
    assert sorted(seg_prefill.jobs(p)) == [(0, "searched"), (0, "searched_scratch")]
    with pytest.raises(ValueError, match="'seeds' repeats a seed"):
        pipeline_config(p)
    with pytest.raises(ValueError, match="'ablation_seeds' must be a list"):
        pipeline_config(dict(p, seeds=[0], ablation_seeds=0))
    with pytest.raises(ValueError, match="'ablation_seeds' is empty"):
        pipeline_config(dict(p, seeds=[0], ablation_seeds=[], loss_ablation=True))
    with pytest.raises(ValueError, match="'seeds' must be a list of integer seeds"):
        pipeline_config(dict(p, seeds=[0.5]))
    logs = tmp_path / "logs"
    assert prefill_record(logs) == ([], None)
    logs.mkdir()
    (logs / "unet_s0.log").write_text("")
    notes, rec = prefill_record(logs)
    assert "several processes" in notes[0] and rec is None
    (logs / "prefill.json").write_text(json.dumps({"jobs": 3}))
    notes, rec = prefill_record(logs)
    assert "(3 processes at a time" in notes[0] and rec == {"jobs": 3} and len(notes) == 1
    stopped = {"jobs": 1, "complete": True, "earlier": [{"jobs": 2, "complete": False}]}
    (logs / "prefill.json").write_text(json.dumps(stopped))
    notes, rec = prefill_record(logs)
    assert "(2/1 processes at a time" in notes[0]
    assert "1 of 2 prefill(s) of these checkpoints were stopped" in notes[1]


def test_run_one_trains_without_evaluating(monkeypatch):
    """A prefill job trains into the checkpoints and stops (``train_only``): the notebook
    evaluates afterwards, so an evaluation here would be thrown away."""
    import nascore.seg

    calls = []

    monkeypatch.setattr(seg_prefill, "prepare",
                        lambda q: {"arch": "arch", "records": "records", "cfg": q})
    monkeypatch.setattr(nascore.seg, "run_pipeline",
                        lambda arch, records, cfg, **kw: calls.append((cfg, kw)))
    p = seg_prefill.load_params(None, "smoke")
    seg_prefill.run_one(p, 0, "unet")
    seg_prefill.run_one(p, None, None)
    assert [kw for _, kw in calls] == [{"only": {"unet"}, "train_only": True},
                                       {"only": set(), "train_only": True}]
    assert calls[0][0]["seeds"] == [0] and calls[1][0]["loss_ablation"] is False


def test_notebook_04_checks_the_split_of_its_input_arch(tmp_path):
    """An arch searched on the training patients of another split is refused up front."""
    from nascore.arch import example_arch

    f = tmp_path / "best_arch.json"
    f.write_text(json.dumps({"arch": example_arch("hybrid", 64).to_dict(),
                             "batch_split": {"fractions": [0.7, 0.15, 0.15], "seed": 0}}))
    p = seg_prefill.load_params(None, "smoke", data="synthetic")
    p.update(input_arch=str(f), split_seed=1)
    with pytest.raises(ValueError, match="split_seed=1.*Re-run notebook 03"):
        seg_prefill.checkpoint_root(p)
    p["split_seed"] = 0
    assert seg_prefill.checkpoint_root(p).name  # the matching split passes
