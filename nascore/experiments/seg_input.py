"""The input architecture of notebook 04 (the knob search's starting point): notebook 03's
``best_arch.json`` when it exists, else the documented :func:`default_arch`, retargeted to the
training resolution (see :mod:`nascore.experiments.seg_finetune`)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Optional, Tuple

from ..arch import BlockSpec, HybridSegArch, StageSpec
from ..paths import repo_root, reports_dir
from ..provenance import write_json

SEARCH_NOTEBOOK = "03_search"


def _display_path(path) -> str:
    """``path`` relative to the repo root when inside it (results record no machine paths)."""
    if path is None:
        return ""
    try:
        return Path(path).resolve().relative_to(repo_root()).as_posix()
    except ValueError:
        return str(path)


def default_arch(resolution: int = 128) -> HybridSegArch:
    """The documented default input architecture (used when no 03 search result exists).

    A mid-size hybrid from :class:`~nascore.space.HybridSegSpace` (a member of the space at
    resolution 128; every choice below is one of the space's choices)::

        stem 16
        stride 2   width 24   conv3
        stride 4   width 48   mbconv3 (expand 2)
        stride 8   width 128  mbconv3 (expand 2), attn (8 heads, MLP 4) x 2
        stride 16  width 256  attn (8 heads, MLP 4) x 4
        decoder (64, 32, 16, 16), auxiliary head on

    It is Transformer-heavy on purpose, so the knob search has layers, heads and MLP widths to
    prune: at 64 px it has 0.84x the params and 0.45x the FLOPs of ``hctnet_like``; 55% of its
    FLOPs are outside the attention blocks (0.25x hctnet_like), the floor of what pruning the
    Transformer can reach.
    """
    c3 = BlockSpec("conv", 3)
    mb = BlockSpec("mbconv", 3, expand=2)
    a = BlockSpec("attn", heads=8, mlp_ratio=4)
    return HybridSegArch(resolution=resolution, stem_width=16,
                         stages=(StageSpec(24, (c3,)), StageSpec(48, (mb,)),
                                 StageSpec(128, (mb, a, a)), StageSpec(256, (a,) * 4)),
                         decoder_widths=(64, 32, 16, 16))


def best_arch_path(profile: str) -> Path:
    """``reports/<profile>/03_search/best_arch.json`` (may not exist)."""
    return reports_dir(profile, SEARCH_NOTEBOOK, create=False) / "best_arch.json"


def parse_arch_json(path: Path) -> HybridSegArch:
    """Reads an architecture file: ``{"arch": {...}, ...}`` or a bare arch dict.

    Raises:
        ValueError: naming ``path`` when the JSON or the architecture is malformed.
    """
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read the architecture JSON: {e}") from None
    d = obj.get("arch", obj) if isinstance(obj, dict) else obj
    try:
        return HybridSegArch.from_dict(d)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: invalid architecture: {e}") from None


def load_input_arch(path: Optional[Path], resolution: Optional[int] = None
                    ) -> Tuple[HybridSegArch, str]:
    """The input architecture of the knob search and a sentence saying where it came from.

    Args:
        path: an arch JSON (see :func:`parse_arch_json`); ``None`` or a missing file gives
            :func:`default_arch`.
        resolution: retarget the architecture to this resolution (None: keep its own).

    Returns:
        ``(arch, source)``.

    Raises:
        ValueError: naming ``path`` when it exists but is malformed.
    """
    shown = _display_path(path)
    if path is not None and Path(path).is_file():
        arch = parse_arch_json(Path(path))
        source = f"{shown} (arch {arch.arch_id})"
        if arch.num_attn_blocks == 0:
            arch = default_arch(arch.resolution)
            source = (f"default_arch(): {shown} has no attention blocks, so the Transformer "
                      "knob search cannot run on it")
    else:
        arch = default_arch(resolution or 128)
        source = "default_arch() (no " + (shown if path is not None else "input file") + ")"
    if resolution is not None and arch.resolution != resolution:
        source += f"; retargeted from {arch.resolution} to {resolution} px"
        arch = dataclasses.replace(arch, resolution=int(resolution))
    return arch, source


def write_arch_json(path: Path, arch: HybridSegArch, **extra: Any) -> Path:
    """Writes ``{"arch": arch.to_dict(), "arch_id": ..., **extra}`` atomically (the schema that
    :func:`parse_arch_json` reads)."""
    return write_json(path, {"arch": arch.to_dict(), "arch_id": arch.arch_id,
                             "describe": arch.describe(), **extra})
