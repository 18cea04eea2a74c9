"""Proxies against the trained benchmark: scores, correlations with bootstrap CIs, noise ceiling.

* :func:`score_proxies` scores every benchmark architecture with every proxy at the notebook-03
  setting (the :class:`~nascore.search.objectives.HybridSegBuilder` network, the batch the
  caller passes: notebook 02 uses tumour slices of the benchmark's training patients,
  :func:`nascore.experiments.hybrid_lgg.proxy_batch`; proxy seed 0),
  resumable through a :class:`~nascore.cache.ScoreCache` keyed by each proxy's code version.
* :func:`noise_ceiling`: Kendall τ and Spearman ρ between two training seeds of the same
  architectures (no proxy can be judged above it).
* :func:`proxy_correlations`: per proxy, τ and ρ against the validation tumour Dice of the main
  seed with 95% paired-bootstrap CIs (:func:`nascore.corr.correlate`; failed scores dropped and
  counted), overall and inside each FLOPs bin (so that a proxy that only counts FLOPs shows
  its within-bin correlation near zero).
"""

from __future__ import annotations

import json
import warnings
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np
import pandas as pd

from ...cache import ScoreCache
from ...corr import correlate
from ...progress import tqdm
from ...search.objectives import HybridSegBuilder

TRUTH = "val_dice_tumor"


def truth_frame(df: pd.DataFrame, seed: int = 0, metric: str = TRUTH) -> pd.DataFrame:
    """One row per architecture: the ``seed`` rows of the table (``arch_id``, ``flops_bin``,
    ``attn_share``, ``flops``, ``params``, ``role`` and the metric)."""
    d = df[df["seed"] == seed].drop_duplicates("arch_id")
    return d[["arch_id", "role", "flops_bin", "attn_group", "attn_share", "deep_attn_share",
              "flops", "params", metric]].reset_index(drop=True)


def _corr(s, t, n_boot: int, seed: int) -> Dict[str, Any]:
    with warnings.catch_warnings():  # scipy warns on degenerate resamples of small bins
        warnings.simplefilter("ignore")
        c = correlate(np.asarray(s, float), np.asarray(t, float), n_boot=n_boot, seed=seed,
                      nan_policy="drop")
    return {"kendall": c["kendall"], "spearman": c["spearman"],
            "ci95_kendall": list(c["ci95_kendall"]), "ci95_spearman": list(c["ci95_spearman"]),
            "n": int(c["n"]), "n_failed": int(c["n_failed"])}


def noise_ceiling(df: pd.DataFrame, seeds: Sequence[int] = (0, 1), metric: str = TRUTH,
                  n_boot: int = 1000, seed: int = 0) -> Dict[str, Any]:
    """Seed-to-seed agreement of ``metric`` over the architectures trained with both seeds."""
    a = df[df["seed"] == seeds[0]].drop_duplicates("arch_id").set_index("arch_id")[metric]
    b = df[df["seed"] == seeds[1]].drop_duplicates("arch_id").set_index("arch_id")[metric]
    common = a.index.intersection(b.index)
    out = {"seeds": list(seeds), "metric": metric}
    if len(common) < 3:
        return out | {"n": int(len(common)), "kendall": float("nan"), "spearman": float("nan"),
                      "ci95_kendall": [float("nan")] * 2, "ci95_spearman": [float("nan")] * 2}
    return out | _corr(a.loc[common], b.loc[common], n_boot, seed)


def proxy_correlations(scores: pd.DataFrame, truth: pd.DataFrame, metric: str = TRUTH,
                       n_boot: int = 1000, seed: int = 0, by_bin: bool = True) -> Dict[str, Any]:
    """Per proxy: correlations with ``truth[metric]``.

    Args:
        scores: columns ``arch_id``, ``proxy``, ``value`` (oriented so that higher is better;
            NaN for a failure).
        truth: :func:`truth_frame`.

    Returns:
        ``{proxy: {"kendall", "spearman", "ci95_kendall", "ci95_spearman", "n", "n_failed",
        "by_flops_bin": {bin: {...}}}}``.
    """
    wide = scores.pivot_table(index="arch_id", columns="proxy", values="value", aggfunc="first",
                              dropna=False)
    t = truth.set_index("arch_id")
    out: Dict[str, Any] = {}
    for p in wide.columns:
        j = t.join(wide[p].rename("score"), how="inner")
        res = _corr(j["score"], j[metric], n_boot, seed)
        if by_bin:
            res["by_flops_bin"] = {str(int(b)): _corr(g["score"], g[metric], n_boot, seed)
                                   for b, g in j.groupby("flops_bin")}
        out[str(p)] = res
    return out


