"""The single harness that runs every proxy: seeding, re-init, modes, copies, timing, failures.

:func:`score` never raises for a failing network: an exception, a :class:`ProxyFailure` or a
non-finite value becomes a :class:`~nascore.proxies.base.ProxyResult` with a named status
(:data:`~nascore.proxies.base.STATUSES`) and value NaN. A batch holding NaN/inf makes every
proxy that reads the data fail with ``"bad_input"``. Stochastic layers are deterministic inside
a proxy: dropout modules (and modules named ``DropPath``/``StochasticDepth``) are put in eval
mode and ``nn.MultiheadAttention``'s attention dropout is set to 0 for the call. It changes no
global flag (no default dtype, no cudnn settings): the global RNG is forked with
``torch.random.fork_rng`` and restored; the caller's per-module train/eval modes, its buffers
(e.g. BatchNorm running statistics), its parameters' ``.grad`` and any attention dropout rate
are restored; proxies that edit weights or need a re-initialisation run on a
``copy.deepcopy`` of the model. :func:`status_table` lists which proxies failed and why.
"""

from __future__ import annotations

import math
import time
from typing import Any, Dict, Iterable, Mapping, Optional

import torch
from torch import nn

from ._utils import copy_model, init_weights
from .base import PROXIES, Batch, ProxyContext, ProxyFailure, ProxyResult, ProxySpec
from .losses import OUTPUT_NOTES

_DROPOUT = (nn.modules.dropout._DropoutNd,)
_STOCHASTIC_NAMES = ("droppath", "drop_path", "stochasticdepth")


def _rng_devices(x: torch.Tensor):
    return [x.device.index or 0] if x.is_cuda else []


def _split_output(out: Any):
    if isinstance(out, Mapping):
        if "value" not in out:
            raise KeyError("a proxy returning a dict must include 'value'")
        extra = {k: float(v) for k, v in out.items() if k != "value"}
        return float(out["value"]), extra
    return float(out), {}


def _check_options(options: Optional[Mapping[str, Any]]) -> None:
    unknown = set(options or {}) - PROXIES.option_names()
    if unknown:
        raise ValueError(f"unknown proxy option(s) {sorted(unknown)}; declared options: "
                         f"{sorted(PROXIES.option_names())}")


def _deterministic(net: nn.Module):
    """Stochastic layers off (see the module docstring); returns what to restore."""
    restore = []
    for m in net.modules():
        if isinstance(m, _DROPOUT) or any(k in type(m).__name__.lower() for k in _STOCHASTIC_NAMES):
            m.eval()
        if isinstance(m, nn.MultiheadAttention) and m.dropout:
            restore.append((m, m.dropout))
            m.dropout = 0.0
    return restore


def _check_batch(spec: ProxySpec, batch: Batch) -> None:
    """Raises ``ProxyFailure("bad_input")`` for a batch no proxy should score: empty, not
    floating point, or with NaN/inf inputs (any proxy that reads the data) or targets (proxies
    that read the targets)."""
    x, y = batch[0], batch[1]
    if x.dim() == 0 or x.shape[0] == 0:
        raise ProxyFailure("bad_input", f"the input batch is empty (shape {tuple(x.shape)})")
    if not spec.needs_data:
        return
    if not x.is_floating_point():
        raise ProxyFailure("bad_input", f"the inputs are {x.dtype}, not floating point: convert "
                                        "and scale them first")
    if not bool(torch.isfinite(x).all()):
        raise ProxyFailure("bad_input", f"the input batch holds {int((~torch.isfinite(x)).sum())} "
                                        "non-finite values")
    if spec.needs_targets and torch.is_tensor(y) and y.is_floating_point() \
            and not bool(torch.isfinite(y).all()):
        raise ProxyFailure("bad_input", f"the targets hold {int((~torch.isfinite(y)).sum())} "
                                        "non-finite values")


def _validate_batch(batch: Any) -> None:
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2 and torch.is_tensor(batch[0])):
        raise TypeError("batch must be a pair (inputs tensor (B, C, *spatial), targets), got "
                        f"{type(batch).__name__}" + (f" of length {len(batch)}"
                                                     if isinstance(batch, (tuple, list)) else ""))


