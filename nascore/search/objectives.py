"""Zero-shot proxy objectives for search (picklable, for process pools and Dask workers).

* :class:`ProxyObjective`: builds the network and runs :func:`nascore.proxies.score`, with an
  optional :class:`nascore.cache.ScoreCache`;
* :class:`HybridSegBuilder`: ``arch -> nn.Module`` for HybridSegSpace archs;
* :func:`resize_batch`.

Benchmark objectives live with their benchmark: NB201's table look-ups, costs and cell
builder are in :mod:`nascore.bench.nb201_objectives`.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional

from ..cache import ScoreCache


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
        build: ``arch -> nn.Module`` (e.g. :class:`HybridSegBuilder`,
            :class:`nascore.bench.nb201_objectives.NB201Builder`); must be picklable for
            process executors. An architecture without ``arch_id`` is cached under
            ``build.arch_key(arch)`` when the builder has one, else under ``str(arch)``.
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

    def arch_key(self, arch: Any) -> str:
        """The cache key: ``arch.arch_id``, else ``build.arch_key(arch)``, else ``str(arch)``."""
        key = getattr(arch, "arch_id", None)
        if key:
            return str(key)
        fn = getattr(self.build, "arch_key", None)
        return str(fn(arch)) if fn is not None else str(arch)

    def __call__(self, arch: Any) -> Dict[str, float]:
        from ..proxies import PROXIES, score

        key = self.arch_key(arch)
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
