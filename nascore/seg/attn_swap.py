"""Attention earns its place: the same architecture with each attention block replaced by the
convolutional block of the space whose FLOPs are closest, so a hybrid can be compared with a
CNN of matched cost (notebook 04's optional ``searched_noattn`` model).

FLOPs follow :func:`nascore.cost.count_flops` (2 per multiply-add, batch 1, at the arch
resolution); a block's FLOPs are counted on the block alone at its stage's feature-map size
(the network is a sum of such pieces, as in :mod:`nascore.latency`).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from nascore.arch import STAGE_STRIDES, BlockSpec, HybridSegArch, StageSpec
from nascore.space import HybridSegSpace

#: Matched-cost tolerance: the swapped network's FLOPs within ±10% of the original's.
FLOPS_TOL = 0.10


def _block_flops(spec: BlockSpec, width: int, side: int, spatial_dims: int = 2) -> int:
    import torch

    from nascore.build import build_block
    from nascore.cost import count_flops

    with torch.no_grad():
        blk = build_block(spec, spatial_dims, width).eval()
        return int(count_flops(blk, (1, width) + (side,) * spatial_dims))


def replace_attention(arch: HybridSegArch, space: Optional[HybridSegSpace] = None,
                      in_channels: int = 1, out_channels: int = 1, tol: float = FLOPS_TOL
                      ) -> Tuple[HybridSegArch, Dict[str, Any]]:
    """``arch`` with every attention block replaced by the non-attention block of ``space``
    (same stage, same width) whose FLOPs are closest to that attention block's.

    Args:
        arch: a hybrid architecture (2D).
        space: the block choices (default :class:`~nascore.space.HybridSegSpace`; its
            conv/MBConv kernels and expansions).
        in_channels, out_channels: model channels (for the whole-network FLOPs).
        tol: the relative tolerance on the whole network's FLOPs.

    Returns:
        ``(new_arch, report)``: ``report`` has ``flops_before``, ``flops_after``,
        ``flops_ratio`` (after / before), ``matched`` (``|ratio - 1| <= tol``), ``tol``,
        ``blocks`` (per attention block: ``stage``, ``index``, ``attn``, ``attn_flops``,
        ``replacement``, ``replacement_flops``) and ``note`` (says so when the tolerance is
        not reachable with the space's blocks).

    Raises:
        ValueError: when ``arch`` has no attention block or the space offers no
            non-attention block for a stage that has one.
    """
    import torch

    from nascore.build import build_model
    from nascore.cost import count_flops

    space = space or HybridSegSpace()
    if arch.num_attn_blocks == 0:
        raise ValueError(f"architecture {arch.arch_id} has no attention block to replace")
    rows: List[Dict[str, Any]] = []
    stages = []
    cache: Dict[Tuple, int] = {}

    def flops(spec, width, side):
        key = (spec, width, side)
        if key not in cache:
            cache[key] = _block_flops(spec, width, side)
        return cache[key]

    for i, st in enumerate(arch.stages):
        side = arch.resolution // STAGE_STRIDES[i]
        cands = [b for b in space.block_choices(i) if not b.is_attn]
        blocks = []
        for j, b in enumerate(st.blocks):
            if not b.is_attn:
                blocks.append(b)
                continue
            if not cands:
                raise ValueError(f"space offers no non-attention block for stage {i}")
            fa = flops(b, st.width, side)
            best = min(cands, key=lambda c: (abs(flops(c, st.width, side) - fa), c.short()))
            rows.append({"stage": i, "index": j, "attn": b.short(), "attn_flops": fa,
                         "replacement": best.short(),
                         "replacement_flops": flops(best, st.width, side)})
            blocks.append(best)
        stages.append(StageSpec(st.width, tuple(blocks)))
    new = HybridSegArch(resolution=arch.resolution, stem_width=arch.stem_width,
                        stages=tuple(stages), decoder_widths=arch.decoder_widths,
                        aux_head=arch.aux_head, attn_min_stride=arch.attn_min_stride)
    shape = (1, in_channels, arch.resolution, arch.resolution)
    with torch.no_grad():
        before = int(count_flops(build_model(arch, in_channels, out_channels).eval(), shape))
        after = int(count_flops(build_model(new, in_channels, out_channels).eval(), shape))
    ratio = after / before
    matched = abs(ratio - 1.0) <= tol
    note = "" if matched else (
        f"FLOPs not matched within ±{tol:.0%}: the closest conv/MBConv blocks give "
        f"{ratio:.3f}x the hybrid's FLOPs")
    return new, {"flops_before": before, "flops_after": after, "flops_ratio": ratio,
                 "matched": matched, "tol": tol, "blocks": rows, "note": note}
