"""Building blocks of the hybrid segmentation network (2D or 3D via ``spatial_dims``).

Encoder block types are declared (torch-free) in :mod:`nascore.block_types`; their modules are
registered here by the same name in :data:`BLOCK_BUILDERS` with :func:`register_builder`, all
with one signature ``builder(spec, spatial_dims, dim, norm) -> nn.Module`` mapping
``(B, dim, *spatial) -> (B, dim, *spatial)``. :func:`create_block` builds a block from its
:class:`~nascore.block_types.BlockSpec`.

Conv blocks reuse MONAI (``UnetResBlock``, ``Convolution``, ``UnetOutBlock``). Attention is
written with explicit matmuls so that ``torch.utils.flop_counter`` counts it, and it exposes
gates that the Transformer knob search (``nascore.seg``) sets:

* ``MHSA.head_gate``: optional tensor ``(num_heads,)`` scaling each head's output;
* ``MLP.hidden_gate``: optional tensor ``(hidden,)`` scaling the hidden units;
* ``AttnBlock.layer_gate``: optional scalar tensor; the block returns
  ``x + gate * (block(x) - x)``, so a gate of 0 removes the layer.

All gates are ``None`` by default, which leaves the forward pass unchanged.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from monai.networks.blocks import Convolution, UnetOutBlock, UnetResBlock
from monai.networks.layers import Conv
from torch import nn

from .block_types import BLOCKS, BlockSpec
from .registry import Registry

ACT = ("relu", {"inplace": False})

#: block type name -> ``builder(spec, spatial_dims, dim, norm) -> nn.Module``.
BLOCK_BUILDERS: Registry = Registry("block builder")


def register_builder(name: str, builder: Optional[Callable] = None):
    """Registers the module builder of the block type ``name`` (declared first with
    :func:`nascore.block_types.register_block`); usable as a decorator.

    The builder is called as ``builder(spec, spatial_dims, dim, norm)`` and returns a module
    mapping ``(B, dim, *spatial) -> (B, dim, *spatial)``.

    Raises:
        ValueError: when ``name`` is not a declared block type or already has a builder.
    """
    if name not in BLOCKS:
        raise ValueError(f"register_builder: {name!r} is not a declared block type; declare it "
                         f"with nascore.block_types.register_block first (known: {BLOCKS.names()})")
    return BLOCK_BUILDERS.register(name, builder)


def create_block(spec: BlockSpec, spatial_dims: int, dim: int, norm: str = "batch") -> nn.Module:
    """The encoder block of ``spec`` at width ``dim``.

    Args:
        spec: the block (validated).
        spatial_dims: 2 or 3.
        dim: channels in and out.
        norm: MONAI norm name for conv layers.

    Returns:
        A module mapping ``(B, dim, *spatial) -> (B, dim, *spatial)``.

    Raises:
        ValueError: for an invalid spec, or a declared type without a registered builder.
    """
    spec.validate("block")
    if spec.type not in BLOCK_BUILDERS:
        raise ValueError(f"block.type: no module builder registered for block type {spec.type!r}; "
                         "register one with nascore.blocks.register_builder")
    return BLOCK_BUILDERS.get(spec.type)(spec, spatial_dims, dim, norm)


def conv_norm_act(spatial_dims: int, cin: int, cout: int, kernel: int = 3, stride: int = 1,
                  groups: int = 1, norm: str = "batch", act=ACT) -> nn.Module:
    """MONAI ``Convolution`` (conv → norm → act); ``act=None`` leaves out the activation."""
    return Convolution(spatial_dims, cin, cout, strides=stride, kernel_size=kernel, groups=groups,
                       norm=norm, act=act, bias=False)


class ConvBlock(UnetResBlock):
    """Residual conv block (MONAI ``UnetResBlock``): two k×k convs with norm and ReLU."""

    def __init__(self, spatial_dims: int, dim: int, kernel: int = 3, norm: str = "batch") -> None:
        super().__init__(spatial_dims, dim, dim, kernel_size=kernel, stride=1, norm_name=norm,
                         act_name=ACT)

    @classmethod
    def from_spec(cls, spec: BlockSpec, spatial_dims: int, dim: int, norm: str = "batch"):
        """The block of a ``conv`` spec (its ``kernel``)."""
        return cls(spatial_dims, dim, spec.kernel, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, *spatial) -> (B, C, *spatial)``."""
        return super().forward(x)


