"""Fixed segmentation baselines, trained on the same data, splits, epochs and resolution.

* ``hctnet_like``: an HCT-Net-like fixed hybrid, expressed in the search space: a residual
  conv UNet (two conv blocks at strides 2, 4 and 8; widths 32, 64, 128) with a 4-layer
  Transformer (8 heads, MLP ratio 4) at stride 16 (width 256), stem 16, decoder
  (128, 64, 32, 32). It is a :class:`~nascore.arch.HybridSegArch`, so its params/FLOPs are
  directly comparable with searched ones (the target is <= 50% of both).
* ``unet``: MONAI ``UNet`` 2D, channels (16, 32, 64, 128, 256), strides 2, 2 residual units.
* ``swinunetr``: MONAI ``SwinUNETR`` 2D, ``feature_size=12``, window 7 (in MONAI 1.6 the
  constructor has no ``img_size``; the side must be divisible by 32).
* ``unetr``: MONAI ``UNETR`` 2D, patch 16, hidden 192, 6 heads, MLP 768, 12 layers.

Every model maps ``(B, in_ch, S, S)`` to ``out_ch`` logits (1 channel + sigmoid here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from torch import nn

from nascore.arch import BlockSpec, HybridSegArch, StageSpec
from nascore.build import build_model
from nascore.registry import Registry


@dataclass
class Baseline:
    """A built baseline: its name, module and (for hybrids) architecture."""

    name: str
    model: nn.Module
    arch: Optional[HybridSegArch] = None


BASELINES: Registry = Registry("baseline")


def hctnet_like_arch(img_size: int = 128, widths=(32, 64, 128, 256), conv_depth: int = 2,
                     layers: int = 4, heads: int = 8, mlp_ratio: int = 4, stem: int = 16,
                     decoder=(128, 64, 32, 32)) -> HybridSegArch:
    """The HCT-Net-like hand design as a :class:`HybridSegArch` (see the module docstring)."""
    c3 = BlockSpec("conv", 3)
    a = BlockSpec("attn", heads=heads, mlp_ratio=mlp_ratio)
    stages = tuple(StageSpec(w, (c3,) * conv_depth) for w in widths[:3])
    stages += (StageSpec(widths[3], (a,) * layers),)
    return HybridSegArch(resolution=img_size, stem_width=stem, stages=stages,
                         decoder_widths=tuple(decoder))


@BASELINES.register("hctnet_like")
def _hctnet_like(in_ch: int, out_ch: int, img_size: int) -> Baseline:
    arch = hctnet_like_arch(img_size)
    return Baseline("hctnet_like", build_model(arch, in_ch, out_ch), arch)


@BASELINES.register("unet")
def _unet(in_ch: int, out_ch: int, img_size: int) -> Baseline:
    from monai.networks.nets import UNet

    return Baseline("unet", UNet(spatial_dims=2, in_channels=in_ch, out_channels=out_ch,
                                 channels=(16, 32, 64, 128, 256), strides=(2, 2, 2, 2),
                                 num_res_units=2))


@BASELINES.register("swinunetr")
def _swinunetr(in_ch: int, out_ch: int, img_size: int) -> Baseline:
    from monai.networks.nets import SwinUNETR

    if img_size % 32:
        raise ValueError(f"img_size: SwinUNETR needs a multiple of 32, got {img_size}")
    return Baseline("swinunetr", SwinUNETR(in_channels=in_ch, out_channels=out_ch, feature_size=12,
                                           spatial_dims=2, window_size=7))


@BASELINES.register("unetr")
def _unetr(in_ch: int, out_ch: int, img_size: int) -> Baseline:
    from monai.networks.nets import UNETR

    if img_size % 16:
        raise ValueError(f"img_size: UNETR needs a multiple of 16, got {img_size}")
    return Baseline("unetr", UNETR(in_channels=in_ch, out_channels=out_ch, img_size=(img_size,) * 2,
                                   feature_size=16, hidden_size=192, mlp_dim=768, num_heads=6,
                                   spatial_dims=2))


def build_baseline(name: str, in_ch: int, out_ch: int, img_size: int) -> Baseline:
    """Builds the baseline ``name`` (one of ``BASELINES.names()``).

    Raises:
        KeyError: for an unknown name (from the registry).
    """
    return BASELINES.get(name)(in_ch, out_ch, img_size)
