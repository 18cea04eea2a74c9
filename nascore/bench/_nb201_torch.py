"""Torch modules of the NB201 ``TinyNetwork`` (see :mod:`nascore.bench.nb201`, which owns the
cell encoding and passes its ``EDGES`` in, so that this module does not import it back)."""

from __future__ import annotations

import torch
from torch import nn


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv (no bias) -> BN, NB201's ``nor_conv_*`` op."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int = 1):
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False),
                         nn.BatchNorm2d(c_out))


class Zero(nn.Module):
    """The ``none`` op: zeros shaped like the input (kept in the graph as ``x * 0``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(name: str, c: int) -> nn.Module:
    """One cell op with ``c`` channels in and out, stride 1."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(c, c, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(c, c, 3)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB201 op {name!r}")


class InferCell(nn.Module):
    """A 4-node NB201 cell; node j sums its incoming edges ``(dst, src)``, the output is node 3."""

    def __init__(self, ops, c: int, edges):
        super().__init__()
        self.ops, self.wiring = tuple(ops), tuple(edges)
        self.edges = nn.ModuleList(make_op(o, c) for o in self.ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x, None, None, None]
        for (dst, src), op in zip(self.wiring, self.edges):
            y = op(nodes[src])
            nodes[dst] = y if nodes[dst] is None else nodes[dst] + y
        return nodes[3]


class ResNetBasicblock(nn.Module):
    """NB201's reduction block: two ReLU-Conv-BN 3x3 (stride 2 first) + avgpool/1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int = 2):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, stride=2),
                                        nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class TinyNetwork(nn.Module):
    """NB201 macro skeleton: stem, 3 stages of ``N`` cells with 2 reductions, head."""

    def __init__(self, ops, edges, num_classes: int = 10, C: int = 16, N: int = 5):
        super().__init__()
        self.ops, self.wiring = tuple(ops), tuple(edges)
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        cells, c_prev = [], C
        for stage, c in enumerate((C, 2 * C, 4 * C)):
            if stage > 0:
                cells.append(ResNetBasicblock(c_prev, c, 2))
            cells.extend(InferCell(self.ops, c, self.wiring) for _ in range(N))
            c_prev = c
        self.cells = nn.ModuleList(cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features before the classifier, shape (B, 4C)."""
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        return self.global_pooling(self.lastact(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))
