"""Fixed segmentation baselines, trained on the same data, splits, epochs and resolution.

* ``hctnet_like``: an HCT-Net-like fixed hybrid, expressed in the search space: a residual
  conv UNet (two conv blocks at strides 2, 4 and 8; widths 32, 64, 128) with a 4-layer
  Transformer (8 heads, MLP ratio 4) at stride 16 (width 256), stem 16, decoder
  (128, 64, 32, 32). It is a :class:`~nascore.arch.HybridSegArch`, so its params/FLOPs are
  directly comparable with searched ones (the target is <= 50% of both).

  **Fidelity to HCT-Net** (Yu, Lee, Chen, "HCT-net: hybrid CNN-transformer model based on a
  neural architecture search network for medical image segmentation", Applied Intelligence
  2023, doi:10.1007/s10489-023-04570-z; official code github.com/yuzh2022/HCT-Net, read for
  ``hct_net/nas_model/hybridCnnTransformer.py``. Not the 2025 "HCT-Net ... multi-scale feature
  aggregation and progressive decode", a different paper with the same name.)

  Reproduced: a U-shaped CNN encoder-decoder with skip connections; Transformer layers on
  encoder features (global context next to local convolution); deep supervision of the
  Transformer path (one auxiliary head); channel widths in HCT-Net's range (its cells have
  16·2^i channels × 4 nodes = 64-512, stem 32/64).

  Not reproduced, and why:

  * **Searched cells and the nested fabric.** HCT-Net's CNN is itself found by a single-path,
    DARTS-like search in a SuperNet: 4-node cells of three types (normal_down, normal_normal,
    normal_up) with mixed operations, wired in a 7-layer UNet++-like nested fabric whose
    cross-scale paths are weighted by learned network weights. Here the CNN part is fixed
    residual conv blocks in a plain U-Net: the baseline must be a member of *this* project's
    space (:class:`~nascore.space.HybridSegSpace`) so one cost model counts it and the searched
    models, and a per-dataset genotype of HCT-Net is not published for LGG.
  * **Key-sampling (deformable) attention at three scales.** HCT-Net uses Deformable-DETR
    multi-scale deformable attention (6 encoder layers, 4 heads, 4 sampling points, FFN 4×d)
    on the features at strides 2, 4 and 8 (64, 128, 256 channels, sine position encodings),
    and adds each output into a decoder node. Here: 4 global MHSA blocks (with a convolutional
    position encoding) at stride 16 in the encoder sequence, the only attention block type of
    the space. Deformable attention is a compiled CUDA op in Deformable DETR (its pure-PyTorch
    fallback is slow) and global attention at strides 2-4 is quadratic in the tokens, too
    costly for CPU training; its FLOPs would also not be countable like the space's blocks.
  * **Three deep-supervision heads** (HCT-Net sums the loss of three 1×1 outputs of its
    nested decoder) vs one auxiliary head here.
  * **Training recipe and data** (CVC-ClinicDB, CHAOS-CT, ISIC-2018; their schedule): not
    reproduced; every baseline here uses the notebook's common recipe.

  So ``hctnet_like`` is a hand-designed hybrid *in the spirit of* HCT-Net (CNN U-Net + a
  Transformer + deep supervision), not a re-implementation; numbers against it are not
  numbers against the published HCT-Net.
* ``unet``: MONAI ``UNet`` 2D, channels (16, 32, 64, 128, 256), strides 2, 2 residual units,
  returning 16 channels, followed by a plain 1×1 ``Conv2d`` (with bias) to the logits
  (:class:`UNetWithHead`). Why: with ``num_res_units > 0`` MONAI's top decoder layer
  (``UNet._get_up_layer(..., is_top=True)``, MONAI 1.x) is a transposed ``Convolution`` with
  norm and activation (``conv_only=is_top and num_res_units == 0`` is False) followed by a
  ``ResidualUnit(out, out, last_conv_only=True)`` whose skip is the identity. With
  ``out_channels=1`` the logits are ``conv(h) + h`` where ``h = PReLU(InstanceNorm(z))`` is a
  **one-channel map normalised per image** (zero mean, unit variance): about half of every
  image starts with a positive logit, the ConvTranspose bias is cancelled by the norm, and no
  bias can shift the whole map to the ~99% background prior. Trained with DiceCE at lr 1e-3 at
  64 px it stayed there (tumour predicted on ~94% of the pixels after 30 steps on the synthetic
  phantoms; tumour Dice 0.03, as in the issue's LGG runs). With the 1×1 head the last layer is
  a plain conv with a free bias (same run: 0.9% of pixels predicted, tumour Dice 0.70). The
  learning rate, channels and strides were not the cause and are unchanged.
* ``swinunetr``: MONAI ``SwinUNETR`` 2D, ``feature_size=12``, window 7 (in MONAI 1.6 the
  constructor has no ``img_size``; the side must be divisible by 32).
* ``unetr``: MONAI ``UNETR`` 2D, patch 16, hidden 192, 6 heads, MLP 768, 12 layers.
* ``dynunet``: an nnU-Net-style MONAI ``DynUNet`` 2D (Isensee et al., "nnU-Net", Nat. Methods
  2021), with kernels, strides and widths as nnU-Net's 2D planner chooses them for the input
  side (:func:`nnunet_plan_2d`: 3×3 kernels; the first stage at stride 1, then stride-2
  poolings while the feature map stays at least 4 px, i.e. 5 at 128 px and 4 at 64 px; 32
  filters doubling per stage up to 512), instance norm and leaky ReLU (DynUNet's defaults, as
  nnU-Net), and deep supervision: in training it returns the full-resolution head and
  ``deep_supr_num = poolings - 2`` lower ones stacked on dim 1 (nnU-Net drops the lowest two
  resolutions' heads), which :class:`~nascore.seg.objective.SegObjective` weights by
  ``2^-k``; in eval mode only the full-resolution head. Not reproduced: nnU-Net's own
  training schedule (1,000 epochs of 250 steps, SGD with Nesterov, poly learning rate), its
  patch-based sampling and test-time mirroring; here it gets the notebook's common recipe and
  steps, like every other model.

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


class UNetWithHead(nn.Module):
    """MONAI ``UNet`` (2D, ``channels``, ``strides``, ``num_res_units``) returning
    ``channels[0]`` feature maps, then a plain 1×1 ``Conv2d`` with bias to ``out_ch`` logits
    (why: the module docstring). Maps ``(B, in_ch, S, S)`` to ``(B, out_ch, S, S)``."""

    def __init__(self, in_ch: int, out_ch: int, channels=(16, 32, 64, 128, 256),
                 strides=(2, 2, 2, 2), num_res_units: int = 2) -> None:
        super().__init__()
        from monai.networks.nets import UNet

        self.body = UNet(spatial_dims=2, in_channels=in_ch, out_channels=channels[0],
                         channels=tuple(channels), strides=tuple(strides),
                         num_res_units=num_res_units)
        self.head = nn.Conv2d(channels[0], out_ch, kernel_size=1, bias=True)

    def forward(self, x):
        return self.head(self.body(x))


@BASELINES.register("unet")
def _unet(in_ch: int, out_ch: int, img_size: int) -> Baseline:
    return Baseline("unet", UNetWithHead(in_ch, out_ch))


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


def nnunet_plan_2d(img_size: int, min_feature: int = 4, base_filters: int = 32,
                   max_filters: int = 512) -> dict:
    """nnU-Net's 2D network topology for a square input of side ``img_size`` (its planner's
    rules: pool by 2 while the map stays >= ``min_feature`` px; 3×3 kernels; ``base_filters``
    doubling per stage, capped at ``max_filters``).

    Returns:
        ``{"kernel_size", "strides", "filters", "deep_supr_num"}`` as MONAI ``DynUNet`` takes
        them; e.g. 128 px: strides ``[1, 2, 2, 2, 2, 2]``, filters ``[32, 64, 128, 256, 512,
        512]``, ``deep_supr_num`` 3.

    Raises:
        ValueError: a side that cannot be pooled twice (below ``4 * min_feature``).
    """
    strides, side = [1], int(img_size)
    while side % 2 == 0 and side // 2 >= min_feature:
        strides.append(2)
        side //= 2
    pools = len(strides) - 1
    if pools < 2:
        raise ValueError(f"img_size {img_size}: nnU-Net's plan needs at least 2 poolings "
                         f"(a side of at least {4 * min_feature} px)")
    filters = [min(base_filters * 2 ** i, max_filters) for i in range(len(strides))]
    return {"kernel_size": [3] * len(strides), "strides": strides, "filters": filters,
            "deep_supr_num": max(1, pools - 2)}


@BASELINES.register("dynunet")
def _dynunet(in_ch: int, out_ch: int, img_size: int) -> Baseline:
    from monai.networks.nets import DynUNet

    plan = nnunet_plan_2d(img_size)
    net = DynUNet(spatial_dims=2, in_channels=in_ch, out_channels=out_ch,
                  kernel_size=plan["kernel_size"], strides=plan["strides"],
                  upsample_kernel_size=plan["strides"][1:], filters=plan["filters"],
                  deep_supervision=True, deep_supr_num=plan["deep_supr_num"], res_block=False)
    return Baseline("dynunet", net)


def build_baseline(name: str, in_ch: int, out_ch: int, img_size: int) -> Baseline:
    """Builds the baseline ``name`` (one of ``BASELINES.names()``).

    Raises:
        KeyError: for an unknown name (from the registry).
    """
    return BASELINES.get(name)(in_ch, out_ch, img_size)
