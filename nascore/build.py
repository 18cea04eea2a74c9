"""Turns a :class:`~nascore.arch.HybridSegArch` into a PyTorch module."""

from __future__ import annotations

from typing import Iterator, List, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from .arch import BlockSpec, HybridSegArch
from .blocks import AttnBlock, UnetOutBlock, UpBlock, conv_norm_act, create_block


def build_block(spec: BlockSpec, spatial_dims: int, dim: int, norm: str = "batch") -> nn.Module:
    """One encoder block from its spec: :func:`nascore.blocks.create_block`.

    Returns:
        A module mapping ``(B, dim, *spatial) -> (B, dim, *spatial)``.

    Raises:
        ValueError: for an unknown block type or one without a registered builder.
    """
    return create_block(spec, spatial_dims, dim, norm)


class HybridSegNet(nn.Module):
    """U-shaped hybrid encoder-decoder built from a :class:`HybridSegArch`.

    ``forward(x)`` returns per-pixel logits at the input size. ``forward(x, return_aux=True)``
    also returns the auxiliary head's logits on the deepest features, upsampled to the input
    size (``None`` when the arch has no auxiliary head).
    """

    def __init__(self, arch: HybridSegArch, in_channels: int, out_channels: int,
                 spatial_dims: int = 2, norm: str = "batch") -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        self.arch, self.spatial_dims = arch, spatial_dims
        self.stem = conv_norm_act(spatial_dims, in_channels, arch.stem_width, 3, norm=norm)
        self.stages = nn.ModuleList()
        cin = arch.stem_width
        for st in arch.stages:
            down = conv_norm_act(spatial_dims, cin, st.width, 3, stride=2, norm=norm)
            blocks = [build_block(b, spatial_dims, st.width, norm) for b in st.blocks]
            self.stages.append(nn.Sequential(down, *blocks))
            cin = st.width
        skips = [st.width for st in arch.stages[:-1]][::-1] + [arch.stem_width]
        self.decoder = nn.ModuleList()
        for skip, w in zip(skips, arch.decoder_widths):
            self.decoder.append(UpBlock(spatial_dims, cin, skip, w, norm=norm))
            cin = w
        self.head = UnetOutBlock(spatial_dims, cin, out_channels)
        self.aux_head = UnetOutBlock(spatial_dims, arch.stages[-1].width, out_channels) \
            if arch.aux_head else None

    def attn_blocks(self) -> Iterator[AttnBlock]:
        """The attention blocks, in encoder order."""
        return (m for m in self.modules() if isinstance(m, AttnBlock))

    def forward(self, x: torch.Tensor, return_aux: bool = False
                ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        size = x.shape[2:]
        if any(s % 16 for s in size):
            raise ValueError(f"input spatial size {tuple(size)} must be divisible by 16")
        feats: List[torch.Tensor] = [self.stem(x)]
        for stage in self.stages:
            feats.append(stage(feats[-1]))
        y = feats[-1]
        for up, skip in zip(self.decoder, feats[-2::-1]):
            y = up(y, skip)
        logits = self.head(y)
        if not return_aux:
            return logits
        aux = None
        if self.aux_head is not None:
            mode = "bilinear" if self.spatial_dims == 2 else "trilinear"
            aux = F.interpolate(self.aux_head(feats[-1]), size=size, mode=mode, align_corners=False)
        return logits, aux


def build_model(arch: HybridSegArch, in_channels: int, out_channels: int, spatial_dims: int = 2,
                norm: str = "batch") -> HybridSegNet:
    """Builds the network of ``arch``.

    Args:
        arch: the architecture.
        in_channels: image channels.
        out_channels: output channels (classes; 1 for a binary mask with sigmoid).
        spatial_dims: 2 or 3.
        norm: MONAI norm name for conv layers (``"batch"`` or ``"instance"``).

    Returns:
        A module mapping ``(B, in, *S)`` to logits ``(B, out, *S)``; ``S`` divisible by 16.

    Example:
        >>> from nascore.arch import example_arch
        >>> net = build_model(example_arch(), 1, 2)
        >>> net(torch.zeros(2, 1, 64, 64)).shape
        torch.Size([2, 2, 64, 64])
    """
    if not isinstance(arch, HybridSegArch):
        raise TypeError(f"arch must be a HybridSegArch, got {type(arch).__name__}")
    return HybridSegNet(arch, in_channels, out_channels, spatial_dims, norm)
