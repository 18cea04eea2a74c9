"""Notebook 02 step by step: each method of :class:`NotebookRun` is one notebook cell's work
(score NB201, score AutoFormer, correlate, reproduce, figures, TransNAS meta-analysis, metrics),
writing its files under ``reports/<profile>/02_proxy_correlation/`` and skipping, with a note,
what the data at hand does not allow.

Notebook use::

    run = NotebookRun(provenance.notebook_params(globals()))
    run.score_nb201(); run.score_autoformer()
    run.correlate()          # correlations.csv, scores.csv, timing.csv
    run.reproduce(); run.figures(); run.meta_analysis()
    run.write_metrics()      # metrics.json
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import pandas as pd

from ...cache import ScoreCache
from ...paths import data_root, has_data, repo_root, reports_dir
from ...plots.corr import heatmap, scatter_grid, timing_bars
from ...provenance import write_csv, write_metrics
from ...proxies.versions import code_version
from .. import transnas_meta as tm
from ..hybrid_lgg import run_section
from ..notebook_utils import save_and_close, torch_setup
from . import analysis as A
from . import references as R
from .cli import autoformer_rows, nb201_jobs
from .inputs import (
    SURROGATE_NOTE,
    default_cache_path,
    has_images,
    sample_nb201,
    truth_autoformer,
    truth_nb201,
)
from .scoring import POPULATION_AGGREGATES, add_rank_aggregates, score_autoformer, score_nb201

NOTEBOOK = "02_proxy_correlation"
NB201_TABLE = "nas/nb201/nb201_all15625_test_acc_200ep.csv"
AUTOFORMER_FILES = ("nas/vit_autoprox/autoprox_gt_autoformer.json",
                    "nas/vit_autoprox/autoprox_gt_autoformer_2.json")
TNB101_FILE = "nas/transnas_bench101/naslib_zc_transbench101_micro.json"
TABLE_COLUMNS = ["benchmark", "dataset", "proxy", "spearman", "kendall", "ci95_spearman_lo",
                 "ci95_spearman_hi", "pearson", "n", "n_failed", "top10"]
SHOW_COLUMNS = ["benchmark", "dataset", "proxy", "spearman", "kendall", "ci95_spearman_lo",
                "ci95_spearman_hi", "n", "n_failed", "top10"]
META_COLUMNS = ["space", "task", "n", "rule_spearman", "rule_ci95_lo", "rule_ci95_hi",
                "rule_equal_spearman", "best_single", "best_single_spearman", "rule_minus_best",
                "rule_columns"]


class NotebookRun:
    """The state of one notebook-02 run (see the module docstring).

    Args:
        params: the notebook parameters (:func:`nascore.provenance.notebook_params`):
            ``profile``, ``n_nb201``, ``n_vit``, ``proxies`` (list or ``"all"``),
            ``extra_proxies``, ``n_extra``, ``n_nb201_other``, ``vit_proxies``, ``vit_source``,
            ``datasets``, ``batch_size``, ``vit_batch_size``, ``input_kind``, ``seed``,
            ``n_boot``, ``device`` (``"auto"``: cuda when available), ``num_threads`` (0: torch
            default), ``run_transnas_meta``, ``use_cache``.

    Attributes:
        out: the output folder. config: the provenance config (the parameters, with the proxy
        lists and the device resolved, plus :func:`code_version`). notes: lines for
        ``metrics.json``.

    Raises:
        ValueError: for an unknown profile.
    """

    def __init__(self, params: Mapping[str, Any]) -> None:
        from ...proxies import PROXIES

        p = dict(params)
        self.dev = torch_setup(p)
        self.out = reports_dir(p["profile"], NOTEBOOK)
        names = set(PROXIES.names())
        proxies = list(PROXIES.names()) if p["proxies"] == "all" else list(p["proxies"])
        vit = list(PROXIES.names()) if p["vit_proxies"] == "all" else p["vit_proxies"]
        self.extra = [x for x in p["extra_proxies"] if x in names and x not in proxies]
        self.config = {**p, "proxies": list(proxies), "extra_proxies": self.extra,
                       "vit_proxies": vit, "datasets": list(p["datasets"]), "device": self.dev,
                       "code_version": code_version()}
        self.p = p
        self.seed, self.n_boot = int(p["seed"]), int(p["n_boot"])
        unknown = [x for x in proxies if x not in names]
        self.proxies = [x for x in proxies if x in names]
        self.vit_proxies = [x for x in (vit or self.proxies) if x in names]
        self.notes: List[str] = [f"device={self.dev}; proxies not registered and skipped: "
                                 f"{unknown or 'none'}"]
        self.cache = ScoreCache(default_cache_path()) if p["use_cache"] else None
        self.has_nb201 = has_data(NB201_TABLE)
        self.has_vit = all(has_data(f) for f in AUTOFORMER_FILES)
        self.has_img = {ds: has_images(ds, p["batch_size"])
                        for ds in ("cifar10", "cifar100", "imagenet16_120")}
        self.has_img["vit"] = has_images("cifar100", p["vit_batch_size"])
        self.has_tnb = has_data(TNB101_FILE)
        self.scores: List[pd.DataFrame] = []
        self.truths: Dict[str, Optional[pd.Series]] = {}
        self.cells: Optional[pd.DataFrame] = None
        self.vit_rows: Optional[pd.DataFrame] = None
        self.scores_all: Optional[pd.DataFrame] = None
        self.table: Optional[pd.DataFrame] = None
        self.rep: Optional[pd.DataFrame] = None
        self.meta: Optional[pd.DataFrame] = None
        out_rel = self.out.relative_to(repo_root()) if self.out.is_relative_to(repo_root()) else self.out
        print("outputs ->", out_rel, "| data root:", data_root())
        print(f"NB201 table: {self.has_nb201} | AutoFormer: {self.has_vit} | images: {self.has_img} "
              f"| TNB101: {self.has_tnb}")

    def _note(self, line: str) -> None:
        print("NOTE:", line)
        self.notes.append(line)

    # --- scoring ----------------------------------------------------------------------------
    def score_nb201(self) -> None:
        """Scores the NB201 sample on every dataset with real images (or Gaussian inputs)."""
        p = self.p
        if not self.has_nb201:
            print("NOTE: NB201 accuracy table missing under", data_root(), "-> NB201 part skipped "
                  "(set NASCORE_DATA to the shared data folder).")
            self.notes.append("NB201 skipped: ground-truth table not found")
            return
        self.cells = cells = sample_nb201(p["n_nb201"], seed=self.seed)
        print(f"{len(cells)} cells, {int(cells['degenerate'].sum())} degenerate")
        for ds, sub, prox in nb201_jobs(self.config, self.proxies, self.extra, cells):
            if p["input_kind"] == "real" and not self.has_img[ds]:
                print(f"NOTE: no {ds} images under {data_root()}/images -> NB201 {ds} skipped.")
                if ds not in self.truths:
                    self.notes.append(f"NB201 {ds} skipped: images not found")
                self.truths.setdefault(ds, None)
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the surrogate warning: stated below and in notes
                s = score_nb201(sub, prox, ds, batch_size=p["batch_size"], seed=self.seed,
                                cache=self.cache, input_kind=p["input_kind"], device=self.dev)
            self.scores.append(s)
            self.truths[ds] = truth_nb201(cells, ds)
            print(f"nb201/{ds}: {sub.shape[0]} cells x {len(prox)} proxies, {int(s['cached'].sum())} "
                  f"from cache, {int((s['status'] != 'ok').sum())} failed")
            if ds == "imagenet16_120" and p["input_kind"] == "real" and SURROGATE_NOTE not in self.notes:
                self._note(SURROGATE_NOTE)
        self.truths = {k: v for k, v in self.truths.items() if v is not None}

    def score_autoformer(self) -> None:
        """Scores the AutoFormer ViTs (``n_vit``, ``vit_source``) on a CIFAR-100 batch."""
        p = self.p
        if not (self.has_vit and (p["input_kind"] != "real" or self.has_img["vit"])) or p["n_vit"] == 0:
            print("NOTE: AutoFormer ground truth or CIFAR-100 images missing (or n_vit=0) -> ViT "
                  "part skipped.")
            self.notes.append("AutoFormer skipped: data not found or n_vit=0")
            return
        self.vit_rows = autoformer_rows(self.config)
        print(f"{len(self.vit_rows)} ViTs" + (f" from {p['vit_source']} only" if p["vit_source"] else ""))
        s = score_autoformer(self.vit_rows, self.vit_proxies, batch_size=p["vit_batch_size"],
                             seed=self.seed, cache=self.cache, input_kind=p["input_kind"],
                             device=self.dev)
        self.scores.append(s)
        print(f"autoformer: {len(s)} scores, {int(s['cached'].sum())} from cache, "
              f"{int((s['status'] != 'ok').sum())} failed")
        failed = s[s["status"] != "ok"].groupby("proxy")["error"].first()
        if len(failed):
            print("failures (first error per proxy):")
            print(failed.str.slice(0, 120).to_string())

    # --- analysis ---------------------------------------------------------------------------
    def _truth(self, bench: str, ds: str) -> pd.Series:
        return truth_autoformer(self.vit_rows) if bench == "autoformer" else self.truths[ds]

    def correlate(self) -> pd.DataFrame:
        """Adds the rank aggregates, correlates per (benchmark, dataset) and writes
        ``correlations.csv`` (and ``scores.csv``, ``timing.csv`` when anything was scored).

        Returns:
            The table's main columns, best Spearman first within each benchmark/dataset.
        """
        out, cfg, seed = self.out, self.config, self.seed
        if self.scores:
            self.scores_all = add_rank_aggregates(pd.concat(self.scores, ignore_index=True))
        if self.scores_all is None:
            self.table = pd.DataFrame(columns=TABLE_COLUMNS)
        else:
            parts = [A.correlation_table(sub, self._truth(bench, ds), n_boot=self.n_boot, seed=seed)
                     for (bench, ds), sub in self.scores_all.groupby(["benchmark", "dataset"], sort=False)]
            self.table = pd.concat(parts, ignore_index=True)
            write_csv(out / "scores.csv", A.scores_for_csv(self.scores_all), cfg, seed)
            write_csv(out / "timing.csv", A.timing_table(self.scores_all), cfg, seed)
        write_csv(out / "correlations.csv", self.table, cfg, seed)
        return self.table[SHOW_COLUMNS].sort_values(["benchmark", "dataset", "spearman"],
                                                    ascending=[True, True, False]).round(3)

    def reproduce(self) -> Optional[pd.DataFrame]:
        """Measured vs published NB201 CIFAR-10 Spearman, explained line by line (into the notes)."""
        if self.cells is None or "cifar10" not in self.truths:
            print("NOTE: reproduction skipped (NB201 CIFAR-10 not scored).")
            return None
        self.rep = R.reproduction_table(self.table, arch_strs=self.cells["arch_str"])
        for line in R.explain_reproduction(self.rep, self.p["batch_size"], self.p["input_kind"]):
            print("-", line)
            self.notes.append(line)
        return self.rep.drop(columns=["reference"]).round(3)

    def figures(self) -> Optional[pd.DataFrame]:
        """Per (benchmark, dataset): proxy-vs-proxy heatmap and score-vs-accuracy scatter; per
        benchmark: seconds per net. Shows the NB201 timing figure.

        Returns:
            Median seconds per net (proxy x benchmark/dataset), or None when nothing was scored.
        """
        if self.scores_all is None:
            return None
        out, s_all, table = self.out, self.scores_all, self.table
        for (bench, ds), sub in s_all.groupby(["benchmark", "dataset"], sort=False):
            tag = f"{bench}_{ds}"
            key = "arch_key" if bench == "autoformer" else "arch_str"
            fig = heatmap(A.proxy_matrix(s_all, bench, ds),
                          f"{bench} {ds}: proxy-vs-proxy Spearman (n={sub[key].nunique()})")
            save_and_close(fig, out / f"heatmap_{tag}.png")
            rho = table[(table.benchmark == bench) & (table.dataset == ds)].set_index("proxy")["spearman"]
            deg = sub.drop_duplicates(key).set_index(key)["degenerate"]
            title = f"{bench} {ds}" + (" (SURROGATE batch)" if sub["surrogate"].any() else "")
            fig = scatter_grid(A.wide_scores(sub), self._truth(bench, ds), stats=rho.to_dict(),
                               highlight=deg, title=title)
            save_and_close(fig, out / f"scatter_{tag}.png")
        tt = A.timing_table(s_all)
        tt = tt[~tt.proxy.isin(list(POPULATION_AGGREGATES))]
        for bench, sub in tt.groupby("benchmark"):
            fig = timing_bars(sub.groupby("proxy")["median_s"].median(),
                              f"{bench}: median seconds per net ({self.dev})")
            save_and_close(fig, out / f"timing_{bench}.png", show=bench == "nb201")
        print("figures:", sorted(f.name for f in out.glob("*.png")))
        return tt.pivot_table(index="proxy", columns=["benchmark", "dataset"], values="median_s").round(4)

    def meta_analysis(self) -> Optional[pd.DataFrame]:
        """The ``hybrid`` rule on published TransNAS-Bench-101 and NB201 scores
        (:mod:`nascore.experiments.transnas_meta`): ``transnas_meta.csv`` and its heatmap."""
        if not (self.p["run_transnas_meta"] and self.has_tnb and self.has_nb201):
            print("NOTE: published TNB101/NB201 tables missing (or run_transnas_meta=False) -> "
                  "meta-analysis skipped.")
            return None
        meta = pd.concat([tm.transnas_meta(n_boot=self.n_boot, seed=self.seed),
                          tm.nb201_published_meta(n_boot=self.n_boot, seed=self.seed)],
                         ignore_index=True)
        self.meta = meta
        write_csv(self.out / "transnas_meta.csv", meta, self.config, self.seed)
        mat = meta.set_index(meta["space"] + "/" + meta["task"]).filter(like="spearman_")
        mat.columns = [c[len("spearman_"):] for c in mat.columns]
        mat.insert(0, "HYBRID RULE", meta["rule_spearman"].to_numpy())
        fig = heatmap(mat, "Spearman vs val accuracy: published proxies and the hybrid rule")
        save_and_close(fig, self.out / "heatmap_transnas_meta.png")
        self.notes.append("transnas_meta: hybrid rule = hybrid-weighted sum of log-ranks of "
                          + meta["rule_columns"].iloc[0] + " (TNB101: snip stands in for dss; the "
                          "AZ-NAS components have no published counterpart; rule_equal_spearman: "
                          "unweighted)")
        return meta[META_COLUMNS].round(3)

    def hybrid_lgg(self):
        """The hybrid LGG mini-benchmark section (:func:`nascore.experiments.hybrid_lgg.run_section`):
        every proxy in ``hybrid_lgg_proxies`` against the trained validation tumour Dice, with the
        noise ceiling; ``hybrid_lgg_correlations.csv``, ``hybrid_lgg_scores.csv`` and
        ``scatter_hybrid_lgg.png``. Skipped, with a note, without the table or the data.

        Returns:
            The ranking table (best Kendall τ first), or None when skipped.
        """
        p = self.p
        names = p.get("hybrid_lgg_proxies", "all")
        try:
            res = run_section(self.out, proxies=None if names == "all" else list(names),
                              seed=self.seed, n_boot=self.n_boot,
                              max_archs=p.get("hybrid_lgg_max_archs"),
                              cache_path=self.out / "cache" / "hybrid_lgg_scores.sqlite")
        except FileNotFoundError as e:
            res = {"skipped": f"data not found: {e}"}
        self.hybrid_lgg_metrics = res
        if "skipped" in res:
            self._note(f"hybrid_lgg skipped: {res['skipped']}")
            return None
        if res["partial"]:
            self._note(f"hybrid_lgg: only the first {res['n_archs']} benchmark architectures "
                       "were scored (hybrid_lgg_max_archs); not a result")
        c = res["noise_ceiling"]
        print(f"{res['n_archs']} architectures, budget {res['budget']} steps; noise ceiling "
              f"(seed-to-seed Kendall, n={c['n']}): {c['kendall']:.3f} {c['ci95_kendall']}")
        import pandas as pd

        return pd.read_csv(self.out / "hybrid_lgg_correlations.csv", comment="#").round(3)

    def hybrid_protocol(self, version: str = "v3"):
        """The ``hybrid`` rule as the protocol's ``version`` chose and judged it
        (:mod:`nascore.experiments.hybrid_protocol`): reads the committed protocol outputs in
        ``reports/benchmarks/hybrid_<version>/`` (the rule, every candidate's fit-set τ, the
        report table and the leave-one-benchmark-out table; for v3 also the measured costs;
        produced by ``python -m nascore.experiments.hybrid_protocol --version <version>`` from
        this notebook's full-profile scores) and shows them. Its block goes to ``metrics.json``
        as ``"hybrid_<version>"``. Skipped, with a note, when they are absent.

        Returns:
            The report table (one row per report set), or None when skipped.
        """
        from ..hybrid_protocol.run import VERSIONS, metrics_block

        if version not in VERSIONS:
            raise ValueError(f"unknown protocol version {version!r}; known: {sorted(VERSIONS)}")
        src = repo_root() / "reports" / "benchmarks" / VERSIONS[version]["out"]
        block = metrics_block(src)
        self.protocol_metrics = {**getattr(self, "protocol_metrics", {}), f"hybrid_{version}": block}
        if "skipped" in block:
            self._note(f"hybrid_{version} skipped: {block['skipped']}")
            return None
        rep = pd.DataFrame(block["report"])
        print(f"{version} rule (selected on the fit sets only): {block['rule']}")
        if block.get("measured_cost") is not None:
            print(f"measured cost: {block['measured_cost']:.2f}x one forward+backward (largest over "
                  f"the cost nets); passed over: {block.get('over_budget')}")
        if (src / "lobo.png").is_file():
            from IPython.display import Image, display

            display(Image(filename=str(src / "lobo.png")))
        return rep.round(3)

    def hybrid_v2(self):
        """v2 of the rule (:meth:`hybrid_protocol` with ``"v2"``), kept for comparison."""
        return self.hybrid_protocol("v2")

    def write_metrics(self) -> Path:
        """``metrics.json`` (:func:`~.analysis.metrics_json` plus provenance); returns its path."""
        self.notes.append("nan_policy=worst: failed scores and degenerate NB201 cells rank below "
                          "every finite score")
        self.notes.append(f"timing_s: median seconds per net over NB201 cells on {self.dev} (ViT "
                          "times in timing.csv)")
        self.metrics = A.metrics_json(self.table, self.scores_all,
                                      tm.meta_to_json(self.meta) if self.meta is not None else {},
                                      self.notes, self.rep)
        if getattr(self, "hybrid_lgg_metrics", None) is not None:
            self.metrics["hybrid_lgg"] = self.hybrid_lgg_metrics
        self.metrics.update(getattr(self, "protocol_metrics", {}))
        path = write_metrics(self.out / "metrics.json", self.metrics, self.config, self.seed)
        print(sorted(f.name for f in self.out.iterdir()))
        return path

    def headline(self) -> Dict[str, Any]:
        """Number of proxies per NB201 dataset and the median seconds per net."""
        m = self.metrics
        return {"nb201": {d: len(x) for d, x in m["nb201"].items()}, "timing_s": m["timing_s"]}
