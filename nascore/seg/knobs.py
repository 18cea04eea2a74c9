"""Transformer knob search: learnable gates on the layers, heads and MLP widths of a model's
attention blocks, trained jointly with the weights, then discretised into a smaller arch.

Per attention block ``k`` (see :class:`nascore.blocks.AttnBlock`):

* a layer keep/drop logit pair ``(drop, keep)``; ``p_keep = softmax[1]`` gates the block
  (``AttnBlock.layer_gate``);
* one keep logit per head; ``sigmoid`` gates each head's output (``MHSA.head_gate``);
* a categorical over the MLP ratios of the space that are <= the block's ratio; ratio ``r``
  keeps the first ``r·C`` hidden units, so the hidden gate of unit ``u`` is
  ``P(r·C > u)`` (``MLP.hidden_gate``).

Attention-role blocks of another registered type (anything that is not an ``AttnBlock``) have
no gates: they are kept as they are, their FLOPs count as fixed, and they are listed in
:attr:`TransformerKnobs.fixed_attn`.

``mode="soft"`` uses the probabilities as gates; ``mode="st"`` uses the hard decision in the
forward pass and the probabilities' gradient (straight-through).

Expected FLOPs (same convention as :func:`nascore.cost.count_flops`: a multiply-add is 2
FLOPs; norms, softmax, activations and gating are free). With ``N`` tokens, width ``C``,
MLP hidden ``M``, a block costs ``18NC`` (3×3 depthwise PEG) ``+ 6NC²`` (qkv) ``+ 4N²C``
(``qkᵀ`` and ``attn·v``) ``+ 2NC²`` (proj) ``+ 4NCM`` (MLP); this matches ``count_flops`` on the
block exactly (checked in the tests). ``E[FLOPs] = fixed + Σ_k p_keep,k · (attn_k + Σ_r p_r·4NC·rC)``
where ``fixed`` is the rest of the network (``count_flops`` of the model minus the blocks).
In this space the head width is ``C / heads``, so the number of heads does **not** change
FLOPs; head gates are driven by the segmentation loss and the entropy term only.

Discretisation rules (:meth:`TransformerKnobs.discretise`):

* a block is kept iff ``p_keep > 0.5``; if that would leave a stage without blocks (all its
  blocks are attention blocks and all drop), the block with the highest ``p_keep`` is kept,
  since an architecture needs depth >= 1 per stage;
* heads: the number of heads with keep probability > 0.5 (at least 1), rounded to the nearest
  allowed count (``space.heads`` that divide the width; ties go to the larger count);
* MLP ratio: the argmax of its categorical;
* ``min_attn_blocks`` (default 1): if fewer attention blocks survive, the dropped ones with the
  highest ``p_keep`` are kept again (``forced``, ``reason="min_attn_blocks"``); 0 lets every
  attention block go (the report then says the arch has no attention left);
* ``flops_budget`` (optional): if the discrete arch's FLOPs exceed it, reductions are applied
  greedily, each time the one that loses the least probability mass per FLOP saved: lowering
  a kept block's MLP ratio one step (loss = probability of its current ratio) or dropping a
  kept block (loss = ``p_keep``; never below ``min_attn_blocks`` nor an empty stage). The steps
  are recorded; if the budget is still not met, ``budget_met`` is False (never silent).

The search itself (joint training, discretisation, weight transfer) is
:mod:`nascore.seg.knob_search`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from nascore.arch import STAGE_STRIDES, BlockSpec, HybridSegArch, StageSpec
from nascore.blocks import AttnBlock
from nascore.build import HybridSegNet
from nascore.cost import count_flops
from nascore.space import HybridSegSpace


@dataclass(frozen=True)
class BlockInfo:
    """Where an attention block sits and its sizes."""

    stage: int
    index: int  # block index inside the stage
    dim: int
    heads: int
    mlp_ratio: int
    tokens: int
    ratios: Tuple[int, ...]  # the MLP ratio choices (ascending, <= mlp_ratio)

    def attn_flops(self) -> int:
        """PEG + qkv + attention matmuls + projection FLOPs."""
        n, c = self.tokens, self.dim
        return 18 * n * c + 6 * n * c * c + 4 * n * n * c + 2 * n * c * c

    def mlp_flops(self, ratio: int) -> int:
        return 4 * self.tokens * self.dim * ratio * self.dim

    def flops(self, ratio: Optional[int] = None) -> int:
        """Analytic FLOPs of the block (with MLP ratio ``ratio``, default its own)."""
        return self.attn_flops() + self.mlp_flops(self.mlp_ratio if ratio is None else ratio)


def attn_block_flops(dim: int, heads: int, mlp_ratio: int, tokens: int) -> int:
    """Analytic FLOPs of one :class:`~nascore.blocks.AttnBlock` on ``tokens`` tokens."""
    return BlockInfo(0, 0, dim, heads, mlp_ratio, tokens, (mlp_ratio,)).flops()


def _ste(hard: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    return hard + soft - soft.detach()


class TransformerKnobs(nn.Module):
    """Architecture parameters gating the attention blocks of a :class:`HybridSegNet`.

    The knobs are a separate module (the model's ``parameters()`` stay the weights only);
    :meth:`attach` installs a forward pre-hook on the model that sets the gates from the
    current parameters before each forward pass, :meth:`detach` removes it and clears them.

    Args:
        model: the network (built by :func:`nascore.build.build_model`).
        space: the space giving the allowed head counts and MLP ratios.
        init_keep: initial keep logit of layers and heads, and the initial logit of each
            block's own MLP ratio (others start at 0).
        mode: ``"soft"`` or ``"st"`` (straight-through hard gates).
        attach: attach to the model right away.
    """

    def __init__(self, model: HybridSegNet, space: Optional[HybridSegSpace] = None,
                 init_keep: float = 2.0, mode: str = "soft", attach: bool = True) -> None:
        super().__init__()
        if not isinstance(model, HybridSegNet):
            raise TypeError(f"model must be a HybridSegNet, got {type(model).__name__}")
        if mode not in ("soft", "st"):
            raise ValueError(f"mode must be 'soft' or 'st', got {mode!r}")
        self.space = space or HybridSegSpace()
        self.mode = mode
        self.arch: HybridSegArch = model.arch
        self._model = [model]  # a list, so the model is not a submodule
        self._hook = None
        arch, sd = model.arch, model.spatial_dims
        self.infos: List[BlockInfo] = []
        self._blocks: List[AttnBlock] = []
        #: ``(stage, index, type)`` of attention-role blocks that are not ``AttnBlock`` (a
        #: registered block type of another design): kept as they are, never searched
        self.fixed_attn: List[Tuple[int, int, str]] = []
        for i, st in enumerate(arch.stages):
            tokens = (arch.resolution // STAGE_STRIDES[i]) ** sd
            for j, spec in enumerate(st.blocks):
                if not spec.is_attn:
                    continue
                blk = model.stages[i][j + 1]
                if not isinstance(blk, AttnBlock):  # no gates to search: its FLOPs stay fixed
                    self.fixed_attn.append((i, j, spec.type))
                    continue
                ratios = tuple(sorted({r for r in self.space.mlp_ratios if r <= spec.mlp_ratio}
                                      | {spec.mlp_ratio}))
                self.infos.append(BlockInfo(i, j, st.width, spec.heads, spec.mlp_ratio, tokens, ratios))
                self._blocks.append(blk)
        if not self.infos:
            other = (f" ({len(self.fixed_attn)} attention-role block(s) of other types, "
                     f"{sorted({t for _, _, t in self.fixed_attn})}, have no gates to search)"
                     if self.fixed_attn else "")
            raise ValueError(f"architecture {arch.arch_id} has no attention blocks to search{other}")
        self.layer_logits = nn.ParameterList(
            [nn.Parameter(torch.tensor([0.0, init_keep])) for _ in self.infos])
        self.head_logits = nn.ParameterList(
            [nn.Parameter(torch.full((b.heads,), float(init_keep))) for b in self.infos])
        self.mlp_logits = nn.ParameterList()
        for k, b in enumerate(self.infos):
            lg = torch.zeros(len(b.ratios))
            lg[b.ratios.index(b.mlp_ratio)] = init_keep
            self.mlp_logits.append(nn.Parameter(lg))
            hidden = b.dim * b.mlp_ratio
            masks = (torch.arange(hidden)[None, :] < torch.tensor(b.ratios)[:, None] * b.dim).float()
            self.register_buffer(f"mlp_masks_{k}", masks, persistent=False)
        in_ch = model.stem.conv.in_channels if hasattr(model.stem, "conv") else \
            next(model.stem.parameters()).shape[1]
        self.input_shape = (1, in_ch) + (arch.resolution,) * sd
        total = count_flops(model, self.input_shape)
        #: FLOPs of everything but the attention blocks
        self.fixed_flops = total - sum(b.flops() for b in self.infos)
        #: FLOPs with every gate open (the model's FLOPs)
        self.full_flops = total
        if attach:
            self.attach()

    # --- probabilities and gates ------------------------------------------------------------
    def layer_probs(self) -> List[torch.Tensor]:
        """Keep probability of each block (scalars)."""
        return [F.softmax(lg, dim=0)[1] for lg in self.layer_logits]

    def head_probs(self) -> List[torch.Tensor]:
        """Keep probability of each head, per block."""
        return [torch.sigmoid(lg) for lg in self.head_logits]

    def mlp_probs(self) -> List[torch.Tensor]:
        """Probabilities of the MLP ratio choices, per block."""
        return [F.softmax(lg, dim=0) for lg in self.mlp_logits]

    def gates(self) -> List[Dict[str, torch.Tensor]]:
        """Per block, the ``layer``, ``heads`` and ``hidden`` gate tensors."""
        out = []
        for k, (pl, ph, pm) in enumerate(zip(self.layer_probs(), self.head_probs(), self.mlp_probs())):
            masks = getattr(self, f"mlp_masks_{k}")
            if self.mode == "st":
                pl = _ste((pl > 0.5).to(pl.dtype), pl)
                ph = _ste((ph > 0.5).to(ph.dtype), ph)
                pm = _ste(F.one_hot(pm.argmax(), len(pm)).to(pm.dtype), pm)
            out.append({"layer": pl, "heads": ph, "hidden": pm @ masks})
        return out

    def apply_gates(self) -> None:
        """Sets the blocks' gates from the current parameters."""
        for blk, g in zip(self._blocks, self.gates()):
            blk.layer_gate = g["layer"]
            blk.attn.head_gate = g["heads"]
            blk.mlp.hidden_gate = g["hidden"]

    def clear_gates(self) -> None:
        """Resets every gate to None (the ungated network)."""
        for blk in self._blocks:
            blk.layer_gate = blk.attn.head_gate = blk.mlp.hidden_gate = None

    def attach(self) -> None:
        """Installs the pre-forward hook that sets the gates on every model call."""
        if self._hook is None:
            self._hook = self._model[0].register_forward_pre_hook(lambda m, a: self.apply_gates())

    def detach(self) -> None:
        """Removes the hook and clears the gates."""
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        self.clear_gates()

    # --- the two differentiable terms -------------------------------------------------------
    def expected_flops(self) -> torch.Tensor:
        """Expected FLOPs of the whole network under the current distributions (a tensor)."""
        dev = self.layer_logits[0].device
        total = torch.tensor(float(self.fixed_flops), device=dev)
        for b, pl, pm in zip(self.infos, self.layer_probs(), self.mlp_probs()):
            mlp = (pm * torch.tensor([float(b.mlp_flops(r)) for r in b.ratios], device=dev)).sum()
            total = total + pl * (float(b.attn_flops()) + mlp)
        return total

    def entropy(self) -> torch.Tensor:
        """Mean normalised entropy over all gates (1 at uniform, 0 when deterministic).

        Each layer choice, each head's keep/drop and each MLP categorical counts once; each
        entropy is divided by the log of its number of outcomes.
        """
        ents = []
        for lg in self.layer_logits:
            ents.append(_entropy(F.log_softmax(lg, 0)) / math.log(2))
        for lg in self.head_logits:
            lp = torch.stack([F.logsigmoid(lg), F.logsigmoid(-lg)], dim=-1)
            ents.extend(_entropy(lp) / math.log(2))
        for lg in self.mlp_logits:
            if len(lg) > 1:
                ents.append(_entropy(F.log_softmax(lg, 0)) / math.log(len(lg)))
        return torch.stack(ents).mean()

    # --- discretisation ---------------------------------------------------------------------
    def decisions(self) -> List[Dict[str, Any]]:
        """Per block: its place, probabilities and the discrete choice (see module docs)."""
        out = []
        for b, pl, ph, pm in zip(self.infos, self.layer_probs(), self.head_probs(), self.mlp_probs()):
            ph_l = ph.detach().cpu().tolist()
            n_keep = max(1, sum(p > 0.5 for p in ph_l))
            allowed = sorted(h for h in self.space.heads if b.dim % h == 0) or [b.heads]
            heads = min(allowed, key=lambda h: (abs(h - n_keep), -h))
            pl = float(pl.detach())
            out.append({"stage": b.stage, "index": b.index, "p_keep": pl, "keep": pl > 0.5, "head_probs": ph_l, "heads_kept": n_keep,
                        "heads": heads, "mlp_probs": pm.detach().cpu().tolist(),
                        "mlp_ratio": b.ratios[int(pm.argmax())], "forced": False,
                        "old_heads": b.heads, "old_mlp_ratio": b.mlp_ratio})
        return out

    def discrete_flops(self, dec: List[Dict[str, Any]]) -> int:
        """Analytic FLOPs of the network for ``decisions``-style choices (kept blocks only)."""
        return int(self.fixed_flops + sum(b.flops(d["mlp_ratio"]) for b, d in zip(self.infos, dec)
                                          if d["keep"] or d["forced"]))

    def _min_attn(self, dec: List[Dict[str, Any]], min_attn_blocks: int) -> None:
        kept = [d for d in dec if d["keep"] or d["forced"]]
        dropped = sorted((d for d in dec if not (d["keep"] or d["forced"])),
                         key=lambda d: -d["p_keep"])
        for d in dropped[:max(0, min_attn_blocks - len(kept))]:
            d["forced"], d["reason"] = True, "min_attn_blocks"

    def _fit_budget(self, dec: List[Dict[str, Any]], budget: float, min_attn_blocks: int,
                    stage_sizes: Dict[int, int]) -> List[Dict[str, Any]]:
        steps = []
        while self.discrete_flops(dec) > budget:
            kept = [k for k, d in enumerate(dec) if d["keep"] or d["forced"]]
            options = []
            for k in kept:
                b, d = self.infos[k], dec[k]
                r = b.ratios.index(d["mlp_ratio"])
                if r > 0:
                    saved = b.mlp_flops(d["mlp_ratio"]) - b.mlp_flops(b.ratios[r - 1])
                    options.append((d["mlp_probs"][r] / max(saved, 1), k, "mlp", saved))
                if len(kept) > min_attn_blocks and stage_sizes[b.stage] > 1:
                    saved = b.flops(d["mlp_ratio"])
                    options.append((d["p_keep"] / max(saved, 1), k, "drop", saved))
            if not options:
                break
            _, k, what, saved = min(options)
            b, d = self.infos[k], dec[k]
            if what == "mlp":
                old = d["mlp_ratio"]
                d["mlp_ratio"] = b.ratios[b.ratios.index(old) - 1]
                steps.append({"stage": b.stage, "index": b.index, "change": f"mlp_ratio {old} -> "
                              f"{d['mlp_ratio']}", "flops_saved": int(saved)})
            else:
                d["keep"] = d["forced"] = False
                d["reason"] = "flops_budget"
                stage_sizes[b.stage] -= 1
                steps.append({"stage": b.stage, "index": b.index, "change": "dropped",
                              "flops_saved": int(saved)})
        return steps

    @torch.no_grad()
    def discretise(self, min_attn_blocks: int = 1, flops_budget: Optional[float] = None
                   ) -> Tuple[HybridSegArch, List[List[int]], List[Dict[str, Any]]]:
        """The discrete architecture (rules in the module docstring).

        Args:
            min_attn_blocks: attention blocks the result keeps at least (capped at the
                number the input has).
            flops_budget: FLOPs (2 per multiply-add, at the arch resolution) the result should
                fit; ``None``: no repair.

        Returns:
            ``(arch, block_map, decisions)``: ``block_map[i]`` lists, for each block of stage
            ``i`` of the new arch, its index in the old stage (for :func:`transfer_weights`).
            ``decisions`` are per attention block (:meth:`decisions`, ``keep``/``forced`` and
            ``mlp_ratio`` final); :attr:`last_discretisation` holds the budget summary
            (``flops``, ``flops_budget``, ``budget_met``, ``budget_steps``, ``n_attn``,
            ``min_attn_blocks``, ``min_attn_met``, ``note``).

        Raises:
            ValueError: on a negative ``min_attn_blocks``.
        """
        if min_attn_blocks < 0:
            raise ValueError(f"min_attn_blocks must be >= 0, got {min_attn_blocks}")
        dec = self.decisions()
        by_pos = {(d["stage"], d["index"]): d for d in dec}
        self._min_attn(dec, min_attn_blocks)
        for i, st in enumerate(self.arch.stages):
            if not any((i, j) not in by_pos or by_pos[(i, j)]["keep"] or by_pos[(i, j)]["forced"]
                       for j, s in enumerate(st.blocks)):  # every block a dropped attention block
                j = max(range(st.depth), key=lambda j: by_pos[(i, j)]["p_keep"])
                by_pos[(i, j)]["forced"] = True
                by_pos[(i, j)].setdefault("reason", "empty stage")
        stage_sizes = {i: sum(1 for j, s in enumerate(st.blocks) if (i, j) not in by_pos
                              or by_pos[(i, j)]["keep"] or by_pos[(i, j)]["forced"])
                       for i, st in enumerate(self.arch.stages)}
        steps = ([] if flops_budget is None else
                 self._fit_budget(dec, float(flops_budget), min_attn_blocks, stage_sizes))
        stages, block_map = [], []
        for i, st in enumerate(self.arch.stages):
            kept = [j for j, s in enumerate(st.blocks)
                    if (i, j) not in by_pos or by_pos[(i, j)]["keep"] or by_pos[(i, j)]["forced"]]
            blocks = []
            for j in kept:
                s = st.blocks[j]
                if (i, j) in by_pos:  # a searched AttnBlock; other blocks are kept as they are
                    d = by_pos[(i, j)]
                    s = BlockSpec(s.type, heads=d["heads"], mlp_ratio=d["mlp_ratio"])
                blocks.append(s)
            stages.append(StageSpec(st.width, tuple(blocks)))
            block_map.append(kept)
        a = self.arch
        new = HybridSegArch(resolution=a.resolution, stem_width=a.stem_width, stages=tuple(stages),
                            decoder_widths=a.decoder_widths, aux_head=a.aux_head,
                            attn_min_stride=a.attn_min_stride)
        flops = self.discrete_flops(dec)
        met = None if flops_budget is None else bool(flops <= flops_budget)
        n_attn = new.num_attn_blocks
        notes = []
        if met is False:
            notes.append(f"FLOPs budget NOT met: {flops / 1e6:.1f} M > {flops_budget / 1e6:.1f} M "
                         f"after {len(steps)} greedy reduction(s); no further reduction is allowed "
                         f"(min_attn_blocks={min_attn_blocks}, >= 1 block per stage, smallest "
                         "MLP ratios)")
        if n_attn == 0:
            notes.append("the discretised arch has NO attention block left (min_attn_blocks="
                         f"{min_attn_blocks}): it is a pure CNN")
        self.last_discretisation = {
            "flops": flops, "flops_budget": flops_budget, "budget_met": met,
            "budget_steps": steps, "n_attn": n_attn, "min_attn_blocks": min_attn_blocks,
            "min_attn_met": n_attn >= min(min_attn_blocks, len(self.infos)), "note": "; ".join(notes)}
        return new, block_map, dec


def _entropy(logp: torch.Tensor) -> torch.Tensor:
    return -(logp.exp() * logp).sum(-1)
