"""A DARTS-style weight-sharing supernet over the NAS-Bench-201 cell (torch).

Follows DARTS (Liu, Simonyan & Yang, ICLR 2019) as run on NB201 by Dong & Yang (ICLR 2020,
``search_model_darts.py`` in their AutoDL-Projects): every cell edge is a
:class:`MixedOp`, the softmax-weighted sum of the 5 NB201 operations; one architecture
parameter matrix ``alpha`` of shape (6 edges, 5 ops) is shared by all cells; the network
skeleton is NB201's ``TinyNetwork`` (stem, 3 stages of ``N`` cells, 2 ResNet reductions, head).
The operations, reduction blocks and edge order are the ones of :mod:`nascore.bench._nb201_torch`
(only the glue is written here). As in the NB201 search code, the BatchNorms inside cell
operations use batch statistics only (no running averages), so weights shared between
sub-networks do not carry one sub-network's statistics to another.

* :func:`train_darts`: first-order bilevel training (DARTS-V1): per step, one Adam step of
  ``alpha`` on a batch of the *validation* half, then one SGD step of the weights on a batch
  of the *training* half; records the derived cell after every epoch.
* :func:`derive`: the discrete cell, argmax of ``alpha`` per edge over all 5 ops (``none``
  included, as NB201's DARTS genotype).
* :func:`inherited_accuracy`: accuracy (%) of one cell with the supernet's weights (one-hot
  ``alpha``), the "supernet-inherited" accuracy of one-shot NAS.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from ._nb201_torch import ResNetBasicblock, make_op
from .nb201 import EDGES, OPS, parse_arch_str, to_arch_str


def _batch_stats_only(module: nn.Module) -> nn.Module:
    """BatchNorms of ``module`` use batch statistics in train and eval (no running stats)."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.track_running_stats = False
            m.running_mean = None
            m.running_var = None
            m.num_batches_tracked = None
    return module


class MixedOp(nn.Module):
    """One edge: ``sum_k w_k * op_k(x)`` over the 5 NB201 ops (``c`` channels, stride 1).

    ``weights`` (5,) are the edge's softmax weights; ops with weight exactly 0 are skipped,
    so a one-hot vector runs only the chosen op (a discrete sub-network).
    """

    def __init__(self, c: int):
        super().__init__()
        self.ops = nn.ModuleList(_batch_stats_only(make_op(o, c)) for o in OPS)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        if weights.shape != (len(OPS),):
            raise ValueError(f"MixedOp weights must have shape ({len(OPS)},), got {tuple(weights.shape)}")
        out = None
        for w, op in zip(weights, self.ops):
            if not weights.requires_grad and float(w) == 0.0:
                continue
            y = w * op(x)
            out = y if out is None else out + y
        return out if out is not None else x.mul(0.0)


