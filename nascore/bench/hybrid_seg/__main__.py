"""``python -m nascore.bench.hybrid_seg``: run or resume the hybrid segmentation mini-benchmark.

Examples::

    python -m nascore.bench.hybrid_seg run                      # pilot, then the main table
    python -m nascore.bench.hybrid_seg run --time-limit 3600    # stop cleanly after an hour
    python -m nascore.bench.hybrid_seg status
    python -m nascore.bench.hybrid_seg run --data synthetic --n-archs 12 --pilot-budgets 2 4 \\
        --pool-size 40 --out scratch/bench                       # a tiny dry run
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ... import paths
from ...provenance import write_metrics
from .analysis import table_summary
from .job import JobConfig, run_main, run_pilot
from .recipe import Recipe, load_split
from .table import read_table


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m nascore.bench.hybrid_seg",
                                description="Trained mini-benchmark of HybridSegSpace networks "
                                            "(resumable: rerun the same command to continue).")
    p.add_argument("command", choices=("run", "pilot", "main", "status"))
    p.add_argument("--out", default=None, help="output folder (default <repo>/reports/benchmarks)")
    p.add_argument("--name", default=None,
                   help="table name prefix (default hybrid_<data>, e.g. hybrid_lgg)")
    p.add_argument("--data", default="lgg",
                   help="dataset of nascore.seg.datasets: lgg, msd_brain, synthetic, auto, or the "
                        "path of a folder prepared by data_prep (default lgg)")
    p.add_argument("--resolution", type=int, default=64, help="training resolution in px (default 64)")
    p.add_argument("--channels", type=int, default=3, choices=(1, 3))
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--n-archs", type=int, default=120)
    p.add_argument("--pool-size", type=int, default=1500)
    p.add_argument("--n-flops-bins", type=int, default=4)
    p.add_argument("--pilot-archs", type=int, default=12)
    p.add_argument("--pilot-budgets", type=int, nargs="+", default=[150, 300, 600])
    p.add_argument("--tau-threshold", type=float, default=0.6,
                   help="the pilot's seed-to-seed Kendall tau a budget must reach (default 0.6)")
    p.add_argument("--n-second-seed", type=int, default=24)
    p.add_argument("--second-seed-non-pilot", action="store_true",
                   help="train the second seed (noise ceiling) on architectures not in the pilot")
    p.add_argument("--folds", type=int, default=0,
                   help="train/validate on one fold of the patient-level K-fold CV (0: the "
                        "70/15/15 split by split seed 0; 5 with --fold 0: notebook 04's fold 0)")
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--arch-resolutions", type=int, nargs="+", default=None,
                   help="sample each architecture's input resolution from these (the space's "
                        "resolution knob, e.g. 64 96 128); --resolution is then the side of the "
                        "masks Dice is measured on")
    p.add_argument("--budget", type=int, default=None, help="main budget (default: the pilot's choice)")
    p.add_argument("--no-references", action="store_true", help="leave out the reference rows")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--executor", default="process",
                   help="process, dask, serial, or a Dask scheduler address tcp://host:8786")
    p.add_argument("--max-tasks", type=int, default=None, help="train at most this many now")
    p.add_argument("--time-limit", type=float, default=None, help="start no task after this many s")
    p.add_argument("--no-progress", action="store_true")
    return p


def default_name(data: str) -> str:
    """``hybrid_<data>``: the dataset name, or the folder name of a prepared-folder path."""
    import re

    tag = Path(str(data)).name or str(data)
    return "hybrid_" + (re.sub(r"[^A-Za-z0-9]+", "_", tag).strip("_").lower() or "data")


def write_summary(out: Path, name: str) -> dict:
    """Writes ``<name>_summary.json`` (:func:`.analysis.table_summary` of ``<name>.csv``, with
    provenance) and returns it."""
    pj = out / f"{name}_pilot.json"
    pilot = json.loads(pj.read_text()).get("pilot_arch_ids", []) if pj.is_file() else []
    summ = table_summary(read_table(out / f"{name}.csv"), pilot_ids=pilot)
    write_metrics(out / f"{name}_summary.json", summ, {"table": f"{name}.csv"}, 0)
    return summ


def main(argv=None) -> int:
    a = _parser().parse_args(argv)
    if a.name is None:
        a.name = default_name(a.data)

    out = Path(a.out) if a.out else paths.repo_root() / "reports" / "benchmarks"
    try:
        recipe = Recipe(data=a.data, resolution=a.resolution, channels=a.channels,
                        batch_size=a.batch_size, device=a.device, folds=a.folds, fold=a.fold,
                        arch_resolutions=tuple(a.arch_resolutions or ()))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cfg = JobConfig(name=a.name, n_archs=a.n_archs, pool_size=a.pool_size,
                    n_flops_bins=a.n_flops_bins, pilot_archs=a.pilot_archs,
                    pilot_budgets=tuple(a.pilot_budgets), n_second_seed=a.n_second_seed,
                    tau_threshold=a.tau_threshold, second_seed_non_pilot=a.second_seed_non_pilot,
                    budget=a.budget, include_references=not a.no_references, workers=a.workers,
                    executor=a.executor, max_tasks=a.max_tasks, time_limit_s=a.time_limit,
                    progress=not a.no_progress)
    try:
        if a.command == "status":
            for part in ("_pilot", ""):
                p = out / f"{a.name}{part}.csv"
                print(f"{p}: {len(read_table(p)) if p.is_file() else 0} rows")
            pj = out / f"{a.name}_pilot.json"
            if pj.is_file():
                d = json.loads(pj.read_text())
                print(f"pilot choice: budget {d['budget']} (criterion met: {d['criterion_met']})")
            if (out / f"{a.name}.csv").is_file():
                summ = write_summary(out, a.name)
                nc = summ["noise_ceiling"]
                print(f"noise ceiling (seed-to-seed Kendall, n={nc['n']}): {nc['kendall']:.3f} "
                      f"{[round(v, 3) for v in nc['ci95_kendall']]}; summary in {a.name}_summary.json")
            return 0

        load_split(recipe)  # the data exist and match the recipe, before any task starts
        choice = None
        if a.command in ("run", "pilot") and a.budget is None:
            choice = run_pilot(cfg, recipe, out)
            print(json.dumps({k: choice[k] for k in ("budget", "criterion_met", "complete")}))
            if a.command == "pilot" or not choice["complete"]:
                return 0
        res = run_main(cfg, recipe, out, budget=a.budget or (choice or {}).get("budget"))
        print(json.dumps(res))
        write_summary(out, a.name)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished rows are saved; rerun the same command to resume",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
