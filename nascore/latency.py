"""Per-block lookup-table latency predictor for :class:`~nascore.space.HybridSegSpace`.

A :class:`HybridSegNet` is a chain of pieces whose cost depends only on a few settings:

* ``stem|R|in|w``: the stem conv at resolution ``R``;
* ``down|R|cin|cout``: a stage's strided conv, input at resolution ``R``;
* ``block|R|w|spec``: an encoder block (``BlockSpec.short()``) at resolution ``R`` and width ``w``;
* ``up|R|cin|skip|w``: a decoder level, input at resolution ``R`` (output ``2R``);
* ``head|R|cin|out``: the 1x1 output conv.

:meth:`LatencyLUT.build` measures every piece the space can produce once (on this machine,
with the current torch thread count, batch 1 by default); :meth:`LatencyLUT.predict` sums an
architecture's pieces. :func:`validate` compares predictions with measured whole-model
latency (Spearman and mean absolute percentage error). With ``metric="flops"`` the table holds
FLOPs instead, which sum exactly to the whole model's (a check that the decomposition is
complete). The auxiliary head is not part of the inference forward and is left out, except
with ``metric="params"``: that table holds each piece's parameter count, plus the auxiliary
head (``aux|R|cin|out``) when the arch has one, and sums exactly to
:func:`nascore.cost.count_params` of :func:`nascore.build.build_model` (so a search can check a
parameter budget without building the network).

Example:
    >>> lut = LatencyLUT.build(small_space, repeats=5)                 # doctest: +SKIP
    >>> lut.predict(arch)                                               # doctest: +SKIP
    3.2
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .arch import NUM_STAGES, STAGE_STRIDES, HybridSegArch
from .blocks import UnetOutBlock, UpBlock, conv_norm_act
from .build import build_block, build_model
from .cost import count_flops, count_params, measure_latency
from .progress import tqdm
from .provenance import atomic_write_text

Piece = Tuple[str, Tuple]  # (key, spec)


# ----------------------------------------------------------------------------- pieces
def _stem(R, cin, w):
    return f"stem|{R}|{cin}|{w}", ("stem", R, cin, w)


def _down(R, cin, cout):
    return f"down|{R}|{cin}|{cout}", ("down", R, cin, cout)


def _block(R, w, spec):
    return f"block|{R}|{w}|{spec.short()}", ("block", R, w, spec)


def _up(R, cin, skip, w):
    return f"up|{R}|{cin}|{skip}|{w}", ("up", R, cin, skip, w)


def _head(R, cin, out):
    return f"head|{R}|{cin}|{out}", ("head", R, cin, out)


def _aux(R, cin, out):
    return f"aux|{R}|{cin}|{out}", ("head", R, cin, out)


def arch_pieces(arch: HybridSegArch, in_channels: int = 1, out_channels: int = 2) -> List[Piece]:
    """The pieces of ``arch``'s inference forward, in execution order."""
    R = arch.resolution
    out = [_stem(R, in_channels, arch.stem_width)]
    cin, r = arch.stem_width, R
    for st, stride in zip(arch.stages, STAGE_STRIDES):
        out.append(_down(r, cin, st.width))
        r = R // stride
        out += [_block(r, st.width, b) for b in st.blocks]
        cin = st.width
    skips = [st.width for st in arch.stages[:-1]][::-1] + [arch.stem_width]
    for skip, w in zip(skips, arch.decoder_widths):
        out.append(_up(r, cin, skip, w))
        cin, r = w, r * 2
    out.append(_head(R, cin, out_channels))
    return out