class SearchCell(nn.Module):
    """A 4-node NB201 cell whose 6 edges are :class:`MixedOp`; the output is node 3."""

    def __init__(self, c: int):
        super().__init__()
        self.edges = nn.ModuleList(MixedOp(c) for _ in EDGES)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``weights``: (6, 5), one row per edge in arch-string order."""
        nodes = [x, None, None, None]
        for e, ((dst, src), op) in enumerate(zip(EDGES, self.edges)):
            y = op(nodes[src], weights[e])
            nodes[dst] = y if nodes[dst] is None else nodes[dst] + y
        return nodes[3]


class NB201Supernet(nn.Module):
    """NB201's TinyNetwork with :class:`SearchCell` cells sharing one ``alpha`` (6, 5).

    Args:
        num_classes: classifier outputs. C: stem channels. N: cells per stage.
        alpha_init_std: ``alpha`` starts as ``alpha_init_std * randn`` (DARTS: 1e-3).

    ``forward(x)`` uses ``softmax(alpha)`` per edge; ``forward(x, weights)`` uses given (6, 5)
    weights (e.g. :func:`one_hot` of a cell).
    """

    def __init__(self, num_classes: int = 10, C: int = 16, N: int = 5, alpha_init_std: float = 1e-3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        cells, c_prev = [], C
        for stage, c in enumerate((C, 2 * C, 4 * C)):
            if stage > 0:
                cells.append(ResNetBasicblock(c_prev, c, 2))
            cells.extend(SearchCell(c) for _ in range(N))
            c_prev = c
        self.cells = nn.ModuleList(cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=False))
        self.classifier = nn.Linear(c_prev, num_classes)
        _batch_stats_only(self)
        self.alpha = nn.Parameter(alpha_init_std * torch.randn(len(EDGES), len(OPS)))

    def weight_parameters(self) -> List[nn.Parameter]:
        """Every parameter except ``alpha``."""
        return [p for n, p in self.named_parameters() if n != "alpha"]

    def forward(self, x: torch.Tensor, weights: Optional[torch.Tensor] = None) -> torch.Tensor:
        w = F.softmax(self.alpha, dim=-1) if weights is None else weights
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x, w) if isinstance(cell, SearchCell) else cell(x)
        x = self.lastact(x).mean(dim=(2, 3))
        return self.classifier(x)


def one_hot(arch: Any) -> torch.Tensor:
    """(6, 5) one-hot weights of a cell (arch string or 6 op names)."""
    ops = parse_arch_str(arch) if isinstance(arch, str) else tuple(arch)
    w = torch.zeros(len(EDGES), len(OPS))
    for e, o in enumerate(ops):
        w[e, OPS.index(o)] = 1.0
    return w


def derive(alpha) -> str:
    """The discrete cell of ``alpha`` (6, 5): argmax per edge over all 5 ops, as an arch string.

    Ties go to the lower op index (``none`` first), as ``argmax`` does.
    """
    a = np.asarray(alpha.detach().cpu() if isinstance(alpha, torch.Tensor) else alpha, dtype=float)
    if a.shape != (len(EDGES), len(OPS)):
        raise ValueError(f"alpha must have shape ({len(EDGES)}, {len(OPS)}), got {a.shape}")
    return to_arch_str(OPS[int(i)] for i in a.argmax(axis=1))


@torch.no_grad()
def inherited_accuracy(net: NB201Supernet, arch: Any, x: torch.Tensor, y: torch.Tensor,
                       batch_size: int = 250) -> float:
    """Top-1 accuracy (%) on ``(x, y)`` of the cell ``arch`` with the supernet's shared weights.

    Args:
        x: (B, 3, H, W) float images. y: (B,) int64 labels.
        batch_size: images per forward; BatchNorms use the statistics of each such batch (the
            supernet keeps no running statistics), as in NB201's one-shot evaluations.
    """
    w = one_hot(arch).to(x.device)
    net.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += int((net(x[i:i + batch_size], w).argmax(1) == y[i:i + batch_size]).sum())
    return 100.0 * correct / max(len(x), 1)


@dataclass
class DartsConfig:
    """Settings of :func:`train_darts` (defaults: NB201's DARTS-V1 hyper-parameters, except the
    size of the network and data, which the caller scales to its CPU budget).

    Attributes:
        C, N: supernet width and cells per stage. epochs: passes over the training half.
        batch_size: images per step (each step uses one training and one validation batch).
        w_lr, w_lr_min, w_momentum, w_wd, grad_clip: SGD on weights with cosine decay.
        a_lr, a_betas, a_wd: Adam on ``alpha``.
        augment: random crop (pad 4) + horizontal flip of training batches.
    """

    C: int = 16
    N: int = 5
    epochs: int = 50
    batch_size: int = 64
    w_lr: float = 0.025
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_wd: float = 3e-4
    grad_clip: float = 5.0
    a_lr: float = 3e-4
    a_betas: Sequence[float] = (0.5, 0.999)
    a_wd: float = 1e-3
    augment: bool = True


@dataclass
class DartsResult:
    """What :func:`train_darts` returns: ``net`` (the trained supernet), ``derived`` (the arch
    string after each epoch), ``alpha`` (softmax(alpha) after each epoch, (6, 5) lists),
    ``train_loss``/``val_loss`` (per-epoch means), ``cpu_s`` (process CPU seconds) and
    ``wall_s``."""

    net: NB201Supernet
    derived: List[str] = field(default_factory=list)
    alpha: List[list] = field(default_factory=list)
    train_loss: List[float] = field(default_factory=list)
    val_loss: List[float] = field(default_factory=list)
    cpu_s: float = 0.0
    wall_s: float = 0.0


def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n, _, h, w = x.shape
    pad = F.pad(x, (4, 4, 4, 4))
    i = torch.randint(0, 9, (n,), generator=g)
    j = torch.randint(0, 9, (n,), generator=g)
    out = torch.stack([pad[k, :, i[k]:i[k] + h, j[k]:j[k] + w] for k in range(n)])
    flip = torch.rand(n, generator=g) < 0.5
    out[flip] = out[flip].flip(-1)
    return out


def train_darts(x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor,
                y_val: torch.Tensor, cfg: DartsConfig = DartsConfig(), seed: int = 0,
                num_classes: int = 10, progress: bool = False) -> DartsResult:
    """First-order DARTS on NB201: weights on ``(x_train, y_train)``, ``alpha`` on ``(x_val, y_val)``.

    Args:
        x_train, x_val: (B, 3, H, W) float images (H, W divisible by 4). y_*: (B,) int64 labels.
        cfg: :class:`DartsConfig`.
        seed: seeds the supernet's initialisation, the batch order and the augmentation.

    Returns:
        :class:`DartsResult`.

    Raises:
        ValueError: when a split is smaller than ``cfg.batch_size``.
    """
    for name, x in (("training", x_train), ("validation", x_val)):
        if len(x) < cfg.batch_size:
            raise ValueError(f"DARTS {name} split has {len(x)} images, fewer than batch_size "
                             f"{cfg.batch_size}")
    t0, c0 = time.perf_counter(), time.process_time()
    g = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = NB201Supernet(num_classes, cfg.C, cfg.N)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=cfg.w_lr, momentum=cfg.w_momentum,
                            weight_decay=cfg.w_wd, nesterov=True)
    a_opt = torch.optim.Adam([net.alpha], lr=cfg.a_lr, betas=tuple(cfg.a_betas), weight_decay=cfg.a_wd)
    steps = len(x_train) // cfg.batch_size
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, T_max=max(cfg.epochs, 1),
                                                       eta_min=cfg.w_lr_min)
    res = DartsResult(net=net)
    for _ in range(cfg.epochs):
        net.train()
        pt = torch.randperm(len(x_train), generator=g)
        pv = torch.randperm(len(x_val), generator=g)
        tl, vl = [], []
        for s in range(steps):
            it = pt[s * cfg.batch_size:(s + 1) * cfg.batch_size]
            iv = pv[(s * cfg.batch_size) % (len(x_val) - cfg.batch_size + 1):][:cfg.batch_size]
            # architecture step (first order: the current weights, no unrolled step)
            a_opt.zero_grad()
            loss_a = F.cross_entropy(net(x_val[iv]), y_val[iv])
            loss_a.backward()
            a_opt.step()
            # weight step
            w_opt.zero_grad()
            xb = _augment(x_train[it], g) if cfg.augment else x_train[it]
            loss_w = F.cross_entropy(net(xb), y_train[it])
            loss_w.backward()
            nn.utils.clip_grad_norm_(net.weight_parameters(), cfg.grad_clip)
            w_opt.step()
            net.alpha.grad = None
            tl.append(loss_w.item())
            vl.append(loss_a.item())
        sched.step()
        res.train_loss.append(float(np.mean(tl)) if tl else math.nan)
        res.val_loss.append(float(np.mean(vl)) if vl else math.nan)
        res.derived.append(derive(net.alpha))
        res.alpha.append(F.softmax(net.alpha.detach(), -1).tolist())
        if progress:
            print(f"epoch {len(res.derived)}/{cfg.epochs}: train loss {res.train_loss[-1]:.3f}, "
                  f"val loss {res.val_loss[-1]:.3f}, derived {res.derived[-1]}", flush=True)
    res.cpu_s = time.process_time() - c0
    res.wall_s = time.perf_counter() - t0
    return res


def darts_data(n_train: Optional[int] = None, n_eval: Optional[int] = None, seed: int = 0,
               root=None) -> Dict[str, torch.Tensor]:
    """The real CIFAR-10 sample split for DARTS (see ``shared/data/SOURCES.md``).

    The 1,000 training images (100 per class) are split in two class-balanced halves
    (weights / ``alpha``), each cut to ``n_train // 2`` images; the 1,000 test images (the
    first ``n_eval``) score inherited accuracies.

    Returns:
        ``{"x_train", "y_train", "x_val", "y_val", "x_eval", "y_eval"}`` tensors.
    """
    from .images import load_arrays, normalise

    xi, yi = load_arrays("cifar10", "train", root)
    xe, ye = load_arrays("cifar10", "test", root)
    rng = np.random.default_rng(seed)
    a, b = [], []
    for c in np.unique(yi):
        idx = rng.permutation(np.flatnonzero(yi == c))
        a.extend(idx[: len(idx) // 2])
        b.extend(idx[len(idx) // 2:])
    a, b = rng.permutation(a), rng.permutation(b)
    if n_train is not None:
        a, b = a[: n_train // 2], b[: n_train // 2]
    n_eval = len(xe) if n_eval is None else int(n_eval)
    return {"x_train": normalise(xi[a], "cifar10"), "y_train": torch.from_numpy(yi[a].copy()),
            "x_val": normalise(xi[b], "cifar10"), "y_val": torch.from_numpy(yi[b].copy()),
            "x_eval": normalise(xe[:n_eval], "cifar10"), "y_eval": torch.from_numpy(ye[:n_eval].copy())}
