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


def test_load_params_overrides_defaults_and_takes_the_profile_from_the_folder(tmp_path):
    d = tmp_path / "default"
    d.mkdir()
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
