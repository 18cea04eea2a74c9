"""Driver of notebook 03, hybrid segmentation part: zero-shot search in HybridSegSpace under a
FLOPs budget, a Pareto view, and ``best_arch.json`` for notebook 04.

Choices (all recorded in the outputs):

* **Objective.** The live ``hybrid`` proxy (:class:`~nascore.search.objectives.ProxyObjective`
  with :class:`~nascore.search.objectives.HybridSegBuilder`), cached per arch in a
  :class:`~nascore.cache.ScoreCache`. To keep it cheap every candidate is scored at a REDUCED
  proxy resolution (default 64 px, batch 8; ``resize=False``), whatever its own resolution, on
  a small batch of tumour slices of the **training patients** (notebook 04's patient split) of
  the dataset ``data`` names (:func:`nascore.seg.datasets.load_dataset`: ``"auto"`` = LGG when
  present, else MSD, else SYNTHETIC phantoms, labelled so everywhere); the model takes the
  data's channel count. The batch's fingerprint is part of the cache namespace and history name.
  ``hybrid`` (v3) reads only the batch's shape (noise inputs of that shape) and its masks (they
  pick the segmentation calibration); ``hybrid_v2``, which notebook 03's committed full run
  used, also took the segmentation loss on these slices (SNIP). Every candidate is scored at
  the proxy resolution, so the proxy cannot
  judge the input resolution: fix it with ``resolutions`` (default ``(128,)`` in the notebook).
  Scoring below 64 px does not keep the ranking (``perf/proxy_resolution.py``).
* **Costs** (:class:`SegCostFn`) at the architecture's OWN resolution, batch 1: ``params``
  (per-piece table, no network is built), ``flops`` (:class:`~nascore.latency.LatencyLUT` in
  ``flops`` mode, filled lazily piece by piece; sums exactly to
  :func:`nascore.cost.count_flops` of the whole model), ``baseline_flops`` (the HCT-Net-like
  baseline :func:`nascore.seg.baselines.hctnet_like_arch` at the same resolution, same
  channels), ``flops_ratio`` = flops / baseline_flops, and ``n_attn`` (attention blocks).
* **Budget.** Default: ``flops_ratio <= 0.5``, i.e. half the FLOPs of the HCT-Net-like baseline
  at the same resolution, exactly the comparison notebook 04 makes
  (:class:`nascore.seg.pipeline.SegPipelineConfig` ``flops_budget_frac``). ``max_flops`` gives an
  absolute bound instead. Over-budget candidates are rejected before scoring (and counted).
* **Attention.** With ``min_attn_blocks > 0`` (default 1) candidates with fewer attention
  blocks are infeasible: rejected before scoring like an over-budget one (cost key
  ``minus_n_attn`` = -``n_attn`` bounded by -``min_attn_blocks``, since
  :class:`~nascore.search.Constraints` holds upper bounds). 0 lifts the constraint.
* **Best arch.** The feasible evaluation with the highest score among those with at least
  ``min_attn_blocks`` attention blocks (notebook 04's knob search needs attention; default 1);
  if none has, the best feasible one, with a note.
* **Predicted latency** (Pareto plot only): a :class:`~nascore.latency.LatencyLUT` of the
  evaluated architectures' pieces measured on this machine (batch 1, current torch threads),
  kept in the cache folder and extended incrementally (:func:`latency_lut`).

``best_arch.json`` schema (written by :func:`write_best_arch` with
:func:`nascore.provenance.write_metrics`)::

    {"arch": HybridSegArch.to_dict(),           # notebook 04: HybridSegArch.from_dict(d["arch"])
     "arch_id": str, "describe": str,
     "score": float, "proxy": "hybrid", "proxy_resolution": int, "proxy_batch_size": int,
     "params": float, "flops": float, "flops_ratio": float,
     "baseline": "hctnet_like", "baseline_flops": float,
     "budget": {"key": "flops_ratio" | "flops", "max": float, "mode": "relative" | "absolute"},
     "pred_latency_ms": float | null, "n_attn": int,
     "in_channels": int, "out_channels": int,
     "data": str, "synthetic": bool,
     "batch_ids": [str], "batch_split": {"fractions", "seed", "side": "train", "n_patients"},
     "search": {"strategy", "settings", "budget", "seed", "n_evals", "n_rejected", "n_failed",
                "min_attn_blocks", "note"},
     "provenance": {...}}                         # nascore.provenance.provenance(config, seed)

The results (candidate frame, latency LUT, Pareto fronts, best arch, summary) are in
:mod:`nascore.experiments.search_hybrid_results` (re-exported here).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Optional, Tuple

import numpy as np

from data_prep import patient_split

from ..arch import read_best_arch  # noqa: F401 - re-exported
from ..block_types import BUILTIN_BLOCKS
from ..cache import module_closure, source_hash
from ..search import STRATEGIES, Constraints
from ..search.objectives import HybridSegBuilder, ProxyObjective
from ..search.workers import search_executor
from ..seg.cost import SegCostFn, baseline_arch  # noqa: F401  (re-exported: SH.SegCostFn)
from ..space import HybridSegSpace
from .search_hybrid_results import (  # noqa: F401 - re-exported
    add_pareto,
    best_arch_payload,
    latency_lut,
    search_frame,
    select_best,
    summary,
    write_best_arch,
)


@dataclass
class HybridSearchConfig:
    """Settings of the hybrid-space search (see the module docstring).

    Attributes:
        strategy: a :data:`nascore.search.STRATEGIES` name.
        settings: the strategy's settings.
        budget: proxy evaluations.
        seed: search rng seed (also the batch draw and proxy seed).
        proxy: the objective proxy.
        proxy_resolution: side of the scoring batch (px).
        batch_size: scoring batch size.
        in_channels: image channels: set it from the data (``info["channels"]`` of
            :func:`load_tumour_batch`).
        out_channels: output channels (1, as notebook 04).
        flops_budget_frac: bound on ``flops_ratio`` (relative budget), unless ``max_flops``.
        max_flops: absolute FLOPs bound (overrides the relative one).
        resolutions: restrict the space's input resolutions (None: the space's default).
        min_attn_blocks: attention blocks the best arch must have.
        data: the dataset (:func:`nascore.seg.datasets.load_dataset`).
        block_types: the block types the space offers (names of
            :data:`nascore.block_types.BLOCKS`, e.g. a registered ``"dwconv"``; None: the
            space's default ``conv``, ``mbconv``, ``attn``).
    """

    strategy: str = "evolution"
    settings: Dict[str, Any] = field(default_factory=lambda: {"population": 20, "sample": 5})
    budget: int = 6
    seed: int = 0
    proxy: str = "hybrid"
    proxy_resolution: int = 64
    batch_size: int = 8
    in_channels: int = 3
    out_channels: int = 1
    flops_budget_frac: float = 0.5
    max_flops: Optional[float] = None
    resolutions: Optional[Tuple[int, ...]] = (128,)
    min_attn_blocks: int = 1
    data: str = "auto"
    block_types: Optional[Tuple[str, ...]] = None

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["resolutions"] = list(self.resolutions) if self.resolutions else None
        if self.block_types is None:  # the default space: history names and keys as before
            del d["block_types"]
        else:
            d["block_types"] = list(self.block_types)
        return d

    def space(self):
        """The searched :class:`~nascore.space.HybridSegSpace`."""
        kw: Dict[str, Any] = {}
        if self.resolutions:
            kw["resolutions"] = tuple(self.resolutions)
        if self.block_types is not None:
            kw["block_types"] = tuple(self.block_types)
        return HybridSegSpace(**kw)

    def constraints(self):
        """The FLOPs bound and the attention-block minimum as :class:`~nascore.search.Constraints`."""
        attn = {}
        if self.min_attn_blocks > 0:  # n_attn >= m  <=>  -n_attn <= -m
            attn = dict(params_key="minus_n_attn", max_params=-float(self.min_attn_blocks))
        if self.max_flops is not None:
            return Constraints(max_flops=float(self.max_flops), flops_key="flops", **attn)
        return Constraints(max_flops=float(self.flops_budget_frac), flops_key="flops_ratio", **attn)

    def budget_info(self) -> Dict[str, Any]:
        c = self.constraints()
        return {"key": c.flops_key, "max": c.max_flops,
                "mode": "absolute" if self.max_flops is not None else "relative",
                "min_attn_blocks": self.min_attn_blocks}


# ----------------------------------------------------------------------------- data, objective
#: The patient split notebook 04 trains and tests on (:class:`~nascore.seg.pipeline.SegPipelineConfig`
#: defaults): the search's scoring batch is drawn from its training patients only.
SPLIT_FRACTIONS = (0.7, 0.15, 0.15)
SPLIT_SEED = 0


def _plain(t):
    """A MONAI ``MetaTensor`` as a plain tensor (other tensors unchanged)."""
    return t.as_tensor() if hasattr(t, "as_tensor") else t


def load_tumour_batch(batch_size: int = 8, resolution: int = 64, seed: int = 0,
                      data: str = "auto", cache_dir=None, channels=None,
                      fractions=SPLIT_FRACTIONS, split_seed: int = SPLIT_SEED):
    """A small batch of tumour slices at ``resolution`` from the **training patients** of the
    dataset ``data`` names.

    The patients are split as notebook 04 splits them (:func:`data_prep.patient_split` with
    ``fractions`` and ``split_seed``), so no validation or test patient's image or mask is shown
    to the proxy that picks the architecture notebook 04 then tests.

    Args:
        data: see :func:`nascore.seg.datasets.load_dataset` (``"auto"``, ``"lgg"``,
            ``"msd_brain"``, ``"synthetic"`` or a prepared folder's path).
        cache_dir: folder-dataset cache of the resized arrays.
        channels: channel indices to keep (None: all; the model takes the data's channels).
        fractions, split_seed: the train/val/test patient split (notebook 04's by default).

    Returns:
        ``((x, y), info)``: float32 images ``(B, C, r, r)``, each image and channel min-max
        scaled to [0, 1] as training scales them (MONAI ``ScaleIntensity``, channel-wise),
        float masks ``(B, 1, r, r)``;
        ``info`` = ``{"source", "synthetic", "ids", "tag", "channels", "split", "dataset"}``
        (``dataset``: its name, size and resolution in one line; ``source`` is the dataset label, ``tag`` its registry name for cache and history names,
        ``split`` the split used and the number of training patients).

    Raises:
        ValueError: fewer tumour slices in the training patients than ``batch_size``, or a
            split :func:`data_prep.patient_split` refuses.
    """
    import torch
    from monai.transforms import ScaleIntensity

    from ..seg.datasets import load_dataset

    recs, di = load_dataset(data, resolution=resolution, channels=channels, cache_dir=cache_dir,
                            synthetic={"n_patients": max(4, 2 * batch_size),
                                       "slices_per_patient": 8, "seed": seed})
    train = patient_split(recs, fractions, split_seed)["train"]
    rng = np.random.default_rng(seed)
    tumour = [r for r in train if r["has_tumor"]]
    pool = tumour or train if di["synthetic"] else tumour
    if len(pool) < batch_size:
        raise ValueError(f"only {len(pool)} tumour slices in the training patients of "
                         f"{di['label']} (split {list(fractions)}, seed {split_seed}), need "
                         f"batch_size={batch_size}")
    pick = np.sort(rng.choice(len(pool), size=batch_size, replace=False))
    scale = ScaleIntensity(channel_wise=True)  # as training does (nascore.seg.data)
    x = torch.stack([_plain(scale(torch.from_numpy(np.asarray(pool[i]["image"], np.float32))))
                     for i in pick])
    y = torch.from_numpy(np.stack([np.asarray(pool[i]["mask"], np.float32) for i in pick]))
    source = (di["label"] if di["synthetic"]
              else f"{di['label']}, tumour slices of the training patients")
    split = {"fractions": list(fractions), "seed": int(split_seed), "side": "train",
             "n_patients": len({r["group"] for r in train})}
    info = {"source": source, "synthetic": di["synthetic"], "tag": di["name"],
            "channels": di["channels"], "ids": [str(pool[i]["id"]) for i in pick], "split": split,
            "dataset": di["description"]}
    return (x, y), info


def batch_fingerprint(batch) -> str:
    """8-hex SHA-1 of the scoring batch's bytes (images, and masks when given): part of the
    score-cache namespace and of the history name, so another batch (another split, seed or
    dataset version) never reuses scores of this one."""
    import hashlib

    h = hashlib.sha1()
    for t in batch:
        if t is not None:
            h.update(str(tuple(t.shape)).encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:8]


def scoring_version(proxy: str) -> str:
    """12-hex SHA-1 of what a hybrid-space score depends on beyond the batch and the proxy
    and the settings: the proxy's own version (its module closure and data files such as v2's
    calibration; another proxy's file added or edited changes nothing) and the sources of the
    network builder (:class:`~nascore.search.objectives.HybridSegBuilder` and what it imports)."""
    import hashlib

    from ..proxies.versions import proxy_version

    build = source_hash(module_closure(["nascore.search.objectives"]))
    return hashlib.sha1(f"{proxy_version(proxy)}/{build}".encode()).hexdigest()[:12]


def make_objective(cfg: HybridSearchConfig, batch, data_tag: str, cache_path=None):
    """The live proxy objective of the hybrid search (scores at the batch's resolution)."""
    ns = (f"hybridseg/{data_tag}/r{cfg.proxy_resolution}/b{cfg.batch_size}/"
          f"c{cfg.in_channels}o{cfg.out_channels}/x{batch_fingerprint(batch)}/"
          f"v{scoring_version(cfg.proxy)}")
    return ProxyObjective(cfg.proxy, HybridSegBuilder(cfg.in_channels, cfg.out_channels), batch,
                          seed=cfg.seed, cache_path=cache_path, dataset=ns, resize=False)


def history_name(cfg: HybridSearchConfig, data_tag: str, batch=None) -> str:
    """The history file name: everything the scores depend on beyond what the log's meta line
    checks (data, proxy resolution/batch/channels, :func:`scoring_version`: the proxy's own
    code version and the builder's, and, given ``batch``, its :func:`batch_fingerprint`; the
    constraint is resumed), so that changing any of them starts a fresh history instead of
    replaying scores of another setting."""
    fp = "" if batch is None else f"__x{batch_fingerprint(batch)}"
    blocks = "" if cfg.block_types is None else "__blocks-" + "-".join(cfg.block_types)
    return (f"hybridseg__{data_tag}__{cfg.proxy}_r{cfg.proxy_resolution}b{cfg.batch_size}"
            f"c{cfg.in_channels}o{cfg.out_channels}__{cfg.strategy}__"
            f"v{scoring_version(cfg.proxy)}{fp}__attn{cfg.min_attn_blocks}{blocks}__seed{cfg.seed}.jsonl")


def run_hybrid_search(cfg: HybridSearchConfig, objective, cost_fn: SegCostFn, history_path=None,
                      executor=None, progress: bool = False, workers: int = 1,
                      dask: Optional[str] = None):
    """Runs the search (resumable through ``history_path``); returns the SearchHistory.

    Candidates are costed in this process from the piece tables (no network is built) and
    scored on ``executor`` when given, else on
    :func:`nascore.search.workers.search_executor` ``(workers, dask)``: serial for one worker,
    a warm process pool (one torch thread per worker) for more, or Dask (``"local"`` or a
    scheduler address; ``$NASCORE_DASK_SCHEDULER`` when ``dask`` is None; ``""``: no Dask).
    The history is the same on any executor; workers run in parallel only within a batch, so
    give the strategy one (``settings={"batch_size": workers}`` for evolution; the batch size
    is part of the algorithm).
    """
    st = STRATEGIES.get(cfg.strategy)(**dict(cfg.settings or {}))
    own = [t for t in cfg.space().block_types if t not in BUILTIN_BLOCKS]
    if own and (executor is not None or workers > 1 or dask or os.environ.get(
            "NASCORE_DASK_SCHEDULER")) and not os.environ.get("NASCORE_PLUGINS"):
        raise ValueError(f"block type(s) {own} are registered in this process only, and the "
                         "search would score candidates in other processes that do not know "
                         "them: put the block in a module of yours and name it in "
                         "NASCORE_PLUGINS before the run starts (e.g. NASCORE_PLUGINS=my_blocks), "
                         "or search with one worker")
    try:
        with (contextlib.nullcontext(executor) if executor is not None
              else search_executor(workers, dask)) as ex:
            return st.run(cfg.space(), objective, int(cfg.budget),
                          np.random.default_rng(cfg.seed), executor=ex,
                          constraints=cfg.constraints(), cost_fn=cost_fn,
                          history_path=history_path, progress=progress)
    finally:
        cost_fn.save()
