"""The single harness that runs every proxy: seeding, re-init, modes, copies, timing, failures.

:func:`score` never raises for a failing network: an exception or a non-finite value becomes a
:class:`~nascore.proxies.base.ProxyResult` with status ``"error"`` or ``"nan"``. It changes no
global flag (no default dtype, no cudnn settings): the global RNG is forked with
``torch.random.fork_rng`` and restored; the caller's per-module train/eval modes, its buffers
(e.g. BatchNorm running statistics) and its parameters' ``.grad`` are restored; proxies that
edit weights or need a re-initialisation run on a ``copy.deepcopy`` of the model.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any, Dict, Iterable, Mapping, Optional

import torch
from torch import nn

from ._utils import init_weights
from .base import PROXIES, Batch, ProxyContext, ProxyResult, ProxySpec


def _rng_devices(x: torch.Tensor):
    return [x.device.index or 0] if x.is_cuda else []


def _split_output(out: Any):
    if isinstance(out, Mapping):
        if "value" not in out:
            raise KeyError("a proxy returning a dict must include 'value'")
        extra = {k: float(v) for k, v in out.items() if k != "value"}
        return float(out["value"]), extra
    return float(out), {}


def _run(spec: ProxySpec, model: nn.Module, batch: Batch, seed: int,
         options: Optional[Mapping[str, Any]], shared: Dict) -> ProxyResult:
    x = batch[0]
    modes = [(m, m.training) for m in model.modules()]
    grads = [(p, p.grad) for p in model.parameters()]
    t0 = time.perf_counter()
    value, extra, status, err = float("nan"), {}, "ok", ""
    with torch.random.fork_rng(devices=_rng_devices(x)):
        torch.manual_seed(seed)
        gen = torch.Generator(device=x.device)
        gen.manual_seed(seed)
        net = model
        buffers = None
        try:
            with torch.no_grad():
                buffers = [(b, b.detach().clone()) for b in model.buffers()]
            if spec.changes_weights or spec.init is not None:
                net = copy.deepcopy(model)
                if spec.init is not None:
                    init_weights(net, spec.init)
            net.train(spec.mode == "train")
            ctx = ProxyContext(seed=seed, generator=gen, options=dict(options or {}),
                               shared=shared if net is model else {})
            value, extra = _split_output(spec.fn(net, batch, ctx))
            if not math.isfinite(value):
                status, err = "nan", f"non-finite value {value}"
        except Exception as e:  # noqa: BLE001 - recorded, never raised
            status, err, value = "error", f"{type(e).__name__}: {e}", float("nan")
        finally:
            with torch.no_grad():
                for b, v in buffers or []:
                    b.copy_(v)
            for m, t in modes:
                m.training = t
            for p, g in grads:
                p.grad = g
    return ProxyResult(spec.name, value, time.perf_counter() - t0, status, err, extra,
                       spec.higher_is_better)


def score(name: str, model: nn.Module, batch: Batch, *, seed: int = 0,
          options: Optional[Mapping[str, Any]] = None) -> ProxyResult:
    """Scores ``model`` with the proxy ``name``.

    Args:
        name: a name in :data:`nascore.proxies.PROXIES`.
        model: the network (left unchanged: modes, buffers, weights and grads are restored).
        batch: ``(inputs, targets)``; targets are class labels ``(B,)`` or masks ``(B,*S)`` /
            ``(B,1,*S)`` (see :mod:`nascore.proxies.losses`).
        seed: seeds the re-initialisation, the noise inputs and every random draw of the proxy.
        options: proxy-specific settings (documented in each proxy).

    Returns:
        A :class:`ProxyResult`; failures are recorded in ``status``/``error``, never raised.

    Raises:
        KeyError: for an unknown proxy name (a caller bug, not a network failure).
    """
    return _run(PROXIES.get(name), model, batch, seed, options, {})


def score_many(names: Iterable[str], model: nn.Module, batch: Batch, seed: int = 0,
               options: Optional[Mapping[str, Any]] = None) -> Dict[str, ProxyResult]:
    """Scores ``model`` with several proxies, sharing work where the model is not copied.

    Proxies that run on the caller's model (no copy, no re-init) share a cache, so ``snip``,
    ``grad_norm`` and ``grasp`` reuse one loss backward; the shared cost is timed in the first.
    """
    specs = [PROXIES.get(n) for n in names]
    shared: Dict = {}
    out = {}
    for mode in ("train", "eval"):  # a shared cache is valid for one mode only
        shared = {}
        for s in specs:
            if s.mode == mode:
                out[s.name] = _run(s, model, batch, seed, options, shared)
    return {s.name: out[s.name] for s in specs}
