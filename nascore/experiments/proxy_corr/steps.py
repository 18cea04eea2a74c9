"""Small stateless helpers the cells of notebook 02 call: which proxies and data are at hand,
correlations per (benchmark, dataset), the figures, and the committed protocol outputs.

The notebook keeps its state in its own variables (``scores``, ``truths``, ``table``, ...), so
a student can change one cell, rerun it and rerun the cells below. Each helper takes what it
needs as arguments and returns a value; only the figure helper writes files (into ``out``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import pandas as pd

from ...paths import has_data, repo_root
from ...plots.corr import heatmap, scatter_grid, timing_bars
from ..notebook_utils import save_and_close
from . import analysis as A
from .inputs import has_images
from .scoring import POPULATION_AGGREGATES

NOTEBOOK = "02_proxy_correlation"
NB201_TABLE = "nas/nb201/nb201_all15625_test_acc_200ep.csv"
AUTOFORMER_FILES = ("nas/vit_autoprox/autoprox_gt_autoformer.json",
                    "nas/vit_autoprox/autoprox_gt_autoformer_2.json")
TNB101_FILE = "nas/transnas_bench101/naslib_zc_transbench101_micro.json"
#: The correlation table's columns the notebook shows.
SHOW_COLUMNS = ["benchmark", "dataset", "proxy", "spearman", "kendall", "ci95_spearman_lo",
                "ci95_spearman_hi", "n", "n_failed", "top10"]
#: The meta-analysis columns the notebook shows.
META_COLUMNS = ["space", "task", "n", "rule_spearman", "rule_ci95_lo", "rule_ci95_hi",
                "rule_equal_spearman", "best_single", "best_single_spearman", "rule_minus_best",
                "rule_columns"]
TABLE_COLUMNS = ["benchmark", "dataset", "proxy", "spearman", "kendall", "ci95_spearman_lo",
                 "ci95_spearman_hi", "pearson", "n", "n_failed", "top10"]


def resolve_proxies(proxies, extra_proxies: Sequence[str] = (),
                    vit_proxies=None) -> Tuple[List[str], List[str], List[str], List[str]]:
    """The registered proxy names of notebook 02's three lists.

    Args:
        proxies: names, or ``"all"`` (every registered proxy).
        extra_proxies: costlier proxies scored on fewer cells; those already in ``proxies`` are
            dropped.
        vit_proxies: names for the ViTs, ``"all"``, or None (the same as ``proxies``).

    Returns:
        ``(proxies, extra, vit, unknown)``: the three lists restricted to registered names, and
        the names that are not registered (skipped; the notebook prints them).

    Raises:
        ValueError: a string other than ``"all"`` where a list is expected (papermill's ``-p``
            passes one; use ``-y``).
    """
    from ...proxies import PROXIES

    for what, v in (("proxies", proxies), ("extra_proxies", extra_proxies), ("vit_proxies", vit_proxies)):
        if isinstance(v, str) and v != "all":
            raise ValueError(f"{what} must be a list of proxy names or 'all', got {v!r}; with "
                             f"papermill pass a list with -y '{what}: [{v}]'")

    names = list(PROXIES.names())
    asked = names if proxies == "all" else list(proxies)
    vit = names if vit_proxies == "all" else (list(vit_proxies) if vit_proxies else None)
    unknown = [x for x in asked + list(extra_proxies) + (vit or []) if x not in names]
    main = [x for x in asked if x in names]
    extra = [x for x in extra_proxies if x in names and x not in main]
    return main, extra, [x for x in (vit or main) if x in names], list(dict.fromkeys(unknown))


def available_data(batch_size: int, vit_batch_size: int) -> Dict[str, Any]:
    """Which of notebook 02's inputs are under the data root.

    Returns:
        ``{"nb201": bool, "autoformer": bool, "transnas": bool, "images": {dataset: bool}}``
        (``images["vit"]``: the CIFAR-100 batch of the ViTs).
    """
    img = {ds: has_images(ds, batch_size) for ds in ("cifar10", "cifar100", "imagenet16_120")}
    img["vit"] = has_images("cifar100", vit_batch_size)
    return {"nb201": has_data(NB201_TABLE), "autoformer": all(has_data(f) for f in AUTOFORMER_FILES),
            "transnas": has_data(TNB101_FILE), "images": img}


def correlate(scores: Optional[pd.DataFrame], truths: Mapping[Tuple[str, str], pd.Series],
              n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Kendall τ, Spearman ρ (bootstrap 95% CIs) and top-10% precision of every proxy, per
    (benchmark, dataset) group of ``scores`` (:func:`~.analysis.correlation_table`).

    Args:
        scores: the concatenated long score frames (None or empty: an empty table).
        truths: the trained accuracy of each group, keyed ``(benchmark, dataset)``, indexed by
            the nets' keys (``arch_str`` / ``arch_key``).

    Raises:
        KeyError: naming a scored group that has no truth.
    """
    if scores is None or not len(scores):
        return pd.DataFrame(columns=TABLE_COLUMNS)
    parts = []
    for (bench, ds), sub in scores.groupby(["benchmark", "dataset"], sort=False):
        if (bench, ds) not in truths:
            raise KeyError(f"no ground truth for {bench}/{ds}; truths has {sorted(truths)}")
        parts.append(A.correlation_table(sub, truths[(bench, ds)], n_boot=n_boot, seed=seed))
    return pd.concat(parts, ignore_index=True)


