"""Parallel prefill of the notebook-02 score cache from a parameter file (one shard per process).

``python -m nascore.experiments.proxy_corr PARAMS.yaml --shard I K [--threads T]``
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from ...cache import ScoreCache
from ...paths import repo_root
from ...provenance import provenance, write_json
from ..hybrid_lgg import run_section
from .inputs import default_cache_path, sample_autoformer, sample_nb201
from .scoring import score_autoformer, score_nb201


def nb201_jobs(params: Mapping[str, Any], proxies: Sequence[str], extra: Sequence[str],
               cells: pd.DataFrame) -> List[tuple]:
    """The NB201 scoring jobs of a notebook-02 parameter set: ``[(dataset, cells, proxies)]``.

    ``proxies`` are scored on the first ``n_nb201`` cells for CIFAR-10 and on the first
    ``n_nb201_other`` (default: all) for the other datasets; ``extra`` proxies only on the first
    ``n_extra`` CIFAR-10 cells (cheaper sizes for costly proxies; ``n`` per proxy is reported).
    """
    n_other = params.get("n_nb201_other") or len(cells)
    n_extra = params.get("n_extra") or len(cells)
    jobs = []
    for ds in params.get("datasets", ["cifar10"]):
        sub = cells if ds == "cifar10" else cells.iloc[:n_other]
        jobs.append((ds, sub, list(proxies)))
        if ds == "cifar10" and extra:
            jobs.append((ds, cells.iloc[:n_extra], list(extra)))
    return jobs


def autoformer_rows(params: Mapping[str, Any]) -> pd.DataFrame:
    """The AutoFormer subnets of a parameter set.

    ``vit_source`` first keeps one source file only; ``n_vit`` then takes a seeded sample.
    """
    src = params.get("vit_source")
    n, seed = params.get("n_vit"), params.get("seed", 0)
    if not src:
        return sample_autoformer(n, seed=seed)
    rows = sample_autoformer(None)
    rows = rows[rows["source"] == src].reset_index(drop=True)
    if rows.empty:
        raise ValueError(f"vit_source: no AutoFormer subnets from {src!r}")
    if n is None or n >= len(rows):
        return rows
    keep = np.sort(np.random.default_rng(seed).permutation(len(rows))[:n])
    return rows.iloc[keep].reset_index(drop=True)


def prefill(params: Mapping[str, Any], shard: tuple = (0, 1), cache_path: Optional[Path] = None,
            progress: bool = True) -> int:
    """Fills the score cache for a notebook-02 parameter set (one shard of every net list).

    Run ``k`` of these in parallel (``shard=(i, k)``, e.g. one per GPU/CPU group), then run the
    notebook with the same parameters: it finds every score cached. Scores computed while
    processes compete for a device have inflated ``time_s``.

    Args:
        params: the notebook parameters (e.g. a ``notebooks/params/<profile>/02_*.yaml``);
            missing keys take the smoke defaults of the notebook.
        shard: ``(i, k)``.

    Returns:
        The number of (net, proxy) rows covered by this shard.
    """
    import torch

    from ...proxies import PROXIES

    p = {"n_nb201": 20, "n_vit": 3, "proxies": ["params"], "vit_proxies": None,
         "datasets": ["cifar10"], "batch_size": 16, "vit_batch_size": 16, "input_kind": "real",
         "seed": 0, "device": "auto", "extra_proxies": [], **dict(params)}
    names = list(PROXIES.names()) if p["proxies"] == "all" else list(p["proxies"])
    vit = p["vit_proxies"] or names
    vit = list(PROXIES.names()) if vit == "all" else list(vit)
    names = [n for n in names if n in PROXIES.names()]
    extra = [n for n in (p["extra_proxies"] or []) if n in PROXIES.names() and n not in names]
    vit = [n for n in vit if n in PROXIES.names()]
    dev = ("cuda" if torch.cuda.is_available() else "cpu") if p["device"] == "auto" else p["device"]
    cache = ScoreCache(cache_path or default_cache_path())
    total = 0
    if p["n_nb201"]:
        cells = sample_nb201(p["n_nb201"], seed=p["seed"])
        for ds, sub, prox in nb201_jobs(p, names, extra, cells):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                total += len(score_nb201(sub, prox, ds, p["batch_size"], p["seed"], cache, progress,
                                         p["input_kind"], device=dev, shard=shard))
    if p["n_vit"] != 0:  # None = every subnet (of vit_source), as in the notebook
        rows = autoformer_rows(p)
        total += len(score_autoformer(rows, vit, p["vit_batch_size"], p["seed"], cache, progress,
                                      p["input_kind"], device=dev, shard=shard))
    return total


def run_section_into_metrics(params: Mapping[str, Any], section: str) -> Path:
    """Runs one notebook-02 section (``hybrid_lgg``, ``hybrid_v2`` or ``hybrid_v3``) with ``params`` and merges its block into
    ``reports/<profile>/02_proxy_correlation/metrics.json`` (atomic; the block records its own
    provenance under ``"section_provenance"``, since the rest of the file is older).

    Raises:
        ValueError: for an unknown section or a params file without ``profile``.
    """
    import json

    if section not in ("hybrid_lgg", "hybrid_v2", "hybrid_v3"):
        raise ValueError(f"unknown section {section!r} (known: hybrid_lgg, hybrid_v2, hybrid_v3)")
    if "profile" not in params:
        raise ValueError("the parameter file has no 'profile'")
    out = repo_root() / "reports" / str(params["profile"]) / "02_proxy_correlation"
    if section in ("hybrid_v2", "hybrid_v3"):
        from ..hybrid_protocol.run import metrics_block

        res = metrics_block(repo_root() / "reports" / "benchmarks" / section)
        if "skipped" in res:  # keep whatever block is there
            raise FileNotFoundError(res["skipped"])
    else:
        names = params.get("hybrid_lgg_proxies", "all")
        res = run_section(out, proxies=None if names == "all" else list(names),
                          seed=int(params.get("seed", 0)), n_boot=int(params.get("n_boot", 1000)),
                          max_archs=params.get("hybrid_lgg_max_archs"),
                          cache_path=out / "cache" / "hybrid_lgg_scores.sqlite", progress=True)
    res["section_provenance"] = provenance({"section": section, **dict(params)},
                                           int(params.get("seed", 0)))
    mpath = out / "metrics.json"
    metrics = json.loads(mpath.read_text()) if mpath.is_file() else {}
    metrics[section] = res
    write_json(mpath, metrics)
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    """CLI: ``python -m nascore.experiments.proxy_corr PARAMS.yaml --shard I K [--threads T]``."""
    import argparse

    import torch
    import yaml

    ap = argparse.ArgumentParser(prog="python -m nascore.experiments.proxy_corr",
                                 description="Prefill the notebook-02 score cache (one shard).")
    ap.add_argument("params", type=Path, help="notebooks/params/<profile>/02_proxy_correlation.yaml")
    ap.add_argument("--shard", type=int, nargs=2, default=(0, 1), metavar=("I", "K"))
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    ap.add_argument("--section", choices=["hybrid_lgg", "hybrid_v2", "hybrid_v3"], default=None,
                    help="instead of prefilling, run this one notebook section into "
                         "reports/<profile>/02_proxy_correlation/ and merge its block into that "
                         "metrics.json (the executed notebook is not re-run)")
    a = ap.parse_args(argv)
    if not a.params.is_file():
        raise FileNotFoundError(f"parameter file {a.params} not found")
    params = yaml.safe_load(a.params.read_text()) or {}
    if not isinstance(params, dict):
        raise ValueError(f"parameter file {a.params} must hold a mapping")
    torch.set_num_threads(a.threads)
    if a.section:
        out = run_section_into_metrics(params, a.section)
        print(f"section {a.section} written; metrics.json updated in {out}")
        return 0
    n = prefill(params, tuple(a.shard))
    print(f"shard {a.shard[0]}/{a.shard[1]}: {n} (net, proxy) scores cached in {default_cache_path()}")
    return 0
