"""Parallel prefill of notebook 04's checkpoints, for machines with many cores or a GPU.

Notebook 04 trains its runs one after the other. This command trains them in parallel
processes into the notebook's own checkpoint folder, so that the notebook, run afterwards
with the same parameters, resumes every run from its finished checkpoint and only evaluates
and draws::

    python -m nascore.experiments.seg_prefill notebooks/params/full/04_segmentation_finetune.yaml --jobs 12
    papermill notebooks/04_segmentation_finetune.ipynb reports/full/04_segmentation_finetune/04_segmentation_finetune.ipynb \\
        -k nascore --cwd notebooks -f notebooks/params/full/04_segmentation_finetune.yaml -p profile full

Order: the knob search first (one process; every seed's ``searched`` model starts from it),
then one job per (seed, run): ``searched``, ``searched_scratch``, ``searched_noattn``,
``input_arch``, each baseline and each ``ablation:<variant>`` the parameters switch on,
``--jobs`` at a time, the comparison's costliest first and the ablation last. Each job is ``--run-one SEED NAME`` of this command
(:func:`nascore.seg.pipeline.run_pipeline` with ``only={NAME}``); its log goes to
``reports/<profile>/04_segmentation_finetune/checkpoints/prefill_logs/``. Jobs share the device: their ``train_time_s`` is wall time
under that sharing (the notebook reports it as measured). The weights do not depend on how
many jobs ran at once: each run is seeded and re-seeds its data order per epoch.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from ..paths import reports_dir, repo_root
from .notebook_utils import notebook_defaults

NOTEBOOK = "notebooks/04_segmentation_finetune.ipynb"
#: Relative cost of one run, to start the costliest first (measured per step on CPU at 64 px;
#: an ablation run adds its knob search). Unknown names cost 1.
COST = {"unetr": 1.0, "swinunetr": 1.0, "hctnet_like": 1.6, "unet": 0.3}


def load_params(params_path: Optional[str], profile: Optional[str] = None) -> Dict[str, Any]:
    """The notebook's defaults overridden by a parameter file (as papermill does), with
    ``profile`` (default: the parameter file's folder name, e.g. ``full``).

    Raises:
        FileNotFoundError: the parameter file is missing. ValueError: it is not a mapping.
    """
    p = notebook_defaults(repo_root() / NOTEBOOK)
    if params_path:
        path = Path(params_path)
        if not path.is_file():
            raise FileNotFoundError(f"parameter file not found: {path}")
        over = yaml.safe_load(path.read_text()) or {}
        if not isinstance(over, dict):
            raise ValueError(f"{path}: expected a mapping of parameter names to values")
        p.update(over)
        profile = profile or path.parent.name
    if profile:
        p["profile"] = profile
    return p


def run_names(p: Dict[str, Any]) -> List[str]:
    """The runs of one seed: the comparison's costliest first, then the ablation's."""
    names = ["searched", "searched_scratch"]
    if p.get("include_noattn"):
        names.append("searched_noattn")
    if p.get("include_input_arch"):
        names.append("input_arch")
    names += list(p.get("baselines", []))
    if p.get("loss_ablation"):
        names += [f"ablation:{v}" for v in p.get("ablation_variants", [])]
    # the comparison first (costliest first), the ablation after it: a run stopped half-way
    # (a session's end) leaves the headline complete; the ablation resumes next time
    return sorted(names, key=lambda n: (n.startswith("ablation:"), -COST.get(n, 1.0)))


def jobs(p: Dict[str, Any]) -> List[Tuple[int, str]]:
    """``[(seed, run)]``: every seed's runs (the ablation's on ``ablation_seeds`` when set),
    in the order of :func:`run_names` across seeds."""
    abl = p.get("ablation_seeds")
    out = []
    for n in run_names(p):
        seeds = abl if (n.startswith("ablation:") and abl is not None) else p["seeds"]
        out += [(int(s), n) for s in seeds]
    return out


def run_one(p: Dict[str, Any], seed: Optional[int], name: Optional[str]) -> None:
    """Trains (or resumes) one run; ``name=None``: the knob search only."""
    import matplotlib

    matplotlib.use("Agg")
    from ..seg import run_pipeline
    from .seg_notebook import NotebookRun

    one = [] if seed is None else [int(seed)]
    q = dict(p, seeds=one, progress=False)
    if p.get("ablation_seeds") is not None:
        q["ablation_seeds"] = one
    run = NotebookRun(q)
    run_pipeline(run.arch, run.records, run.cfg, only=set() if name is None else {name})


def _spawn(args: Sequence[str], log: Path) -> Tuple[int, float]:
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        rc = subprocess.call([sys.executable, "-m", "nascore.experiments.seg_prefill", *args],
                             stdout=fh, stderr=subprocess.STDOUT, cwd=repo_root())
    return rc, time.perf_counter() - t0


def prefill(params_path: str, profile: Optional[str] = None, n_jobs: int = 2,
            progress: bool = True) -> int:
    """Runs the knob search, then every job ``n_jobs`` at a time (see the module docstring).

    Returns:
        The number of failed jobs (their logs are named).
    """
    from tqdm.auto import tqdm

    p = load_params(params_path, profile)
    common = [params_path, "--profile", p["profile"]]
    logs = reports_dir(p["profile"], "04_segmentation_finetune") / "checkpoints" / "prefill_logs"
    logs.mkdir(parents=True, exist_ok=True)
    rc, dt = _spawn([*common, "--run-one", "search"], logs / "search.log")
    print(f"knob search: {'ok' if rc == 0 else 'FAILED'} in {dt:.0f} s")
    if rc:
        print("see", logs / "search.log")
        return 1
    todo = jobs(p)
    failed = []
    bar = tqdm(total=len(todo), desc="prefill", disable=not progress)

    def one(job):
        seed, name = job
        log = logs / f"{name.replace(':', '_').replace('+', 'plus_')}_s{seed}.log"
        rc, dt = _spawn([*common, "--run-one", str(seed), name], log)
        bar.update(1)
        bar.write(f"{name} s{seed}: {'ok' if rc == 0 else 'FAILED'} in {dt:.0f} s")
        if rc:
            failed.append(str(log))

    with ThreadPoolExecutor(max_workers=max(1, int(n_jobs))) as ex:
        list(ex.map(one, todo))
    bar.close()
    for f in failed:
        print("FAILED, see", f)
    return len(failed)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nascore.experiments.seg_prefill",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("params", help="notebook-04 parameter file (YAML), e.g. "
                                   "notebooks/params/full/04_segmentation_finetune.yaml")
    ap.add_argument("--profile", default=None, help="profile (default: the file's folder name)")
    ap.add_argument("--jobs", type=int, default=2, help="processes at a time (default 2)")
    ap.add_argument("--run-one", nargs="+", metavar=("SEED", "NAME"), default=None,
                    help="internal: 'search', or SEED NAME (one run)")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    if a.run_one is not None:
        p = load_params(a.params, a.profile)
        if a.run_one == ["search"]:
            run_one(p, None, None)
        elif len(a.run_one) == 2:
            run_one(p, int(a.run_one[0]), a.run_one[1])
        else:
            ap.error("--run-one takes 'search' or SEED NAME")
        return 0
    return 1 if prefill(a.params, a.profile, a.jobs, progress=not a.no_progress) else 0


if __name__ == "__main__":
    sys.exit(main())
