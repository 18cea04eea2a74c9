"""Scoring nets with proxies through the score cache (resumable, shardable), and the population
rank aggregates (``az_nas_rank``, ``hybrid_rank``) over the scored nets.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ...bench.images import default_split, make_batch
from ...bench.nb201 import build_nb201_net, is_degenerate, parse_arch_str
from ...progress import tqdm
from ...proxies.versions import proxy_version
from .inputs import namespace

#: Population rank aggregates: name -> (base proxy, its ``extra`` components).
POPULATION_AGGREGATES = {
    "az_nas_rank": ("az_nas", ("expressivity", "progressivity", "trainability", "complexity")),
    "hybrid_rank": ("hybrid", None),  # None: the components of nascore.proxies.hybrid.hybrid.RULE
}


def _score_fn():
    from ...proxies import score

    return score


def _score_items(items: Sequence[tuple], batch, proxies: Sequence[str], ns: str, cache, seed: int,
                 progress: bool, device: str, desc: str, key_name: str) -> pd.DataFrame:
    """Scores ``items`` = [(key, build_fn)] with every proxy, via the cache."""
    import torch

    from ...proxies import PROXIES

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
    from ...bench import images

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
    from ...bench.vit import vit_from_gt_row

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


def _aggregate_components(base: str, comps) -> tuple:
    if comps is not None:
        return tuple(comps)
    try:
        from ...proxies.hybrid import hybrid as hybrid_v3

        return tuple(hybrid_v3.RULE.components)
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
    from ...proxies import rank_aggregate

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
