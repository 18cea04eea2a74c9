"""``python -m nascore.experiments.seg_cv``: notebook 04's comparison, cross-validated over
patients, as one resumable command (:func:`nascore.seg.crossval.run_cv`).

Examples::

    # the whole LGG set, 5 folds, 740 optimisation steps per model, every fold in turn
    python -m nascore.experiments.seg_cv notebooks/params/full/04_segmentation_finetune.yaml \\
        --data lgg_full --folds 5 --steps 740
    # one fold per call (chunks that fit a time limit), then the pooled report
    python -m nascore.experiments.seg_cv PARAMS.yaml --folds 5 --steps 740 --fold 2
    python -m nascore.experiments.seg_cv PARAMS.yaml --folds 5 --steps 740 --report-only

The parameters are notebook 04's (its defaults, overridden by the YAML file, as papermill
does); ``--data``, ``--folds``, ``--steps`` and ``--seeds`` override them. Everything goes to
``reports/<profile>/04_segmentation_finetune_cv/`` (or ``--out``): ``folds/<run key>/fold<i>/``
(the key hashes the data, arch and settings, so other settings never meet these folds) as each
fold finishes, then ``summary.csv`` (per model, over every tested patient, with bootstrap CIs),
``paired.csv`` (searched minus each other model, paired CIs) and ``metrics.json`` (dataset,
folds, patients per fold, steps, the targets as measured) from the folds finished so far. A
killed run loses at most the fold in progress, whose checkpoints resume it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from ..paths import reports_dir
from ..provenance import write_csv, write_metrics
from ..seg.crossval import run_cv
from .seg_notebook import (  # noqa: F401
    COST_FRAC,
    DICE_MARGIN,
    HALFWIDTH_TARGET,
    cv_config,
    cv_metrics,
    cv_targets,
    prepare,
)
from .seg_prefill import load_params

NAME = "04_segmentation_finetune_cv"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m nascore.experiments.seg_cv",
                                description=" ".join(__doc__.split("\n\n")[0].split()),
                                epilog="PARAMS.yaml: notebook 04's parameters, e.g. "
                                       "notebooks/params/full/04_segmentation_finetune.yaml")
    p.add_argument("params", nargs="?", default=None, help="notebook-04 parameter YAML")
    p.add_argument("--profile", default=None, help="smoke, default or full (default: the file's)")
    p.add_argument("--data", default=None, help="dataset name or prepared folder")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--steps", type=int, default=None,
                   help="optimisation steps of every model in every fold (default: epochs x "
                        "batches of each fold)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="seeds of every model (default: the parameters' cv_seeds)")
    p.add_argument("--baselines", nargs="+", default=None,
                   help="baselines to compare (default: the parameters' cv_baselines, e.g. "
                        "hctnet_like unet swinunetr unetr dynunet)")
    p.add_argument("--fold", type=int, nargs="+", default=None, help="run only these folds")
    p.add_argument("--report-only", action="store_true", help="pool the finished folds; train none")
    p.add_argument("--device", default=None, help="auto (cuda when available), cpu or cuda")
    p.add_argument("--out", default=None)
    p.add_argument("--no-progress", action="store_true")
    return p


def setup(params: Dict[str, Any], folds: int, steps: Optional[int]):
    """``(records, info, arch, arch_source, config)`` of the parameters (see the module docstring),
    prepared as notebook 04 prepares them (:func:`~.seg_notebook.prepare`).

    Raises:
        ValueError: CUDA asked for but absent, ``steps < 1``, or a bad parameter (named).
    """
    import torch

    if str(params.get("device", "auto")).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {params['device']!r} asked for, but torch sees no CUDA device here "
                         "(use --device auto or cpu)")
    if steps is not None and steps < 1:
        raise ValueError(f"--steps must be >= 1, got {steps}")
    run = prepare(params)
    cfg = run["cfg"]
    cfg.folds, cfg.steps, cfg.checkpoint_root = int(folds), steps, None
    return run["records"], run["info"], run["arch"], run["arch_source"], cfg


#: The targets as measured (kept under this name for the command's users).
targets = cv_targets


def main(argv: Optional[Sequence[str]] = None) -> int:
    a = _parser().parse_args(argv)
    try:
        p = load_params(a.params, a.profile, data=a.data)
        for k in ("seeds", "baselines"):  # the cross-validation's own (notebook 04: cv_seeds, cv_baselines)
            if getattr(a, k) is not None:
                p[f"cv_{k}"] = list(getattr(a, k))
        if a.device is not None:
            p["device"] = a.device
        records, info, arch, source, cfg = setup(p, a.folds, a.steps)
        out = Path(a.out) if a.out else reports_dir(p["profile"], NAME)
        cfg, key = cv_config(cfg, arch, info, out, a.folds, a.steps, seeds=p.get("cv_seeds"),
                             baselines=p.get("cv_baselines"))
        cfg.progress = not a.no_progress
        print(f"data: {info['description']} | input arch: {source} | {a.folds} folds, "
              f"{a.steps or 'epochs x batches'} steps | -> {out}")
        if not a.report_only:
            run_cv(arch, records, cfg, folds=a.folds, out_dir=out / "folds" / key,
                   fold_indices=a.fold, progress=not a.no_progress)
        cv = run_cv(arch, records, cfg, folds=a.folds, out_dir=out / "folds" / key, missing="skip",
                    progress=False)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    config = {**p, "folds": a.folds, "steps": a.steps, "data_info": info,
              "input_arch_source": source, "input_arch_id": arch.arch_id, "run_key": key}
    metrics: Dict[str, Any] = {"dataset": info["description"], **cv_metrics(cv, a.folds, a.steps)}
    if metrics["folds_done"]:
        write_csv(out / "summary.csv", cv.summary(), config, cfg.split_seed)
        write_csv(out / "paired.csv", cv.paired(), config, cfg.split_seed)
        write_csv(out / "val_curves.csv", cv.val_curves, config, cfg.split_seed)
    write_metrics(out / "metrics.json", metrics, config, cfg.split_seed)
    print(json.dumps({k: metrics[k] for k in ("folds_done", "complete", "n_patients_tested")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
