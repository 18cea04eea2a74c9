"""Parallel prefill of notebook 04's checkpoints, for machines with many cores or a GPU.

Notebook 04 trains its runs one after the other. This command trains them in parallel
processes into the notebook's own checkpoint folder, so that the notebook, run afterwards
with the same parameters, resumes every run from its finished checkpoint and only evaluates
and draws::

    python -m nascore.experiments.seg_prefill \\
        notebooks/params/full/04_segmentation_finetune.yaml --jobs 2
    papermill notebooks/04_segmentation_finetune.ipynb \\
        reports/full/04_segmentation_finetune/04_segmentation_finetune.ipynb \\
        -k nascore --cwd notebooks -f notebooks/params/full/04_segmentation_finetune.yaml \\
        -p profile full

(``make reproduce PROFILE=full`` does both.) Order: the knob search first (one process; every
seed's ``searched`` model starts from it), then one job per (seed, run): ``searched``,
``searched_scratch``, ``searched_noattn``, ``input_arch`` and each baseline the parameters
switch on, costliest first, then each ``ablation:<variant>``; ``--jobs`` at a time. Each job is
``--run-one SEED NAME`` of this command (:func:`nascore.seg.pipeline.run_pipeline` with
``only={NAME}``); its log goes to ``prefill_logs/`` of the notebook's checkpoint folder
(``reports/<profile>/04_segmentation_finetune/checkpoints/<key>/``), and ``prefill.json``
there records the jobs, their wall times and how many ran at once, after every job (an
earlier prefill's record of the same folder is kept under ``earlier``; the notebook copies it into
``metrics.json``). Parameters and data are checked before anything is spawned; a prefill holds
``prefill_logs/.lock`` while it runs, and a second prefill of the same folder is refused (exit
status 3). Jobs share the machine, so
their ``train_time_s`` is wall time under that sharing (the notebook says so in its notes). On
a CPU the weights do not depend on how many jobs ran at once (each run is seeded and re-seeds
its data order per epoch); on a GPU, non-deterministic kernels make any two runs differ a
little.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from ..paths import PROFILES, repo_root
from ..progress import tqdm
from ..provenance import provenance, write_json
from .notebook_utils import notebook_defaults
from .seg_notebook import prepare

NOTEBOOK = "notebooks/04_segmentation_finetune.ipynb"
#: Relative cost per optimisation step at 64 px on one CPU core (measured, unetr = 1; see the
#: full profile's parameter file), to start the costliest runs first. Unknown names cost 1.
COST = {"hctnet_like": 1.8, "searched_noattn": 1.1, "searched_scratch": 1.1, "searched": 1.0,
        "unetr": 1.0, "swinunetr": 0.85, "unet": 0.35}


def load_params(params_path: Optional[str], profile: Optional[str] = None,
                data: Optional[str] = None) -> Dict[str, Any]:
    """The notebook's defaults overridden by a parameter file (as papermill does), then by
    ``data``, with the profile: ``profile``, else the file's ``profile`` key, else the folder
    of a file in ``notebooks/params/<profile>/``. Unknown parameter names are warned about.

    Raises:
        FileNotFoundError: the parameter file is missing.
        ValueError: naming the file when it is not a YAML mapping, or when no valid profile
            can be told (pass ``profile``); the notebook's parameter cell is malformed.
    """
    p = notebook_defaults(repo_root() / NOTEBOOK)
    p.pop("profile", None)
    if params_path:
        path = Path(params_path)
        if path.is_dir():
            raise ValueError(f"{path} is a folder; expected a YAML parameter file")
        if not path.is_file():
            raise FileNotFoundError(f"parameter file not found: {path}")
        try:
            over = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ValueError(f"{path}: not valid YAML: {e}") from e
        if not isinstance(over, dict):
            raise ValueError(f"{path}: expected a mapping of parameter names to values")
        unknown = sorted(set(over) - set(p) - {"profile"})
        p.update(over)
        folder = path.resolve().parent
        if (profile is None and "profile" not in over and folder.name in PROFILES
                and folder.parent.name == "params"):
            profile = folder.name
        if unknown:
            warnings.warn(f"{path}: unknown parameter(s) {unknown} are ignored "
                          f"(notebook 04's parameters: {sorted(p)})")
    if data is not None:
        p["data"] = data
    if profile is not None:
        p["profile"] = profile
    if p.get("profile") is None:
        raise ValueError(f"{params_path or 'the notebook defaults'}: cannot tell the profile "
                         f"(no --profile, no profile key, not in notebooks/params/<profile>/); "
                         f"pass --profile, one of {PROFILES}")
    if p["profile"] not in PROFILES:
        raise ValueError(f"{params_path or 'the notebook defaults'}: profile {p['profile']!r} "
                         f"is not one of {PROFILES}")
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
    # the comparison first, the ablation after it: a prefill stopped half-way (a session's
    # end) leaves the headline complete; the ablation resumes next time
    names = list(dict.fromkeys(names))
    return sorted(names, key=lambda n: (n.startswith("ablation:"), -COST.get(n, 1.0)))


def jobs(p: Dict[str, Any]) -> List[Tuple[int, str]]:
    """``[(seed, run)]``: every seed's runs (the ablation's on ``ablation_seeds`` when set),
    in the order of :func:`run_names` across seeds, each once."""
    abl = p.get("ablation_seeds")
    out = []
    for n in run_names(p):
        seeds = abl if (n.startswith("ablation:") and abl is not None) else p["seeds"]
        out += [(int(s), n) for s in dict.fromkeys(seeds)]
    return out


def run_one(p: Dict[str, Any], seed: Optional[int], name: Optional[str]) -> None:
    """Trains (or resumes) one run; ``name=None``: the knob search only. Nothing is evaluated
    (the notebook evaluates every run from its finished checkpoint).

    Raises:
        ValueError: ``name`` is not a run of these parameters (the known ones are named).
    """
    import matplotlib

    matplotlib.use("Agg")
    from ..seg import run_pipeline

    one = [] if seed is None else [int(seed)]
    q = dict(p, seeds=one, progress=False)
    if seed is None:  # the knob search alone (neither setting is part of the checkpoint key)
        q.update(loss_ablation=False, ablation_seeds=None)
    elif p.get("ablation_seeds") is not None:
        q["ablation_seeds"] = one
    run = prepare(q)
    run_pipeline(run["arch"], run["records"], run["cfg"], only=set() if name is None else {name},
                 train_only=True)


class PrefillBusy(RuntimeError):
    """Another prefill holds the checkpoint folder's ``prefill_logs/.lock``."""


