"""Drawing a :class:`~nascore.arch.HybridSegArch` as a U-shaped diagram (matplotlib)."""

from __future__ import annotations

from typing import Optional

from ..arch import STAGE_STRIDES, HybridSegArch
from ..block_types import BLOCKS


def draw_arch(arch: HybridSegArch, ax=None, title: Optional[str] = None):
    """Draws the encoder blocks (coloured and labelled by their registered type, see
    :mod:`nascore.block_types`) and the decoder as a U shape.

    Args:
        arch: the architecture.
        ax: a matplotlib Axes (a new figure is made when None).
        title: the title; defaults to the arch id.

    Returns:
        The Axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch, Patch

    if ax is None:
        _, ax = plt.subplots(figsize=(11, 5))
    levels = len(arch.stages) + 1  # stem + stages
    maxd = max(arch.depths)

    def box(x, y, w, h, colour, text, fs=7):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", fc=colour, ec="k",
                                    lw=0.6, alpha=0.9))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fs, color="white")

    # encoder column on the left, decoder on the right; deeper levels lower
    box(0, levels - 1, 1.6, 0.7, "#8172B2", f"stem\nw{arch.stem_width}")
    for i, st in enumerate(arch.stages):
        y = levels - 2 - i
        box(0, y, 1.6, 0.7, "#777777", f"down s{STAGE_STRIDES[i]}\nw{st.width}")
        for j, b in enumerate(st.blocks):
            box(1.8 + j * 1.05, y, 0.95, 0.7, BLOCKS.get(b.type).colour, b.short())
    xd = 2.2 + maxd * 1.05
    for k, w in enumerate(arch.decoder_widths):
        y = k + 1  # decoder levels at strides 8, 4, 2, 1 sit beside encoder levels
        box(xd, y, 1.5, 0.7, "#937860", f"up s{(8, 4, 2, 1)[k]}\nw{w}")
        ax.annotate("", xy=(xd, y + 0.35), xytext=(1.6, y + 0.35),
                    arrowprops=dict(arrowstyle="->", color="#999999", lw=0.6, ls="--"))
    box(xd + 1.7, levels - 1, 1.0, 0.7, "#333333", "head")
    if arch.aux_head:
        box(xd + 1.7, 0, 1.0, 0.7, "#CCB974", "aux\nhead")
    ax.set_xlim(-0.3, xd + 3.0)
    ax.set_ylim(-0.4, levels + 0.2)
    ax.axis("off")
    ax.legend(handles=[Patch(color=BLOCKS.get(t).colour, label=t) for t in BLOCKS.names()],
              loc="upper center", ncol=len(BLOCKS), fontsize=8, frameon=False, bbox_to_anchor=(0.5, 1.08))
    ax.set_title(title if title is not None else
                 f"arch {arch.arch_id}  (resolution {arch.resolution}, {arch.num_attn_blocks} attn / "
                 f"{arch.num_blocks} blocks)", fontsize=9, pad=18)
    return ax