class MBConvBlock(nn.Module):
    """Inverted residual (MobileNetV2): 1×1 expand → k×k depthwise → 1×1 project, + identity."""

    def __init__(self, spatial_dims: int, dim: int, kernel: int = 3, expand: int = 4,
                 norm: str = "batch") -> None:
        super().__init__()
        hid = dim * expand
        self.expand = conv_norm_act(spatial_dims, dim, hid, 1, norm=norm)
        self.dw = conv_norm_act(spatial_dims, hid, hid, kernel, groups=hid, norm=norm)
        self.project = conv_norm_act(spatial_dims, hid, dim, 1, norm=norm, act=None)

    @classmethod
    def from_spec(cls, spec: BlockSpec, spatial_dims: int, dim: int, norm: str = "batch"):
        """The block of an ``mbconv`` spec (its ``kernel`` and ``expand``)."""
        return cls(spatial_dims, dim, spec.kernel, spec.expand, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, *spatial) -> (B, C, *spatial)``."""
        return x + self.project(self.dw(self.expand(x)))


class MHSA(nn.Module):
    """Multi-head self-attention on tokens ``(B, N, C)`` with explicit matmuls.

    Args:
        dim: token width ``C``; the head width is ``C // num_heads``.
        num_heads: number of heads (must divide ``dim``).
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"num_heads={num_heads} does not divide dim={dim}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.head_gate: Optional[torch.Tensor] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens ``(B, N, C) -> (B, N, C)``."""
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        attn = torch.matmul(q * self.scale, k.transpose(-2, -1)).softmax(dim=-1)
        out = torch.matmul(attn, v)  # (B, H, N, hd)
        if self.head_gate is not None:
            out = out * self.head_gate.reshape(1, -1, 1, 1)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class MLP(nn.Module):
    """Transformer MLP: Linear → GELU → Linear, with an optional hidden-unit gate."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.hidden_gate: Optional[torch.Tensor] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., C) -> (..., C)``."""
        h = self.act(self.fc1(x))
        if self.hidden_gate is not None:
            h = h * self.hidden_gate
        return self.fc2(h)


class AttnBlock(nn.Module):
    """Pre-norm Transformer block on a feature map, with a depthwise-conv PEG.

    ``x ← x + PEG(x)``; tokens ``t``; ``t ← t + MHSA(LN(t))``; ``t ← t + MLP(LN(t))``.

    Args:
        spatial_dims: 2 or 3.
        dim: channels.
        heads: attention heads.
        mlp_ratio: MLP hidden width relative to ``dim``.
        peg_kernel: kernel of the depthwise positional-encoding conv.
    """

    def __init__(self, spatial_dims: int, dim: int, heads: int, mlp_ratio: int,
                 peg_kernel: int = 3) -> None:
        super().__init__()
        self.peg = Conv[Conv.CONV, spatial_dims](dim, dim, peg_kernel, padding=peg_kernel // 2,
                                                  groups=dim)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MHSA(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, dim * mlp_ratio)
        self.layer_gate: Optional[torch.Tensor] = None

    @classmethod
    def from_spec(cls, spec: BlockSpec, spatial_dims: int, dim: int, norm: str = "batch"):
        """The block of an ``attn`` spec (``heads``, ``mlp_ratio``; ``kernel`` is the PEG
        kernel). ``norm`` is unused: the block has its own LayerNorms."""
        return cls(spatial_dims, dim, spec.heads, spec.mlp_ratio, peg_kernel=spec.kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, *spatial) -> (B, C, *spatial)``; attention over all ``prod(spatial)``
        positions."""
        y = x + self.peg(x)
        b, c = y.shape[:2]
        t = y.flatten(2).transpose(1, 2)
        t = t + self.attn(self.norm1(t))
        t = t + self.mlp(self.norm2(t))
        y = t.transpose(1, 2).reshape(y.shape)
        if self.layer_gate is not None:
            y = x + self.layer_gate * (y - x)
        return y


class UpBlock(nn.Module):
    """UNet decoder level: 2× transposed-conv upsampling, concat skip, residual conv block."""

    def __init__(self, spatial_dims: int, cin: int, cskip: int, cout: int, norm: str = "batch") -> None:
        super().__init__()
        self.up = Conv[Conv.CONVTRANS, spatial_dims](cin, cout, kernel_size=2, stride=2, bias=False)
        self.block = UnetResBlock(spatial_dims, cout + cskip, cout, kernel_size=3, stride=1,
                                  norm_name=norm, act_name=ACT)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """``x (B, cin, *S)``, ``skip (B, cskip, *2S) -> (B, cout, *2S)``."""
        return self.block(torch.cat([self.up(x), skip], dim=1))


register_builder("conv", ConvBlock.from_spec)
register_builder("mbconv", MBConvBlock.from_spec)
register_builder("attn", AttnBlock.from_spec)

__all__ = ["ConvBlock", "MBConvBlock", "MHSA", "MLP", "AttnBlock", "UpBlock", "UnetOutBlock",
           "conv_norm_act", "BLOCK_BUILDERS", "register_builder", "create_block"]