def _run(spec: ProxySpec, model: nn.Module, batch: Batch, seed: int,
         options: Optional[Mapping[str, Any]], shared: Dict) -> ProxyResult:
    x = batch[0]
    modes = [(m, m.training) for m in model.modules()]
    grads = [(p, p.grad) for p in model.parameters()]
    t0 = time.perf_counter()
    value, extra, status, err = float("nan"), {}, "ok", ""
    opts = {**spec.options, **{k: v for k, v in (options or {}).items() if k in spec.options}}
    ctx = None
    dropouts = []
    with torch.random.fork_rng(devices=_rng_devices(x)):
        torch.manual_seed(seed)
        gen = torch.Generator(device=x.device)
        gen.manual_seed(seed)
        net = model
        buffers = None
        notes: Dict[str, str] = {}
        note_token = OUTPUT_NOTES.set(notes)
        try:
            with torch.no_grad():
                buffers = [(b, b.detach().clone()) for b in model.buffers()]
            _check_batch(spec, batch)
            if spec.changes_weights or spec.init is not None:
                net = copy_model(model)
                if spec.init is not None:
                    init_weights(net, spec.init)
            net.train(spec.mode == "train")
            dropouts = _deterministic(net)
            ctx = ProxyContext(seed=seed, generator=gen, options=opts,
                               shared=shared if net is model else {})
            value, extra = _split_output(spec.fn(net, batch, ctx))
            if not math.isfinite(value):
                status, err = "nan", f"non-finite value {value}"
                value = float("nan")
        except ProxyFailure as e:
            status, err, value, extra = e.status, e.message, float("nan"), e.extra
        except Exception as e:  # noqa: BLE001 - recorded, never raised
            status, err, value = "error", f"{type(e).__name__}: {e}", float("nan")
        finally:
            OUTPUT_NOTES.reset(note_token)
            if ctx is not None and notes:
                ctx.discovery.update(notes)  # which head of several was scored
            for m, p in dropouts:
                m.dropout = p
            with torch.no_grad():
                for b, v in buffers or []:
                    b.copy_(v)
            for m, t in modes:
                m.training = t
            for p, g in grads:
                p.grad = g
    return ProxyResult(spec.name, value, time.perf_counter() - t0, status, err, extra,
                       spec.higher_is_better, ctx.layers_method if ctx is not None else "")


def score(name: str, model: nn.Module, batch: Batch, *, seed: int = 0,
          options: Optional[Mapping[str, Any]] = None) -> ProxyResult:
    """Scores ``model`` with the proxy ``name``.

    Args:
        name: a name in :data:`nascore.proxies.PROXIES`.
        model: the network (left unchanged: modes, buffers, weights and grads are restored).
        batch: ``(inputs, targets)``; targets are class labels ``(B,)`` or masks ``(B,*S)`` /
            ``(B,1,*S)`` (see :mod:`nascore.proxies.losses`).
        seed: seeds the re-initialisation, the noise inputs and every random draw of the proxy.
        options: proxy settings declared at registration (:attr:`ProxySpec.options`); keys
            another registered proxy declares are ignored by this one.

    Returns:
        A :class:`ProxyResult`; failures are recorded in ``status``/``error``, never raised.

    Raises:
        KeyError: for an unknown proxy name (a caller bug, not a network failure).
        ValueError: for an option key that no registered proxy declares.
        TypeError: when ``batch`` is not an ``(inputs, targets)`` pair.
    """
    spec = PROXIES.get(name)
    _validate_batch(batch)
    _check_options(options)
    return _run(spec, model, batch, seed, options, {})


def score_many(names: Iterable[str], model: nn.Module, batch: Batch, seed: int = 0,
               options: Optional[Mapping[str, Any]] = None,
               report: bool = False) -> Dict[str, ProxyResult]:
    """Scores ``model`` with several proxies, sharing work where the model is not copied.

    Proxies that run on the caller's model (no copy, no re-init) share a cache, so ``snip``,
    ``grad_norm`` and ``grasp`` reuse one loss backward; the shared cost is timed in the first.
    ``report=True`` prints :func:`status_table` of the results.

    Raises:
        KeyError: for an unknown proxy name. ValueError: for an undeclared option key.
    """
    specs = [PROXIES.get(n) for n in names]
    _validate_batch(batch)
    _check_options(options)
    shared: Dict = {}
    out = {}
    for mode in ("train", "eval"):  # a shared cache is valid for one mode only
        shared = {}
        for s in specs:
            if s.mode == mode:
                out[s.name] = _run(s, model, batch, seed, options, shared)
    res = {s.name: out[s.name] for s in specs}
    if report:
        print(status_table(res).to_string(index=False))
    return res


def status_table(results: Mapping[str, ProxyResult]):
    """One row per proxy: ``proxy``, ``status``, ``value``, ``reason``, ``layers``, ``time_s``,
    so a user sees at once which proxies failed on a network and why.

    Returns:
        a ``pandas.DataFrame`` in the order of ``results``.
    """
    import pandas as pd

    return pd.DataFrame([{"proxy": n, "status": r.status, "value": r.value, "reason": r.error,
                          "layers": r.layers, "time_s": round(r.time_s, 3)}
                         for n, r in results.items()],
                        columns=["proxy", "status", "value", "reason", "layers", "time_s"])
