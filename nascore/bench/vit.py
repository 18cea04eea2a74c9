"""AutoFormer-Ti style Vision Transformer for the Auto-Prox ground-truth subnets.

Follows AutoFormer's subnet (Chen et al., ICCV 2021, ``Vision_TransformerSuper`` with
``change_qkv``): conv patch embedding, a class token, learned absolute position embeddings,
``depth`` pre-norm blocks whose attention has its own head count with ``qkv`` width
``heads * 64`` (scale ``64 ** -0.5``, qkv bias) and whose MLP has its own ratio
(``int(embed_dim * ratio)`` hidden units, GELU), a final LayerNorm and a linear head on the
mean of the patch tokens (AutoFormer's ``--gp``; ``pool="cls"`` uses the class token). Not
reproduced: AutoFormer's relative position encoding and dropout / drop-path (irrelevant at
initialisation in eval mode).

Input resolution: CIFAR's native **32x32 with 4x4 patches -> 64 patch tokens + 1 class
token**. AutoFormer/ImageNet uses 224x224 with 16x16 patches (196 tokens); we keep CIFAR images
unresized so proxies see the real minibatch pixels and stay cheap on CPU. Every weight shape
except ``pos_embed`` is independent of this choice, so parameter counts differ from the
224-pixel net only by ``(196 - 64) * embed_dim``.

Attention is written with explicit matmuls (``q @ k^T``, ``attn @ v``) so that
``torch.utils.flop_counter.FlopCounterMode`` counts it. The DSS / TF-TAS proxy reads
``model.blocks[i].attn`` (:class:`Attention`: ``qkv``, ``proj``) and ``model.blocks[i].mlp``
(:class:`Mlp`: ``fc1``, ``fc2``).
"""

from __future__ import annotations

from typing import Mapping, Sequence, Union

import torch
from torch import nn

HEAD_DIM = 64


class Attention(nn.Module):
    """Multi-head self-attention with ``num_heads * head_dim`` qkv width (AutoFormer).

    Attributes:
        qkv: Linear(dim, 3 * num_heads * head_dim). proj: Linear(num_heads * head_dim, dim).
    """

    def __init__(self, dim: int, num_heads: int, head_dim: int = HEAD_DIM, qkv_bias: bool = True):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, head_dim
        self.scale = head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * num_heads * head_dim, bias=qkv_bias)
        self.proj = nn.Linear(num_heads * head_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (b, heads, n, head_dim)
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b, n, self.num_heads * self.head_dim)
        return self.proj(out)


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2 with ``hidden = int(dim * mlp_ratio)``."""

    def __init__(self, dim: int, mlp_ratio: float):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, head_dim: int = HEAD_DIM):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, head_dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class AutoFormerViT(nn.Module):
    """Patch embed + cls token + learned pos embed + blocks + LayerNorm + head. Returns logits."""

    def __init__(self, hidden_dim: int, depth: int, mlp_ratio: Sequence[float], num_heads: Sequence[int],
                 num_classes: int = 100, img_size: int = 32, patch_size: int = 4,
                 head_dim: int = HEAD_DIM, in_chans: int = 3, pool: str = "mean"):
        super().__init__()
        mlp_ratio, num_heads = list(mlp_ratio), list(num_heads)
        if len(mlp_ratio) != depth or len(num_heads) != depth:
            raise ValueError(f"need one mlp_ratio and num_heads per layer: depth={depth}, "
                             f"mlp_ratio={mlp_ratio}, num_heads={num_heads}")
        if img_size % patch_size:
            raise ValueError(f"img_size {img_size} is not divisible by patch_size {patch_size}")
        if pool not in ("mean", "cls"):
            raise ValueError(f"pool must be 'mean' or 'cls', got {pool!r}")
        self.hidden_dim, self.depth, self.pool = hidden_dim, depth, pool
        self.img_size, self.patch_size = img_size, patch_size
        self.num_patches = (img_size // patch_size) ** 2
        self.patch_embed = nn.Conv2d(in_chans, hidden_dim, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, hidden_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_patches + 1, hidden_dim))
        self.blocks = nn.ModuleList(Block(hidden_dim, h, r, head_dim) for h, r in zip(num_heads, mlp_ratio))
        self.norm = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.head = nn.Linear(hidden_dim, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """timm/AutoFormer init: trunc-normal(0.02) for Linear, tokens and pos embed; LN 1/0."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Token features after the final norm, shape (B, 1 + num_patches, hidden_dim)."""
        if x.shape[-2:] != (self.img_size, self.img_size):
            raise ValueError(f"AutoFormerViT expects {self.img_size}x{self.img_size} inputs, "
                             f"got {tuple(x.shape[-2:])}")
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.forward_features(x)
        return self.head(t[:, 1:].mean(dim=1) if self.pool == "mean" else t[:, 0])


def build_autoformer_vit(hidden_dim: int, depth: int, mlp_ratio: Union[float, Sequence[float]],
                         num_heads: Union[int, Sequence[int]], num_classes: int = 100,
                         img_size: int = 32, patch_size: int = 4, head_dim: int = HEAD_DIM,
                         pool: str = "mean") -> AutoFormerViT:
    """Builds an AutoFormer-Ti style subnet (see the module docstring for the design).

    Args:
        hidden_dim: embedding dim (192 / 216 / 240 in AutoFormer-Ti).
        depth: number of blocks (12-14).
        mlp_ratio: per-layer MLP ratios (or one value for all layers).
        num_heads: per-layer head counts (or one value); qkv width is ``heads * head_dim``.
    """
    if isinstance(mlp_ratio, (int, float)):
        mlp_ratio = [float(mlp_ratio)] * depth
    if isinstance(num_heads, int):
        num_heads = [num_heads] * depth
    return AutoFormerViT(hidden_dim, depth, mlp_ratio, num_heads, num_classes=num_classes,
                         img_size=img_size, patch_size=patch_size, head_dim=head_dim, pool=pool)


def vit_from_gt_row(row: Mapping, num_classes: int = 100, **kwargs) -> AutoFormerViT:
    """Builds the ViT for one row of :func:`nascore.bench.tables.load_autoformer_gt`."""
    return build_autoformer_vit(int(row["hidden_dim"]), int(row["depth"]), list(row["mlp_ratio"]),
                                [int(h) for h in row["num_heads"]], num_classes=num_classes, **kwargs)
