"""Transformer knob search: train the weights and the :class:`~nascore.seg.knobs.TransformerKnobs`
jointly with the four-term loss (:class:`~nascore.seg.objective.SegObjective`), discretise, and
carry the searched weights over into the smaller architecture.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, Optional, Sequence, Tuple

from nascore.arch import HybridSegArch
from nascore.build import HybridSegNet, build_model
from nascore.cost import count_flops, count_params
from nascore.space import HybridSegSpace

from .knobs import TransformerKnobs
from .objective import LossWeights, SegObjective
from .train import TrainConfig, seeded, train_model


def transfer_weights(src: HybridSegNet, dst: HybridSegNet, block_map: Sequence[Sequence[int]]) -> None:
    """Copies ``src``'s weights into the pruned ``dst``.

    Blocks are matched through ``block_map`` (from :meth:`TransformerKnobs.discretise`); a
    smaller MLP takes the first hidden units (those the MLP-ratio gate kept). Head-count
    changes keep the qkv/proj weights as they are (the head width is ``C / heads``).

    Raises:
        ValueError: naming the parameter whose shape cannot be transferred.
    """
    src_sd, dst_sd = src.state_dict(), dst.state_dict()
    new = {}
    for key, t in dst_sd.items():
        parts = key.split(".")
        skey = key
        if parts[0] == "stages" and int(parts[2]) >= 1:
            i, j = int(parts[1]), int(parts[2]) - 1
            skey = ".".join(["stages", parts[1], str(block_map[i][j] + 1)] + parts[3:])
        s = src_sd[skey]
        if s.shape != t.shape:
            if s.dim() != t.dim() or any(a > b for a, b in zip(t.shape, s.shape)):
                raise ValueError(f"transfer_weights: {skey} {tuple(s.shape)} does not fit {key} "
                                 f"{tuple(t.shape)}")
            s = s[tuple(slice(0, n) for n in t.shape)]
        new[key] = s.clone()
    dst.load_state_dict(new)


#: the knob search's default loss weights (more complexity pressure than SegObjective's default)
SEARCH_WEIGHTS = LossWeights(dice=1.0, transformer=0.4, complexity=1.0, entropy=0.05)
#: the knob search's default training settings (50 steps, knobs at lr 0.05)
SEARCH_TRAINING = TrainConfig(steps=50, arch_lr=0.05, progress=False, desc="knob search")


def search_knobs(arch: HybridSegArch, train_loader, val_loader=None, *,
                 weights: Optional[LossWeights] = None, flops_budget: Optional[float] = None,
                 complexity_mode: str = "ratio", config: Optional[TrainConfig] = None,
                 init_keep: float = 2.0, mode: str = "soft", space: Optional[HybridSegSpace] = None,
                 in_channels: int = 1, out_channels: int = 1, model: Optional[HybridSegNet] = None,
                 min_attn_blocks: int = 1, **overrides: Any) -> Tuple[HybridSegArch, Dict[str, Any]]:
    """Trains weights and knobs jointly with the four-term loss, then discretises.

    Args:
        arch: the architecture to prune (needs attention blocks).
        train_loader: batches of ``image``/``label`` (:mod:`nascore.seg.data`).
        val_loader: optional validation loader (val Dice is logged).
        weights: the loss weights (default :data:`SEARCH_WEIGHTS`).
        flops_budget, complexity_mode: the :class:`~nascore.seg.objective.SegObjective`
            complexity settings.
        config: training settings (default :data:`SEARCH_TRAINING`): ``steps``, ``lr`` and
            ``arch_lr`` (AdamW learning rates of the weights and of the knobs, in separate
            groups; the knobs get no weight decay), ``weight_decay``, ``seed`` (also seeds the
            model initialisation), ``device``, ``progress``, and ``checkpoint_dir`` (where the
            search's ``last.pt`` goes, so a killed search resumes). ``restore_best`` is always
            off: the search keeps its last state.
        init_keep, mode, space: :class:`TransformerKnobs` settings.
        in_channels, out_channels: model channels (1 output: sigmoid).
        model: an already built (e.g. pre-trained) model of ``arch`` to start from.
        min_attn_blocks: attention blocks the discretised arch keeps at least (0: none).
        **overrides: ``w_<term>=...`` (replacing single loss weights) and
            :class:`~nascore.seg.train.TrainConfig` fields (``steps=..., seed=...``).

    Returns:
        ``(new_arch, report)``; ``report`` holds ``flops_before``/``flops_after`` and
        ``params_before``/``params_after`` (``count_flops``/``count_params`` at the arch
        resolution), ``expected_flops`` (final), ``decisions``, ``block_map``, ``history``
        (per-step log), ``model`` (the searched model, gates detached, on the CPU),
        ``train_time_s``, ``objective`` (the loss settings), and the promises kept or not:
        ``flops_budget``, ``budget_met`` (None without a budget; False when the discretised
        arch is over budget even after the greedy repair of
        :meth:`~nascore.seg.knobs.TransformerKnobs.discretise`), ``budget_steps`` (the repair),
        ``flops_discrete`` (the FLOPs before the repair), ``min_attn_blocks``, ``n_attn_before``,
        ``n_attn_after``, ``attention_removed`` (True when no attention is left) and ``note``.

    Raises:
        TypeError: on an unknown keyword. ValueError: as :class:`TransformerKnobs` and
            :func:`~nascore.seg.train.train_model`.
    """
    w_over = {k: overrides.pop(k) for k in list(overrides) if k.startswith("w_")}
    weights = LossWeights.resolve(weights if weights is not None else SEARCH_WEIGHTS, **w_over)
    cfg = TrainConfig.resolve(config if config is not None else SEARCH_TRAINING, **overrides)
    cfg = TrainConfig.resolve(cfg, restore_best=False)
    if model is None:
        with seeded(cfg.seed):
            model = build_model(arch, in_channels, out_channels)
    knobs = TransformerKnobs(model, space, init_keep=init_keep, mode=mode)
    obj = SegObjective(weights, flops_budget=flops_budget, complexity_mode=complexity_mode)
    try:
        res = train_model(model, train_loader, val_loader, obj, cfg, knobs=knobs)
    finally:
        knobs.detach()
    model.cpu()
    knobs.cpu()
    unrepaired = knobs.discretise(min_attn_blocks)
    flops_discrete = knobs.last_discretisation["flops"]
    del unrepaired
    new_arch, block_map, dec = knobs.discretise(min_attn_blocks, flops_budget)
    disc = knobs.last_discretisation
    shape = (1, in_channels) + (arch.resolution,) * model.spatial_dims
    new_model = build_model(new_arch, in_channels, out_channels, model.spatial_dims)
    report = {
        "arch_before": arch, "arch_after": new_arch,
        "flops_before": count_flops(model, shape), "flops_after": count_flops(new_model, shape),
        "params_before": count_params(model), "params_after": count_params(new_model),
        "expected_flops": float(knobs.expected_flops().detach()), "decisions": dec,
        "block_map": block_map, "history": res.history, "model": model,
        "train_time_s": res.train_time_s, "objective": obj.config(),
        "flops_budget": flops_budget, "budget_met": disc["budget_met"],
        "budget_steps": disc["budget_steps"], "flops_discrete": flops_discrete,
        "min_attn_blocks": min_attn_blocks, "n_attn_before": arch.num_attn_blocks,
        "n_attn_after": new_arch.num_attn_blocks,
        "attention_removed": new_arch.num_attn_blocks == 0, "note": disc["note"],
    }
    if flops_budget is not None:
        report["budget_met"] = bool(report["flops_after"] <= flops_budget)  # the counted FLOPs
    return new_arch, report


def pruned_model(report: Dict[str, Any], in_channels: int = 1, out_channels: int = 1) -> HybridSegNet:
    """The discretised model with the searched weights transferred (ready to fine-tune)."""
    src = report["model"]
    dst = build_model(report["arch_after"], in_channels, out_channels, src.spatial_dims)
    transfer_weights(copy.deepcopy(src).cpu(), dst, report["block_map"])
    return dst
