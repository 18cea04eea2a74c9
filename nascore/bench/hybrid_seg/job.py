"""The benchmark job: sample, budget pilot, main table, second seeds; resumable, parallel.

Protocol (:class:`JobConfig` holds every number):

1. **Sample** ``n_archs`` architectures (:func:`.sample.stratified_sample`, seed
   ``sample_seed``) plus the reference rows (:func:`.sample.reference_archs`). The sample is
   written once to ``<name>_sample.json`` and read back on resume.
2. **Pilot** (:func:`run_pilot`): ``pilot_archs`` architectures spanning the FLOPs range
   (:func:`.sample.spanning_subset`), trained with each of ``pilot_seeds`` at the candidate
   budgets in increasing order. After each budget the seed-to-seed Kendall τ of the validation
   tumour Dice is computed; the first (cheapest) budget with τ >= ``tau_threshold`` is chosen and
   the larger ones are not run. If none reaches it, the largest is used and the choice says
   ``criterion_met: false``. Table ``<name>_pilot.csv``, choice ``<name>_pilot.json``.
3. **Main** (:func:`run_main`): every sample and reference architecture with seed
   ``main_seed`` at the chosen budget, and ``n_second_seed`` of them (the pilot architectures
   first, then one per stratum in sample order) with ``second_seed``. Pilot rows with the
   chosen budget and the same recipe are copied, not retrained. Table ``<name>.csv``.

Trainings run through an executor: ``"process"`` (a ``ProcessPoolExecutor`` of ``workers``
processes, spawn start, one torch thread each), ``"dask"`` (a Dask ``LocalCluster`` of
``workers`` single-threaded workers), a Dask scheduler address (``"tcp://host:8786"``: a real
cluster, whose workers need the same nascore install and data), or ``"serial"`` (in-process).
Rows are appended as they finish (:class:`.table.BenchTable`), so a killed job resumes with
nothing lost or repeated; ``max_tasks`` and ``time_limit_s`` stop it cleanly earlier (to fit
a working session), and failures are appended to ``<name>_failures.jsonl`` with their error.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ... import provenance
from ...arch import HybridSegArch
from ...corr import correlate
from ...progress import tqdm
from ...space import HybridSegSpace
from .recipe import Recipe, train_row
from .sample import attn_group, flops_bin, reference_archs, spanning_subset, stratified_sample
from .table import BenchTable, recipe_id


@dataclass
class JobConfig:
    """Settings of the job (see the module docstring)."""

    name: str = "hybrid_lgg"
    n_archs: int = 120
    sample_seed: int = 0
    n_flops_bins: int = 4
    pool_size: int = 1500
    include_references: bool = True
    best_arch_path: Optional[str] = None
    pilot_archs: int = 12
    pilot_seeds: Tuple[int, int] = (0, 1)
    pilot_budgets: Tuple[int, ...] = (150, 300, 600)
    tau_threshold: float = 0.6
    main_seed: int = 0
    second_seed: int = 1
    n_second_seed: int = 24
    second_seed_non_pilot: bool = False
    budget: Optional[int] = None
    workers: int = 2
    executor: str = "process"
    max_tasks: Optional[int] = None
    time_limit_s: Optional[float] = None
    progress: bool = True

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["pilot_seeds"], d["pilot_budgets"] = list(self.pilot_seeds), list(self.pilot_budgets)
        return d


# ----------------------------------------------------------------------------- sample
def _flops_fn(recipe: Recipe) -> Callable:
    from ...seg.cost import SegCostFn

    cost = SegCostFn(recipe.channels, 1)
    return cost.flops


def load_or_make_sample(cfg: JobConfig, recipe: Recipe, out_dir: Path) -> Dict[str, Any]:
    """The sample (and references) of ``<name>_sample.json``; made and written when absent.

    Raises:
        ValueError: when the stored sample was made with other settings (naming the file).
    """
    path = out_dir / f"{cfg.name}_sample.json"
    settings = {"n_archs": cfg.n_archs, "sample_seed": cfg.sample_seed,
                "n_flops_bins": cfg.n_flops_bins, "pool_size": cfg.pool_size,
                "resolution": recipe.resolution, "channels": recipe.channels,
                "include_references": cfg.include_references}
    if recipe.arch_resolutions:  # (absent otherwise: samples made before the knob stay valid)
        settings["arch_resolutions"] = list(recipe.arch_resolutions)
    if path.is_file():
        d = json.loads(path.read_text())
        if d["settings"] != settings:
            raise ValueError(f"{path} was made with {d['settings']}, this job has {settings}; "
                             "use another --name or out dir")
        for r in d["rows"]:
            r["arch"] = HybridSegArch.from_json(r["arch_json"])
        return d
    s = stratified_sample(HybridSegSpace(), cfg.n_archs, _flops_fn(recipe), seed=cfg.sample_seed,
                          resolution=recipe.resolution, n_flops_bins=cfg.n_flops_bins,
                          pool_size=cfg.pool_size, progress=cfg.progress,
                          resolutions=recipe.arch_resolutions or None)
    rows = [dict(r, role="sample") for r in s["rows"]]
    if cfg.include_references:
        f = _flops_fn(recipe)
        edges = np.asarray(s["edges"])
        for role, arch, source in reference_archs(recipe.resolution, cfg.best_arch_path):
            fl = float(f(arch))
            rows.append({"arch": arch, "arch_id": arch.arch_id, "flops": fl,
                         "flops_bin": flops_bin(fl, edges), "attn_group": attn_group(arch),
                         "stratum": "reference", "role": role, "source": source})
    d = {"settings": settings, "edges": s["edges"], "counts": s["counts"], "taken": s["taken"],
         "quota": s["quota"], "shortfall": s["shortfall"], "rows": rows}
    out = dict(d, rows=[{k: v for k, v in r.items() if k != "arch"} | {"arch_json": r["arch"].to_json()}
                        for r in rows])
    out["provenance"] = provenance.provenance(settings, cfg.sample_seed)
    provenance.write_json(path, out)
    for r in rows:
        r["arch_json"] = r["arch"].to_json()
    return d


# ----------------------------------------------------------------------------- running tasks
def make_task(row: Dict[str, Any], seed: int, budget: int, recipe: Recipe) -> Dict[str, Any]:
    return {"arch_json": row["arch_json"], "arch_id": row["arch_id"], "seed": int(seed),
            "budget": int(budget), "recipe": recipe.to_dict(), "role": row.get("role", "sample"),
            "flops_bin": row.get("flops_bin"), "attn_group": row.get("attn_group")}


class _Serial(cf.Executor):
    def submit(self, fn, *args, **kwargs):
        f: cf.Future = cf.Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 - handed to the caller through the future
            f.set_exception(e)
        return f


def open_executor(kind: str, workers: int):
    """``(executor, closer)`` for ``"serial"``, ``"process"``, ``"dask"`` or a scheduler address."""
    if kind == "serial" or workers < 1:
        return _Serial(), lambda: None
    if kind == "process":
        import multiprocessing as mp

        ex = cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))
        return ex, lambda: ex.shutdown(wait=True, cancel_futures=True)
    if kind == "dask" or "://" in kind:
        from dask.distributed import Client, LocalCluster

        if kind == "dask":
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)
            client = Client(cluster)
        else:
            cluster, client = None, Client(kind)

        def close():
            client.close()
            if cluster is not None:
                cluster.close()
        return client.get_executor(), close
    raise ValueError(f"executor must be 'serial', 'process', 'dask' or a scheduler address, got {kind!r}")


def run_tasks(tasks: Sequence[Dict[str, Any]], table: BenchTable, cfg: JobConfig,
              failures_path: Optional[Path] = None, desc: str = "train") -> Dict[str, int]:
    """Trains every task whose key is not in ``table`` and appends its row as it finishes.

    Returns:
        ``{"done": rows appended now, "skipped": already in the table, "failed": n,
        "left": tasks not started (max_tasks / time limit)}``.
    """
    rid = recipe_id(tasks[0]["recipe"]) if tasks else ""
    keys = table.keys()
    todo = [t for t in tasks if (t["arch_id"], t["seed"], t["budget"], rid) not in keys]
    skipped = len(tasks) - len(todo)
    if cfg.max_tasks is not None:
        todo = todo[:max(0, int(cfg.max_tasks))]
    left = len(tasks) - skipped - len(todo)
    sha = provenance.git_sha()
    done = failed = 0
    t_start = time.monotonic()
    bar = None
    if cfg.progress and todo:
        bar = tqdm(total=len(todo), desc=desc, mininterval=5.0)
    ex, close = open_executor(cfg.executor, cfg.workers)
    try:
        pending: Dict[cf.Future, Dict[str, Any]] = {}
        queue = list(todo)
        cap = max(1, cfg.workers) * 2

        def out_of_time() -> bool:
            return cfg.time_limit_s is not None and time.monotonic() - t_start > cfg.time_limit_s

        while queue or pending:
            while queue and len(pending) < cap and not out_of_time():
                t = queue.pop(0)
                pending[ex.submit(train_row, t)] = t
            if not pending:
                break
            fin, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
            for f in fin:
                t = pending.pop(f)
                try:
                    row = f.result()
                except Exception as e:  # noqa: BLE001 - a failed training is recorded, not fatal
                    failed += 1
                    if failures_path is not None:
                        rec = {"arch_id": t["arch_id"], "seed": t["seed"], "budget": t["budget"],
                               "error": f"{type(e).__name__}: {e}", "git_sha": sha,
                               "timestamp": provenance.provenance()["timestamp"]}
                        failures_path.parent.mkdir(parents=True, exist_ok=True)
                        with open(failures_path, "a") as fh:
                            fh.write(json.dumps(rec) + "\n")
                    continue
                row.update(recipe_id=rid, prov_git_sha=sha,
                           prov_timestamp=provenance.provenance()["timestamp"])
                if table.append(row):
                    done += 1
                if bar is not None:
                    bar.update(1)
        left += len(queue)
    finally:
        close()
        if bar is not None:
            bar.close()
    return {"done": done, "skipped": skipped, "failed": failed, "left": left}


# ----------------------------------------------------------------------------- pilot and main
def seed_tau(df, a: int, b: int, metric: str = "val_dice_tumor", n_boot: int = 1000,
             seed: int = 0) -> Dict[str, Any]:
    """Kendall τ and Spearman ρ (with paired-bootstrap 95% CIs) between seeds ``a`` and ``b``
    of the same architectures in ``df`` (:func:`nascore.corr.correlate`)."""
    pa = df[df["seed"] == a].set_index("arch_id")[metric]
    pb = df[df["seed"] == b].set_index("arch_id")[metric]
    common = pa.index.intersection(pb.index)
    if len(common) < 3:
        return {"n": int(len(common)), "kendall": float("nan"), "spearman": float("nan"),
                "ci95_kendall": [float("nan")] * 2, "ci95_spearman": [float("nan")] * 2}
    import warnings

    with warnings.catch_warnings():  # scipy warns on degenerate resamples of tiny samples
        warnings.simplefilter("ignore")
        c = correlate(pa.loc[common].to_numpy(), pb.loc[common].to_numpy(), n_boot=n_boot,
                      seed=seed, nan_policy="drop")
    return {"n": int(c["n"]), "kendall": c["kendall"], "spearman": c["spearman"],
            "ci95_kendall": list(c["ci95_kendall"]), "ci95_spearman": list(c["ci95_spearman"])}


def _header(cfg: JobConfig, recipe: Recipe, part: str) -> Dict[str, Any]:
    return {"part": part, "job": cfg.to_dict(), "recipe": recipe.to_dict(),
            "recipe_id": recipe_id(recipe.to_dict())}


def choose_budget(per_budget: Sequence[Dict[str, Any]], threshold: float) -> Optional[int]:
    """The pilot's rule: the cheapest budget whose seed-to-seed Kendall τ (``"kendall"``) is
    at least ``threshold``; None when no budget meets it (NaN never does).

    Args:
        per_budget: one ``{"budget": steps, "kendall": tau, ...}`` per budget run.
        threshold: the τ a budget must reach (0.7 for the full-data ground truth).
    """
    ok = [int(b["budget"]) for b in per_budget
          if b.get("kendall") is not None and np.isfinite(b["kendall"]) and b["kendall"] >= threshold]
    return min(ok) if ok else None


def run_pilot(cfg: JobConfig, recipe: Recipe, out_dir) -> Dict[str, Any]:
    """Runs (or resumes) the budget pilot and writes ``<name>_pilot.json``; returns the choice
    (``{"budget", "criterion_met", "per_budget": [...], "complete"}``)."""
    out_dir = Path(out_dir)
    sample = load_or_make_sample(cfg, recipe, out_dir)
    archs = spanning_subset([r for r in sample["rows"] if r["role"] == "sample"], cfg.pilot_archs)
    table = BenchTable(out_dir / f"{cfg.name}_pilot.csv", _header(cfg, recipe, "pilot"))
    rid = recipe_id(recipe.to_dict())
    per_budget, chosen, complete = [], None, True
    for b in sorted(cfg.pilot_budgets):
        tasks = [make_task(r, s, b, recipe) for r in archs for s in cfg.pilot_seeds]
        st = run_tasks(tasks, table, cfg, out_dir / f"{cfg.name}_failures.jsonl",
                       desc=f"pilot budget {b}")
        df = table.frame()
        df = df[(df["budget"] == b) & (df["recipe_id"] == rid)]
        tau = seed_tau(df, cfg.pilot_seeds[0], cfg.pilot_seeds[1])
        per_budget.append({"budget": b, **tau, "n_rows": int(len(df)),
                           "mean_val_dice_tumor": float(df["val_dice_tumor"].mean()) if len(df) else None,
                           "mean_train_time_s": float(df["train_time_s"].mean()) if len(df) else None})
        if st["left"] or st["failed"] or len(df) < len(tasks):
            complete = False  # failed tasks are retried by the next run
            break
        chosen = choose_budget(per_budget, cfg.tau_threshold)
        if chosen is not None:
            break
    met = chosen is not None
    if chosen is None and complete:
        chosen = max(cfg.pilot_budgets)
    choice = {"budget": chosen, "criterion_met": met, "complete": complete,
              "rule": (f"the cheapest of {sorted(cfg.pilot_budgets)} steps whose seed-to-seed "
                       f"Kendall tau of val_dice_tumor over {len(archs)} architectures x seeds "
                       f"{list(cfg.pilot_seeds)} is >= {cfg.tau_threshold}; budgets run cheapest "
                       "first, larger ones not run once one passes"),
              "pilot_arch_ids": [r["arch_id"] for r in archs], "per_budget": per_budget,
              "recipe": recipe.to_dict(), "recipe_id": rid}
    def finite(v):  # strict JSON: NaN (a budget with too few pairs) becomes null
        if isinstance(v, (list, tuple)):
            return [finite(x) for x in v]
        return None if isinstance(v, float) and not np.isfinite(v) else v

    choice["per_budget"] = [{k: finite(v) for k, v in pb.items()} for pb in per_budget]
    provenance.write_metrics(out_dir / f"{cfg.name}_pilot.json", choice, cfg.to_dict(), cfg.sample_seed)
    return choice


def main_tasks(cfg: JobConfig, recipe: Recipe, sample: Dict[str, Any], budget: int,
               pilot_ids: Sequence[str]) -> List[Dict[str, Any]]:
    """The main job's tasks, in the order they run: references, then the sample in its
    round-robin stratum order with the second-seed tasks interleaved (one after every few
    first-seed tasks), so that a partial table is already stratified and has second seeds."""
    rows = sample["rows"]
    refs = [r for r in rows if r["role"] != "sample"]
    smp = [r for r in rows if r["role"] == "sample"]
    pilot = set(pilot_ids)
    if cfg.second_seed_non_pilot:  # the noise ceiling is then measured off the pilot's archs
        second: List[Dict[str, Any]] = []
        smp_second = [r for r in smp if r["arch_id"] not in pilot]
    else:
        second = [r for r in smp if r["arch_id"] in pilot]
        smp_second = smp
    seen_strata = {r["stratum"] for r in second}
    for r in smp_second:
        if len(second) >= cfg.n_second_seed:
            break
        if r not in second and r["stratum"] not in seen_strata:
            second.append(r)
            seen_strata.add(r["stratum"])
    for r in smp_second:
        if len(second) >= cfg.n_second_seed:
            break
        if r not in second:
            second.append(r)
    first = [make_task(r, cfg.main_seed, budget, recipe) for r in refs + smp]
    sec = [make_task(r, cfg.second_seed, budget, recipe) for r in second[:cfg.n_second_seed]]
    every = max(1, len(first) // max(1, len(sec)))
    out: List[Dict[str, Any]] = []
    for i, t in enumerate(first):
        out.append(t)
        if sec and (i + 1) % every == 0:
            out.append(sec.pop(0))
    return out + sec


def run_main(cfg: JobConfig, recipe: Recipe, out_dir, budget: Optional[int] = None) -> Dict[str, Any]:
    """Runs (or resumes) the main table at ``budget`` (default: the pilot's choice, or
    ``cfg.budget``). Copies pilot rows with the same key instead of retraining them.

    Raises:
        ValueError: without a budget when the pilot has not chosen one.
    """
    out_dir = Path(out_dir)
    sample = load_or_make_sample(cfg, recipe, out_dir)
    pilot_path = out_dir / f"{cfg.name}_pilot.json"
    pilot = json.loads(pilot_path.read_text()) if pilot_path.is_file() else {}
    budget = budget or cfg.budget or pilot.get("budget")
    if not budget:
        raise ValueError(f"no budget: run the pilot first ({pilot_path}) or pass budget")
    table = BenchTable(out_dir / f"{cfg.name}.csv", _header(cfg, recipe, "main") | {"budget": budget})
    tasks = main_tasks(cfg, recipe, sample, int(budget), pilot.get("pilot_arch_ids", []))
    copied = 0
    ppath = out_dir / f"{cfg.name}_pilot.csv"
    if ppath.is_file():
        rid = recipe_id(recipe.to_dict())
        want = {(t["arch_id"], t["seed"], t["budget"], rid) for t in tasks}
        for r in BenchTable(ppath).frame().to_dict("records"):
            if (r["arch_id"], int(r["seed"]), int(r["budget"]), r["recipe_id"]) in want:
                copied += bool(table.append(r))
    st = run_tasks(tasks, table, cfg, out_dir / f"{cfg.name}_failures.jsonl", desc=f"main budget {budget}")
    return {"budget": int(budget), "n_tasks": len(tasks), "copied_from_pilot": copied, **st,
            "rows": len(table)}