def _spawn(args: Sequence[str], log: Path) -> Tuple[int, float]:
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        rc = subprocess.call([sys.executable, "-m", "nascore.experiments.seg_prefill", *args],
                             stdout=fh, stderr=subprocess.STDOUT, cwd=repo_root())
    return rc, time.perf_counter() - t0


def _earlier_records(path: Path) -> List[Dict[str, Any]]:
    """The records of earlier prefills of a folder (oldest first) from its ``prefill.json``;
    an unreadable file is kept aside as ``prefill.json.unreadable`` rather than lost."""
    if not path.is_file():
        return []
    try:
        old = json.loads(path.read_text())
        if not isinstance(old, dict):
            raise ValueError("not a JSON object")
    except ValueError:
        path.replace(path.with_name(path.name + ".unreadable"))
        return []
    return list(old.pop("earlier", [])) + [old]


def prefill(params_path: str, profile: Optional[str] = None, n_jobs: int = 2,
            progress: bool = True, data: Optional[str] = None) -> int:
    """Runs the knob search, then every job ``n_jobs`` at a time (see the module docstring),
    and writes ``prefill.json`` beside the logs after every job (``"complete": false`` until
    the last), so a killed prefill keeps the record of what it trained; the record of an
    earlier prefill of the same folder is kept under ``"earlier"`` (a resumed run that was
    already trained shows up again with a short wall time).

    Returns:
        The number of failed jobs (their logs are named).

    Raises:
        ValueError: ``n_jobs`` < 1, or bad parameters (:func:`load_params`).
        PrefillBusy: another prefill of the same checkpoint folder is running (it holds
            ``prefill_logs/.lock``; two would train the same runs and overwrite one
            ``prefill.json``).
    """
    from ..seg.checkpoint import CheckpointBusy, checkpoint_lock

    if int(n_jobs) < 1:
        raise ValueError(f"--jobs must be at least 1, got {n_jobs}")
    params_path = str(Path(params_path).resolve())  # the children run in the repo root
    if data is not None and Path(data).expanduser().exists():
        data = str(Path(data).expanduser().resolve())  # a folder relative to the caller's cwd
    p = load_params(params_path, profile, data)
    root = checkpoint_root(p)  # checks data, architecture and every parameter up front
    common = [params_path, "--profile", p["profile"]] + ([] if data is None else ["--data", data])
    logs = root / "prefill_logs"
    logs.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(checkpoint_lock(logs))
        except CheckpointBusy as e:
            raise PrefillBusy(
                f"another prefill ({e.holder}) is already running on the checkpoint folder "
                f"{root}: it trains the same runs and writes the same prefill_logs/prefill.json. "
                "Wait for it to finish (then run this again: finished runs are skipped), or stop "
                "it first"
            ) from None
        record: Dict[str, Any] = {"params": params_path, "profile": p["profile"], "jobs": int(n_jobs),
                                  "runs": [], "complete": False, "data": p["data"]}
        earlier = _earlier_records(logs / "prefill.json")
        if earlier:
            record["earlier"] = earlier
        lock = threading.Lock()

        def save() -> None:
            with lock:
                write_json(logs / "prefill.json", record)

        t_all = time.perf_counter()
        rc, dt = _spawn([*common, "--run-one", "search"], logs / "search.log")
        record["runs"].append({"run": "knob_search", "seed": p.get("search_seed", 0), "ok": rc == 0,
                               "wall_s": round(dt, 1)})
        save()
        print(f"knob search: {'ok' if rc == 0 else 'FAILED'} in {dt:.0f} s")
        todo = jobs(p) if rc == 0 else []
        failed = [] if rc == 0 else [str(logs / "search.log")]
        bar = tqdm(total=len(todo), desc="prefill", disable=not progress)

        def one(job):
            seed, name = job
            log = logs / f"{name.replace(':', '_').replace('+', 'plus_')}_s{seed}.log"
            rc, dt = _spawn([*common, "--run-one", str(seed), name], log)
            with lock:
                record["runs"].append({"run": name, "seed": seed, "ok": rc == 0,
                                       "wall_s": round(dt, 1)})
            save()
            bar.update(1)
            bar.write(f"{name} s{seed}: {'ok' if rc == 0 else 'FAILED'} in {dt:.0f} s")
            if rc:
                failed.append(str(log))

        with ThreadPoolExecutor(max_workers=int(n_jobs)) as ex:
            list(ex.map(one, todo))
        bar.close()
        record.update(wall_s=round(time.perf_counter() - t_all, 1), n_failed=len(failed),
                      complete=True, provenance=provenance({"params": params_path, "jobs": int(n_jobs)}))
        save()
        for f in failed:
            print("FAILED, see", f)
        if not failed:
            nb = f"reports/{p['profile']}/04_segmentation_finetune/04_segmentation_finetune.ipynb"
            print(f"checkpoints in {root}\nnow run the notebook with the same parameters (it "
                  f"resumes and evaluates):\n  papermill {NOTEBOOK} {nb} -k nascore --cwd notebooks "
                  f"-f {params_path} -p profile {p['profile']}"
                  + ("" if data is None else f" -p data {data}"))
        return len(failed)