def ranking_table(corrs: Dict[str, Any], ceiling: Optional[Dict[str, Any]] = None) -> pd.DataFrame:
    """A table of proxies sorted by Kendall τ, with CIs, the mean within-bin τ and the gap to
    the noise ceiling."""
    rows = []
    for p, c in corrs.items():
        within = [v["kendall"] for v in c.get("by_flops_bin", {}).values() if np.isfinite(v["kendall"])]
        rows.append({"proxy": p, "kendall": c["kendall"], "kendall_lo": c["ci95_kendall"][0],
                     "kendall_hi": c["ci95_kendall"][1], "spearman": c["spearman"],
                     "spearman_lo": c["ci95_spearman"][0], "spearman_hi": c["ci95_spearman"][1],
                     "kendall_within_bins": float(np.mean(within)) if within else float("nan"),
                     "n": c["n"], "n_failed": c["n_failed"]})
    df = pd.DataFrame(rows).sort_values("kendall", ascending=False, na_position="last")
    if ceiling is not None and np.isfinite(ceiling.get("kendall", np.nan)):
        df["gap_to_ceiling"] = ceiling["kendall"] - df["kendall"]
    return df.reset_index(drop=True)


def score_proxies(archs: Sequence[Any], proxies: Iterable[str], batch, *, seed: int = 0,
                  data_tag: str = "lgg", in_channels: int = 3, cache_path=None,
                  progress: bool = True) -> pd.DataFrame:
    """Scores each architecture with each proxy (resumable through ``cache_path``).

    Args:
        archs: :class:`~nascore.arch.HybridSegArch` objects (trained resolution).
        proxies: names in :data:`nascore.proxies.PROXIES`.
        batch: ``(images (B, C, r, r), masks (B, 1, r, r))`` at the architectures' resolution.
        seed: proxy seed (also seeds the network initialisation, as in notebook 03).
        data_tag: names the batch in the cache namespace.

    Returns:
        Long DataFrame ``arch_id, proxy, value, raw_value, status, time_s, extra``; ``value``
        is negated for lower-is-better proxies and NaN when the proxy failed; ``extra`` is the
        proxy's extra outputs as JSON (``hybrid``: every component and the attention share).
    """
    import torch

    from ...proxies import PROXIES, score
    from ...proxies.versions import proxy_version

    build = HybridSegBuilder(in_channels, 1)
    names = list(proxies)
    specs = {n: PROXIES.get(n) for n in names}
    x = batch[0]
    ns_base = f"hybridseg-bench/{data_tag}/r{x.shape[-1]}/b{x.shape[0]}/c{in_channels}o1"
    ns = {n: f"{ns_base}/{proxy_version(n)}" for n in names}
    cache = ScoreCache(cache_path) if cache_path is not None else None
    rows: List[Dict[str, Any]] = []
    it = archs
    if progress:
        it = tqdm(archs, desc="proxies on the benchmark", mininterval=5.0)
    try:
        for arch in it:
            model = None
            for n in names:
                hit = cache.get(arch.arch_id, n, seed, ns[n]) if cache is not None else None
                if hit is not None:
                    raw, t, status, extra = hit.value, hit.time_s, hit.status, hit.extra
                else:
                    if model is None:
                        with torch.random.fork_rng(devices=[]):
                            torch.manual_seed(seed)
                            model = build(arch)
                    r = score(n, model, batch, seed=seed)
                    raw, t, status, extra = r.value, r.time_s, r.status, r.extra
                    if cache is not None:
                        cache.put_result(arch.arch_id, n, seed, r, ns[n])
                ok = status == "ok" and np.isfinite(raw)
                sign = 1.0 if specs[n].higher_is_better else -1.0
                rows.append({"arch_id": arch.arch_id, "proxy": n,
                             "value": sign * raw if ok else float("nan"), "raw_value": raw,
                             "status": status, "time_s": t,
                             "extra": json.dumps(extra or {}, sort_keys=True, default=float)})
    finally:
        if cache is not None:
            cache.close()
    return pd.DataFrame(rows, columns=["arch_id", "proxy", "value", "raw_value", "status", "time_s",
                                       "extra"])


def table_summary(df: pd.DataFrame, n_boot: int = 1000, seed: int = 0,
                  pilot_ids: Sequence[str] = ()) -> Dict[str, Any]:
    """What the benchmark table says before any proxy is scored: its size, the spread of the
    validation tumour Dice, the noise ceiling, and the Kendall τ (with 95% CI) of the
    architecture descriptors FLOPs, params and attention share against the Dice (seed-0 rows).
    These are the baselines a proxy has to beat.

    ``pilot_ids``: the architectures whose seed agreement chose the budget; the noise ceiling is
    also given without them (``noise_ceiling_without_pilot``), since the pilot selected on it.
    """
    truth = truth_frame(df)
    d = truth[TRUTH]
    out: Dict[str, Any] = {
        "n_rows": int(len(df)), "n_archs": int(len(truth)),
        "seed_counts": {str(int(k)): int(v) for k, v in df["seed"].value_counts().items()},
        "budget": sorted(int(b) for b in df["budget"].unique()),
        "val_dice_tumor": {"mean": float(d.mean()), "sd": float(d.std(ddof=1)),
                           "min": float(d.min()), "max": float(d.max()),
                           "n_below_0.3": int((d < 0.3).sum())},
        "noise_ceiling": noise_ceiling(df, n_boot=n_boot, seed=seed),
        "noise_ceiling_without_pilot": noise_ceiling(df[~df["arch_id"].isin(list(pilot_ids))],
                                                     n_boot=n_boot, seed=seed),
        "descriptors": {c: _corr(truth[c], d, n_boot, seed)
                        for c in ("flops", "params", "attn_share")},
    }
    return out
