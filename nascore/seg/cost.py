"""Search costs of a HybridSegSpace candidate without building its network.

:class:`SegCostFn` (``arch -> {"params", "flops", "baseline_flops", "flops_ratio", "n_attn", "minus_n_attn"}``)
sums per-piece tables (:class:`nascore.latency.LatencyLUT` in ``flops`` and ``params`` modes);
:func:`baseline_arch` is the HCT-Net-like baseline the FLOPs budget is relative to. Used by
:mod:`nascore.experiments.search_hybrid` (notebook 03, which re-exports both) and the
hybrid-space benchmark's stratified sample (:mod:`nascore.bench.hybrid_seg`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

from ..progress import tqdm


def baseline_arch(resolution: int):
    """The HCT-Net-like baseline at ``resolution`` (:func:`nascore.seg.baselines.hctnet_like_arch`)."""
    from .baselines import hctnet_like_arch

    return hctnet_like_arch(int(resolution))


class SegCostFn:
    """``arch -> {"params", "flops", "baseline_flops", "flops_ratio", "n_attn", "minus_n_attn"}`` (picklable).

    Both counts are sums over per-piece tables (:class:`~nascore.latency.LatencyLUT`), filled
    lazily piece by piece (each piece built once on the ``meta`` device, memoised), so a
    candidate is costed without building its network: FLOPs in ``flops`` mode (sums exactly to
    :func:`nascore.cost.count_flops` of the whole model) and parameters in ``params`` mode
    (sums exactly to :func:`nascore.cost.count_params` of :func:`nascore.build.build_model`,
    auxiliary head included).

    Args:
        in_channels, out_channels: model channels.
        lut_path: optional JSON file to load the FLOPs table from and :meth:`save` it to; the
            params table goes beside it (``<stem>_params.json``).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 1, lut_path=None) -> None:
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.lut_path = Path(lut_path) if lut_path is not None else None
        self._lut = None
        self._plut = None
        self._base: Dict[int, float] = {}

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_lut"] = d["_plut"] = None
        return d

    @property
    def params_path(self) -> Optional[Path]:
        """Where the params table is kept (beside ``lut_path``), or None."""
        p = self.lut_path
        return None if p is None else p.with_name(f"{p.stem}_params{p.suffix or '.json'}")

    def _table(self, metric: str, path: Optional[Path]):
        from ..latency import LatencyLUT

        meta = {"metric": metric, "in_channels": self.in_channels,
                "out_channels": self.out_channels, "spatial_dims": 2, "batch": 1}
        lut = None
        if path is not None and path.is_file():
            lut = LatencyLUT.load(path)
            if any(lut.meta.get(k) != v for k, v in meta.items()):
                lut = None  # built for other channels: start afresh
        return lut or LatencyLUT({}, meta)

    def lut(self):
        """The FLOPs table."""
        if self._lut is None:
            self._lut = self._table("flops", self.lut_path)
        return self._lut

    def params_lut(self):
        """The params table."""
        if self._plut is None:
            self._plut = self._table("params", self.params_path)
        return self._plut

    @staticmethod
    def _fill(lut, pieces, progress: bool = False, desc: str = "") -> int:
        import torch

        from ..latency import measure_piece

        todo = sorted((k, v) for k, v in dict(pieces).items() if k not in lut.entries)
        if progress:
            todo = tqdm(todo, desc=desc, mininterval=2.0)
        for key, spec in todo:
            with torch.device("meta"):
                lut.entries[key] = measure_piece(spec, 2, lut.meta["metric"])
        return len(todo)

    def flops(self, arch) -> float:
        """FLOPs (2 per multiply-add) of ``arch``'s inference forward at its resolution, batch 1."""
        from ..latency import arch_pieces

        lut = self.lut()
        self._fill(lut, arch_pieces(arch, self.in_channels, self.out_channels))
        return float(lut.predict(arch))

    def params(self, arch) -> float:
        """Trainable parameters of ``build_model(arch, in_channels, out_channels)``."""
        from ..latency import param_pieces

        lut = self.params_lut()
        self._fill(lut, param_pieces(arch, self.in_channels, self.out_channels))
        return float(lut.predict(arch))

    def prefill(self, space, progress: bool = False) -> int:
        """Counts every piece ``space`` can produce (:func:`nascore.latency.space_pieces`),
        so later calls only sum table entries. Returns the number of FLOPs pieces counted now
        (the params table is filled too)."""
        from ..latency import space_pieces

        n = self._fill(self.lut(), space_pieces(space, self.in_channels, self.out_channels),
                       progress, "FLOPs pieces")
        self._fill(self.params_lut(),
                   space_pieces(space, self.in_channels, self.out_channels, aux=True),
                   progress, "params pieces")
        return n

    def baseline_flops(self, resolution: int) -> float:
        r = int(resolution)
        if r not in self._base:
            self._base[r] = self.flops(baseline_arch(r))
        return self._base[r]

    def __call__(self, arch) -> Dict[str, float]:
        f = self.flops(arch)
        b = self.baseline_flops(arch.resolution)
        return {"params": self.params(arch), "flops": f, "baseline_flops": b,
                "flops_ratio": f / b, "n_attn": float(arch.num_attn_blocks),
                "minus_n_attn": -float(arch.num_attn_blocks)}  # the min_attn_blocks bound

    def save(self) -> Optional[Path]:
        """Writes the FLOPs table to ``lut_path`` and the params table beside it (if set);
        returns the FLOPs table's path."""
        if self.lut_path is None:
            return None
        if self._plut is not None:
            self._plut.save(self.params_path)
        return self._lut.save(self.lut_path) if self._lut is not None else None