def draw_figures(scores: pd.DataFrame, table: pd.DataFrame,
                 truths: Mapping[Tuple[str, str], pd.Series], out: Path,
                 device: str = "cpu") -> pd.DataFrame:
    """Per (benchmark, dataset): ``heatmap_<b>_<d>.png`` (proxy-vs-proxy Spearman) and
    ``scatter_<b>_<d>.png`` (score vs accuracy, degenerate cells marked); per benchmark:
    ``timing_<b>.png`` (median seconds per net; NB201's is shown).

    Returns:
        Median seconds per net, proxy × (benchmark, dataset).
    """
    out = Path(out)
    for (bench, ds), sub in scores.groupby(["benchmark", "dataset"], sort=False):
        tag, key = f"{bench}_{ds}", "arch_key" if bench == "autoformer" else "arch_str"
        fig = heatmap(A.proxy_matrix(scores, bench, ds),
                      f"{bench} {ds}: proxy-vs-proxy Spearman (n={sub[key].nunique()})")
        save_and_close(fig, out / f"heatmap_{tag}.png")
        rho = table[(table.benchmark == bench) & (table.dataset == ds)].set_index("proxy")["spearman"]
        deg = sub.drop_duplicates(key).set_index(key)["degenerate"]
        title = f"{bench} {ds}" + (" (SURROGATE batch)" if sub["surrogate"].any() else "")
        fig = scatter_grid(A.wide_scores(sub), truths[(bench, ds)], stats=rho.to_dict(),
                           highlight=deg, title=title)
        save_and_close(fig, out / f"scatter_{tag}.png")
    tt = A.timing_table(scores)
    tt = tt[~tt.proxy.isin(list(POPULATION_AGGREGATES))]
    for bench, sub in tt.groupby("benchmark"):
        fig = timing_bars(sub.groupby("proxy")["median_s"].median(),
                          f"{bench}: median seconds per net ({device})")
        save_and_close(fig, out / f"timing_{bench}.png", show=bench == "nb201")
    return tt.pivot_table(index="proxy", columns=["benchmark", "dataset"], values="median_s")


def meta_matrix(meta: pd.DataFrame) -> pd.DataFrame:
    """The meta-analysis as a heatmap matrix: (space/task) × (the rule, each published proxy)."""
    mat = meta.set_index(meta["space"] + "/" + meta["task"]).filter(like="spearman_")
    mat.columns = [c[len("spearman_"):] for c in mat.columns]
    mat.insert(0, "HYBRID RULE", meta["rule_spearman"].to_numpy())
    return mat


def protocol_outputs(version: str) -> Tuple[Dict[str, Any], Optional[pd.DataFrame], Optional[Path]]:
    """The committed outputs of the ``hybrid`` protocol ``version`` (``reports/benchmarks/
    hybrid_<version>/``, made by ``python -m nascore.experiments.hybrid_protocol --version``).

    Returns:
        ``(block, report, lobo_png)``: the ``metrics.json`` block (``{"skipped": why}`` when the
        outputs are absent), the report table (None when skipped) and the
        leave-one-benchmark-out figure (None when absent).

    Raises:
        ValueError: for an unknown version.
    """
    from ..hybrid_protocol.run import VERSIONS, metrics_block

    if version not in VERSIONS:
        raise ValueError(f"unknown protocol version {version!r}; known: {sorted(VERSIONS)}")
    src = repo_root() / "reports" / "benchmarks" / VERSIONS[version]["out"]
    block = metrics_block(src)
    if "skipped" in block:
        return block, None, None
    lobo = src / "lobo.png"
    return block, pd.DataFrame(block["report"]), lobo if lobo.is_file() else None
