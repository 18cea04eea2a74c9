"""The benchmark's architecture sample: stratified over FLOPs and over the attention share.

The pool is drawn from :class:`~nascore.space.HybridSegSpace` with the resolution knob fixed to
the training resolution, or, with the recipe's ``arch_resolutions``, drawn from those sides (the
knob is then part of the benchmark). Each pool architecture gets

* a **FLOPs bin**: the quantile bin of its FLOPs within the pool (``n_flops_bins`` bins, edges at
  the pool's quantiles, so each bin holds about the same share of the space);
* an **attention group** (:func:`attn_group`): ``none`` (no attention block), ``most`` (attention
  in more than half of the *deep* blocks, those at strides where attention is allowed) or
  ``some`` (anything in between).

Then the same number of architectures is taken from every (bin, group) stratum, in pool order
(which is the seeded sampling order), so the sample is deterministic given the seed. A stratum
that holds fewer architectures than its quota gives what it has, and the shortfall is filled
from the remaining pool in order (the result records it). No torch here except through the
FLOPs callable the caller passes.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ... import paths
from ...arch import STAGE_STRIDES, HybridSegArch, read_best_arch
from ...progress import tqdm

ATTN_GROUPS = ("none", "some", "most")


def deep_attn_share(arch: HybridSegArch) -> float:
    """Share of the deep blocks (stages at strides >= ``arch.attn_min_stride``) that are attention."""
    deep = [b for s, st in zip(STAGE_STRIDES, arch.stages) if s >= arch.attn_min_stride
            for b in st.blocks]
    return sum(b.is_attn for b in deep) / len(deep) if deep else 0.0


def attn_group(arch: HybridSegArch) -> str:
    """``"none"`` (no attention block), ``"most"`` (attention in > 1/2 of the deep blocks) or ``"some"``."""
    if arch.num_attn_blocks == 0:
        return "none"
    return "most" if deep_attn_share(arch) > 0.5 else "some"


def flops_bin_edges(flops: Sequence[float], n_bins: int) -> np.ndarray:
    """Inner bin edges at the ``1/n … (n-1)/n`` quantiles of ``flops`` (shape ``(n_bins - 1,)``)."""
    if n_bins < 1:
        raise ValueError(f"n_flops_bins must be >= 1, got {n_bins}")
    return np.quantile(np.asarray(flops, float), np.arange(1, n_bins) / n_bins)


def flops_bin(f: float, edges: np.ndarray) -> int:
    """The bin index (0 … len(edges)) of FLOPs ``f``."""
    return int(np.searchsorted(edges, f, side="right"))


def stratified_sample(space, n: int, flops_fn: Callable[[HybridSegArch], float], *, seed: int = 0,
                      resolution: int = 64, n_flops_bins: int = 4, pool_size: int = 1500,
                      progress: bool = False, resolutions: Optional[Sequence[int]] = None
                      ) -> Dict[str, Any]:
    """``n`` distinct architectures, the same number per (FLOPs bin, attention group) stratum.

    Args:
        space: a :class:`~nascore.space.HybridSegSpace`; its resolution choices are replaced by
            ``resolutions``, or ``(resolution,)`` when that is None.
        n: architectures wanted (at least ``n_flops_bins * 3``).
        flops_fn: ``arch -> FLOPs`` at batch 1 (e.g. :class:`nascore.seg.cost.SegCostFn`'s
            ``flops``).
        seed: seed of the pool draw (``np.random.default_rng(seed)``).
        resolution: the training resolution (px) of every architecture, unless
        resolutions: the input resolutions the architectures are drawn with (the space's
            resolution knob; FLOPs, and so the FLOPs bins, are then at each one's own side).
        n_flops_bins: FLOPs quantile bins (at least 4 for the issue's protocol).
        pool_size: distinct architectures drawn before stratifying.

    Returns:
        ``{"archs": [...], "rows": [{"arch", "arch_id", "flops", "flops_bin", "attn_group", "stratum"}],
        "edges": [...], "counts": {stratum: n_in_pool}, "quota": q, "shortfall": k}``.

    Raises:
        ValueError: for ``n`` larger than the pool or smaller than the number of strata.
    """
    n_strata = n_flops_bins * len(ATTN_GROUPS)
    if n < n_strata:
        raise ValueError(f"n={n} is smaller than the {n_strata} strata")
    if n > pool_size:
        raise ValueError(f"n={n} is larger than pool_size={pool_size}")
    sp = dataclasses.replace(space, resolutions=tuple(int(r) for r in resolutions) if resolutions
                             else (int(resolution),))
    rng = np.random.default_rng(seed)
    pool: List[HybridSegArch] = []
    seen = set()
    tries = 0
    while len(pool) < pool_size:
        a = sp.sample(rng)
        tries += 1
        if a.arch_id not in seen:
            seen.add(a.arch_id)
            pool.append(a)
        if tries > 50 * pool_size:
            raise ValueError(f"could not draw {pool_size} distinct architectures")
    it = pool
    if progress:
        it = tqdm(pool, desc="FLOPs of the pool", mininterval=2.0)
    flops = np.array([float(flops_fn(a)) for a in it])
    edges = flops_bin_edges(flops, n_flops_bins)
    info = [{"arch": a, "arch_id": a.arch_id, "flops": float(f), "flops_bin": flops_bin(f, edges),
             "attn_group": attn_group(a)} for a, f in zip(pool, flops)]
    for r in info:
        r["stratum"] = f"f{r['flops_bin']}-{r['attn_group']}"
    strata = [f"f{b}-{g}" for b in range(n_flops_bins) for g in ATTN_GROUPS]
    counts = {s: sum(r["stratum"] == s for r in info) for s in strata}
    quota = math.ceil(n / n_strata)
    taken: List[Dict[str, Any]] = []
    per: Dict[str, int] = {s: 0 for s in strata}
    # round-robin over strata, so that when n is not a multiple of the strata count the extra
    # architectures are spread over strata rather than piled into the first ones
    by_stratum = {s: [r for r in info if r["stratum"] == s] for s in strata}
    for k in range(quota):
        for s in strata:
            if len(taken) < n and k < len(by_stratum[s]):
                taken.append(by_stratum[s][k])
                per[s] += 1
    shortfall = n - len(taken)
    if shortfall:
        ids = {r["arch_id"] for r in taken}
        rest = [r for r in info if r["arch_id"] not in ids][:shortfall]
        taken.extend(rest)
    return {"archs": [r["arch"] for r in taken], "rows": taken, "edges": [float(e) for e in edges],
            "counts": counts, "taken": per, "quota": quota, "shortfall": shortfall,
            "pool_size": pool_size}


def spanning_subset(rows: Sequence[Dict[str, Any]], k: int = 12) -> List[Dict[str, Any]]:
    """``k`` rows that span the FLOPs range and mix attention groups (for the budget pilot).

    Rows are sorted by FLOPs and cut into ``k`` equal-count slices; from each slice the first
    row (in sample order) whose attention group is the least used so far is taken.
    """
    if k > len(rows):
        raise ValueError(f"k={k} exceeds the {len(rows)} rows")
    order = sorted(rows, key=lambda r: r["flops"])
    cuts = np.array_split(np.arange(len(order)), k)
    used = {g: 0 for g in ATTN_GROUPS}
    out = []
    for c in cuts:
        cand = [order[i] for i in c]
        cand.sort(key=lambda r: (used[r["attn_group"]], rows.index(r)))
        out.append(cand[0])
        used[cand[0]["attn_group"]] += 1
    return out


def reference_archs(resolution: int = 64, best_arch_path: Optional[str] = None
                    ) -> List[Tuple[str, HybridSegArch, str]]:
    """The reference rows: ``[(role, arch, source)]``.

    * ``reference:hctnet_like``: :func:`nascore.seg.baselines.hctnet_like_arch` at ``resolution``;
    * ``reference:best_arch``: notebook 03's ``best_arch.json`` (``reports/full/03_search`` unless
      ``best_arch_path``), retargeted to ``resolution``; left out, with no error, when absent.
    """
    from ...seg.baselines import hctnet_like_arch

    out = [("reference:hctnet_like", hctnet_like_arch(int(resolution)), "nascore.seg.baselines")]

    path = best_arch_path or paths.repo_root() / "reports" / "full" / "03_search" / "best_arch.json"
    try:
        arch, _ = read_best_arch(path)
    except FileNotFoundError:
        return out
    if arch.resolution != resolution:
        arch = dataclasses.replace(arch, resolution=int(resolution))
    shown = Path(path).resolve()
    root = paths.repo_root().resolve()
    shown = shown.relative_to(root) if shown.is_relative_to(root) else Path(shown.name)
    out.append(("reference:best_arch", arch, f"{shown.as_posix()} (retargeted to {resolution} px)"))
    return out