def param_pieces(arch: HybridSegArch, in_channels: int = 1, out_channels: int = 2) -> List[Piece]:
    """:func:`arch_pieces` plus the auxiliary head (when ``arch.aux_head``): every module with
    parameters of :func:`nascore.build.build_model`."""
    out = arch_pieces(arch, in_channels, out_channels)
    if arch.aux_head:
        out.append(_aux(arch.resolution // STAGE_STRIDES[-1], arch.stages[-1].width, out_channels))
    return out


def space_pieces(space: Any, in_channels: int = 1, out_channels: int = 2,
                 aux: bool = False) -> Dict[str, Tuple]:
    """Every piece any architecture of ``space`` (a HybridSegSpace) can contain; with ``aux``
    also the auxiliary heads (the pieces of :func:`param_pieces`)."""
    out: Dict[str, Tuple] = {}

    def add(p):
        out.setdefault(p[0], p[1])

    for R in space.resolutions:
        for s in space.stem_widths:
            add(_stem(R, in_channels, s))
        prev = list(space.stem_widths)
        r = R
        for i in range(NUM_STAGES):
            for cin in prev:
                for w in space.widths[i]:
                    add(_down(r, cin, w))
            r = R // STAGE_STRIDES[i]
            for w in space.widths[i]:
                for b in space.block_choices(i):
                    add(_block(r, w, b))
            prev = list(space.widths[i])
        for dw in space.decoder_widths:
            skips_opts = [space.widths[2], space.widths[1], space.widths[0], space.stem_widths]
            rr = R // STAGE_STRIDES[-1]
            for j, (skips, w) in enumerate(zip(skips_opts, dw)):
                cins = space.widths[3] if j == 0 else (dw[j - 1],)
                for cin in cins:
                    for skip in skips:
                        add(_up(rr, cin, skip, w))
                rr *= 2
            add(_head(R, dw[-1], out_channels))
        if aux and space.aux_head:
            for w in space.widths[-1]:
                add(_aux(R // STAGE_STRIDES[-1], w, out_channels))
    return out


def _module(spec: Tuple, spatial_dims: int) -> Tuple[nn.Module, Tuple[torch.Tensor, ...]]:
    """Builds a piece and zero inputs for it (batch 1)."""
    kind, R = spec[0], spec[1]
    shape = lambda c, r: (1, c) + (r,) * spatial_dims  # noqa: E731
    if kind == "stem":
        _, _, cin, w = spec
        return conv_norm_act(spatial_dims, cin, w, 3), (torch.zeros(shape(cin, R)),)
    if kind == "down":
        _, _, cin, cout = spec
        return conv_norm_act(spatial_dims, cin, cout, 3, stride=2), (torch.zeros(shape(cin, R)),)
    if kind == "block":
        _, _, w, b = spec
        return build_block(b, spatial_dims, w), (torch.zeros(shape(w, R)),)
    if kind == "up":
        _, _, cin, skip, w = spec
        return UpBlock(spatial_dims, cin, skip, w), (torch.zeros(shape(cin, R)),
                                                     torch.zeros(shape(skip, 2 * R)))
    if kind == "head":
        _, _, cin, out = spec
        return UnetOutBlock(spatial_dims, cin, out), (torch.zeros(shape(cin, R)),)
    raise ValueError(f"unknown piece kind {kind!r}")


class _Multi(nn.Module):
    """Adapter so that count_flops (one input) can run a piece with several inputs."""

    def __init__(self, m: nn.Module, extra: Tuple[torch.Tensor, ...]):
        super().__init__()
        self.m, self.extra = m, extra

    def forward(self, x):
        return self.m(x, *self.extra)


def _time_ms(m: nn.Module, inputs: Sequence[torch.Tensor], repeats: int, warmup: int) -> float:
    m.eval()
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            t0 = time.perf_counter()
            m(*inputs)
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def measure_piece(spec: Tuple, spatial_dims: int = 2, metric: str = "latency", repeats: int = 10,
                  warmup: int = 2) -> float:
    """Median latency (ms), FLOPs or parameter count of one piece (``metric`` ``"latency"``,
    ``"flops"``, ``"params"``). FLOPs and params can be counted on the ``meta`` device."""
    m, inputs = _module(spec, spatial_dims)
    if metric == "params":
        return float(count_params(m))
    if metric == "flops":
        mm = _Multi(m, tuple(inputs[1:])) if len(inputs) > 1 else m
        return float(count_flops(mm, tuple(inputs[0].shape)))
    if metric != "latency":
        raise ValueError(f"metric must be 'latency', 'flops' or 'params', got {metric!r}")
    return _time_ms(m, inputs, repeats, warmup)


# ----------------------------------------------------------------------------- the table
class LatencyLUT:
    """Additive per-piece latency (or FLOPs) table.

    Attributes:
        entries: piece key -> value (ms, or FLOPs).
        meta: how it was built (metric, channels, spatial dims, repeats, threads, machine).
    """

    def __init__(self, entries: Dict[str, float], meta: Dict[str, Any]) -> None:
        self.entries, self.meta = dict(entries), dict(meta)

    @classmethod
    def build(cls, space: Any, in_channels: int = 1, out_channels: int = 2, spatial_dims: int = 2,
              metric: str = "latency", repeats: int = 10, warmup: int = 2,
              archs: Optional[Iterable[HybridSegArch]] = None, progress: bool = False
              ) -> "LatencyLUT":
        """Measures every piece of ``space`` (or only those of ``archs``).

        Args:
            space: a HybridSegSpace.
            metric: ``"latency"`` (ms, median of ``repeats`` after ``warmup``), ``"flops"`` or
                ``"params"``.
            archs: restrict the table to these architectures' pieces (for large spaces).
        """
        if archs is None:
            specs = space_pieces(space, in_channels, out_channels, aux=metric == "params")
        else:
            specs = {}
            fn = param_pieces if metric == "params" else arch_pieces
            for a in archs:
                specs.update(dict(fn(a, in_channels, out_channels)))
        meta = {"metric": metric, "in_channels": in_channels, "out_channels": out_channels,
                "spatial_dims": spatial_dims, "repeats": repeats, "warmup": warmup,
                "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                "cpu": os.uname().machine if hasattr(os, "uname") else "", "batch": 1}
        lut = cls({}, meta)
        items = sorted(specs.items())
        if progress:
            items = tqdm(items, desc="latency LUT")
        for key, spec in items:
            lut.entries[key] = measure_piece(spec, spatial_dims, metric, repeats, warmup)
        return lut

    def pieces(self, arch: HybridSegArch) -> List[Piece]:
        """``arch``'s pieces this table sums (:func:`param_pieces` for ``metric="params"``,
        else :func:`arch_pieces`)."""
        fn = param_pieces if self.meta.get("metric") == "params" else arch_pieces
        return fn(arch, self.meta["in_channels"], self.meta["out_channels"])

    def predict(self, arch: HybridSegArch) -> float:
        """Sum of ``arch``'s pieces.

        Raises:
            KeyError: naming the first piece missing from the table.
        """
        total = 0.0
        for key, _ in self.pieces(arch):
            if key not in self.entries:
                raise KeyError(f"latency LUT has no entry {key!r}; build it for this space")
            total += self.entries[key]
        return total

    def cost_fn(self, key: str = "latency") -> Callable[[HybridSegArch], Dict[str, float]]:
        """A search cost function ``arch -> {key: predicted}``."""
        return _LUTCost(self, key)

    def save(self, path: os.PathLike) -> Path:
        """Writes the table as JSON (atomically)."""
        return atomic_write_text(path, json.dumps({"meta": self.meta, "entries": self.entries},
                                                  indent=1, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: os.PathLike) -> "LatencyLUT":
        """Reads :meth:`save` output.

        Raises:
            FileNotFoundError / ValueError: naming the path.
        """
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"latency LUT {p} does not exist")
        try:
            d = json.loads(p.read_text())
            entries = {str(k): float(v) for k, v in d["entries"].items()}
            meta = dict(d["meta"])
            for k in ("metric", "in_channels", "out_channels", "spatial_dims"):
                meta[k]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"malformed latency LUT {p}: {e!r}") from None
        return cls(entries, meta)


class _LUTCost:
    def __init__(self, lut: LatencyLUT, key: str) -> None:
        self.lut, self.key = lut, key

    def __call__(self, arch) -> Dict[str, float]:
        return {self.key: self.lut.predict(arch)}


def measure_model(arch: HybridSegArch, lut: LatencyLUT, repeats: Optional[int] = None) -> float:
    """The whole model's latency (ms, median), FLOPs or parameters, measured as the LUT was
    built."""
    m = lut.meta
    net = build_model(arch, m["in_channels"], m["out_channels"], m["spatial_dims"])
    shape = (1, m["in_channels"]) + (arch.resolution,) * m["spatial_dims"]
    if m["metric"] == "params":
        return float(count_params(net))
    if m["metric"] == "flops":
        return float(count_flops(net, shape))
    return float(measure_latency(net, shape, repeats=repeats or m["repeats"],
                                 warmup=m["warmup"])["median_ms"])


def validate(lut: LatencyLUT, archs: Sequence[HybridSegArch], repeats: Optional[int] = None
             ) -> Dict[str, Any]:
    """Predicted against measured whole-model latency.

    Returns:
        ``{"n", "spearman", "mape" (mean |pred - meas| / meas, in %), "predicted", "measured"}``.
    """
    from scipy.stats import spearmanr

    pred = [lut.predict(a) for a in archs]
    meas = [measure_model(a, lut, repeats) for a in archs]
    rho = float(spearmanr(pred, meas).statistic) if len(archs) > 2 else float("nan")
    mape = 100.0 * statistics.fmean(abs(p - q) / q for p, q in zip(pred, meas)) if archs else float("nan")
    return {"n": len(archs), "spearman": rho, "mape": mape, "predicted": pred, "measured": meas}