def checkpoint_root(p: Dict[str, Any]) -> Path:
    """The checkpoint folder notebook 04 uses for these parameters (its data, architecture and
    settings checked as the notebook checks them).

    Raises:
        ValueError, FileNotFoundError: bad data, architecture file or parameter (named).
    """
    import matplotlib

    matplotlib.use("Agg")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = prepare(dict(p, progress=False))
    return Path(run["cfg"].checkpoint_root)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The command line (see the module docstring); returns the exit status (1: a job failed,
    2: bad input, 3: another prefill of the same folder is running)."""
    ap = argparse.ArgumentParser(
        prog="python -m nascore.experiments.seg_prefill", description=__doc__.splitlines()[0],
        epilog="Checkpoints go to reports/<profile>/04_segmentation_finetune/checkpoints/<key>/ "
               "(logs and prefill.json in its prefill_logs/); then run notebook 04 with the same "
               "parameters (-f FILE -p profile P, and -p data D if you passed --data). Keep "
               "--jobs x num_threads within the machine's cores.")
    ap.add_argument("params", help="notebook-04 parameter file (YAML), e.g. "
                                   "notebooks/params/full/04_segmentation_finetune.yaml")
    ap.add_argument("--profile", default=None, choices=PROFILES,
                    help="profile (default: the file's profile key, else its folder name)")
    ap.add_argument("--data", default=None, help="override the file's data (as -p data ...)")
    ap.add_argument("--jobs", type=int, default=2, help="processes at a time (default 2)")
    ap.add_argument("--run-one", nargs="+", default=None, help=argparse.SUPPRESS)  # internal
    ap.add_argument("--no-progress", action="store_true", help="no progress bar over the jobs")
    a = ap.parse_args(argv)
    try:
        if a.run_one is not None:
            p = load_params(a.params, a.profile, a.data)
            if a.run_one == ["search"]:
                run_one(p, None, None)
            elif len(a.run_one) == 2:
                run_one(p, int(a.run_one[0]), a.run_one[1])
            else:
                ap.error("--run-one takes 'search' or SEED NAME")
            return 0
        return 1 if prefill(a.params, a.profile, a.jobs, not a.no_progress, a.data) else 0
    except (OSError, ValueError) as e:  # FileNotFoundError, a read-only folder, bad input
        print(f"error: {e}", file=sys.stderr)
        return 2
    except PrefillBusy as e:
        print(f"error: {e}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
