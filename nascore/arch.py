"""Architecture encoding of the hybrid segmentation space (no torch).

An architecture is a frozen, hashable dataclass of tuples: a stem, four encoder stages at
strides 2, 4, 8 and 16, and a UNet decoder. Each block of a stage chooses its own type
(HyTra-style, as in BossNAS), so convolution and attention can mix inside a stage. Block
types live in the registry :data:`nascore.block_types.BLOCKS` (re-exported here with
:class:`BlockSpec`); the built-in ones are

* ``conv``: residual conv block, kernel 3 or 5;
* ``mbconv``: inverted residual (MobileNetV2), kernel 3 or 5, expansion 2/3/4/6;
* ``attn``: pre-norm MHSA + MLP block with a depthwise-conv positional encoding (PEG),
  ``heads`` heads (must divide the stage width) and an MLP ratio.

Example:
    >>> a = example_arch("hybrid")
    >>> HybridSegArch.from_json(a.to_json()) == a
    True
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Tuple

from .block_types import BLOCKS, BUILTIN_BLOCKS, KNOBS, BlockSpec, register_block  # noqa: F401

#: The built-in block types (every registered one: ``BLOCKS.names()``).
BLOCK_TYPES = BUILTIN_BLOCKS
STAGE_STRIDES = (2, 4, 8, 16)
NUM_STAGES = len(STAGE_STRIDES)


def _require(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise ValueError(f"{where}: {msg}")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass(frozen=True)
class StageSpec:
    """One encoder stage: a strided downsampling to ``width``, then ``blocks``.

    Attributes:
        width: channels of the stage.
        blocks: the blocks; the stage depth is ``len(blocks)`` (at least 1).
    """

    width: int
    blocks: Tuple[BlockSpec, ...]

    @property
    def depth(self) -> int:
        return len(self.blocks)


@dataclass(frozen=True)
class HybridSegArch:
    """A U-shaped hybrid CNN + Transformer segmentation architecture.

    Attributes:
        resolution: input resolution (square/cubic side), divisible by 16.
        stem_width: channels of the full-resolution stem.
        stages: four :class:`StageSpec`, at strides 2, 4, 8, 16.
        decoder_widths: widths of the decoder levels at strides 8, 4, 2, 1.
        aux_head: whether the model has an auxiliary head on the deepest features.
        attn_min_stride: attention blocks are allowed only at strides >= this.
    """

    resolution: int
    stem_width: int
    stages: Tuple[StageSpec, ...]
    decoder_widths: Tuple[int, ...]
    aux_head: bool = True
    attn_min_stride: int = 8

    def __post_init__(self) -> None:
        _require(_is_int(self.resolution) and self.resolution > 0 and self.resolution % 16 == 0,
                 "resolution", f"must be a positive multiple of 16, got {self.resolution!r}")
        _require(_is_int(self.stem_width) and self.stem_width > 0, "stem_width",
                 f"must be a positive int, got {self.stem_width!r}")
        _require(isinstance(self.stages, tuple) and len(self.stages) == NUM_STAGES, "stages",
                 f"must be a tuple of {NUM_STAGES} StageSpec")
        _require(isinstance(self.aux_head, bool), "aux_head", "must be a bool")
        _require(_is_int(self.attn_min_stride) and self.attn_min_stride >= 1, "attn_min_stride",
                 f"must be a positive int, got {self.attn_min_stride!r}")
        for i, (st, stride) in enumerate(zip(self.stages, STAGE_STRIDES)):
            w = f"stages[{i}]"
            _require(isinstance(st, StageSpec), w, f"must be a StageSpec, got {type(st).__name__}")
            _require(_is_int(st.width) and st.width > 0, f"{w}.width",
                     f"must be a positive int, got {st.width!r}")
            _require(isinstance(st.blocks, tuple) and len(st.blocks) >= 1, f"{w}.blocks",
                     "must be a non-empty tuple of BlockSpec")
            for j, b in enumerate(st.blocks):
                bw = f"{w}.blocks[{j}]"
                _require(isinstance(b, BlockSpec), bw, f"must be a BlockSpec, got {type(b).__name__}")
                b.validate(bw)
                if b.is_attn:
                    _require(stride >= self.attn_min_stride, f"{bw}.type",
                             f"attention at stride {stride} is below the allowed minimum stride "
                             f"{self.attn_min_stride}")
                bad = b.block_type.check_width(b, st.width)
                if bad is not None:
                    raise ValueError(f"{bw}.{bad[0]}: {bad[1]}")
        _require(isinstance(self.decoder_widths, tuple) and len(self.decoder_widths) == NUM_STAGES,
                 "decoder_widths", f"must be a tuple of {NUM_STAGES} ints (strides 8, 4, 2, 1)")
        for i, d in enumerate(self.decoder_widths):
            _require(_is_int(d) and d > 0, f"decoder_widths[{i}]", f"must be a positive int, got {d!r}")

    # --- derived quantities -------------------------------------------------------------
    @property
    def depths(self) -> Tuple[int, ...]:
        return tuple(s.depth for s in self.stages)

    @property
    def widths(self) -> Tuple[int, ...]:
        return tuple(s.width for s in self.stages)

    @property
    def num_blocks(self) -> int:
        return sum(self.depths)

    @property
    def num_attn_blocks(self) -> int:
        return sum(b.is_attn for s in self.stages for b in s.blocks)

    @property
    def attn_share(self) -> float:
        """Share of encoder blocks that are attention blocks."""
        return self.num_attn_blocks / self.num_blocks

    def describe(self) -> str:
        """A one-line human-readable summary."""
        st = " | ".join(f"s{STAGE_STRIDES[i]} w{s.width}: " + " ".join(b.short() for b in s.blocks)
                        for i, s in enumerate(self.stages))
        return f"r{self.resolution} stem{self.stem_width} [{st}] dec{list(self.decoder_widths)}"

    # --- serialisation -------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        return {
            "resolution": self.resolution,
            "stem_width": self.stem_width,
            "stages": [{"width": s.width, "blocks": [vars(b).copy() for b in s.blocks]}
                       for s in self.stages],
            "decoder_widths": list(self.decoder_widths),
            "aux_head": self.aux_head,
            "attn_min_stride": self.attn_min_stride,
        }

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces); the basis of :attr:`arch_id`."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def arch_id(self) -> str:
        """A short stable hash (12 hex digits of SHA-1 of :meth:`to_json`)."""
        return hashlib.sha1(self.to_json().encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "HybridSegArch":
        """Builds an architecture from :meth:`to_dict` output.

        Raises:
            ValueError: naming the missing or malformed field.
        """
        if not isinstance(d, dict):
            raise ValueError(f"architecture: expected a JSON object, got {type(d).__name__}")
        known = {"resolution", "stem_width", "stages", "decoder_widths", "aux_head", "attn_min_stride"}
        extra = set(d) - known
        _require(not extra, "architecture", f"unknown field(s) {sorted(extra)}")
        for k in ("resolution", "stem_width", "stages", "decoder_widths"):
            _require(k in d, k, "missing field")
        _require(isinstance(d["stages"], list), "stages", "must be a list")
        stages = []
        for i, s in enumerate(d["stages"]):
            _require(isinstance(s, dict) and "width" in s and "blocks" in s, f"stages[{i}]",
                     "must be an object with 'width' and 'blocks'")
            _require(isinstance(s["blocks"], list), f"stages[{i}].blocks", "must be a list")
            blocks = []
            for j, b in enumerate(s["blocks"]):
                where = f"stages[{i}].blocks[{j}]"
                _require(isinstance(b, dict) and "type" in b, where, "must be an object with 'type'")
                unknown = set(b) - {"type", *KNOBS}
                _require(not unknown, where, f"unknown field(s) {sorted(unknown)}")
                blocks.append(BlockSpec(**b))
            stages.append(StageSpec(width=s["width"], blocks=tuple(blocks)))
        _require(isinstance(d["decoder_widths"], list), "decoder_widths", "must be a list")
        return cls(resolution=d["resolution"], stem_width=d["stem_width"], stages=tuple(stages),
                   decoder_widths=tuple(d["decoder_widths"]), aux_head=d.get("aux_head", True),
                   attn_min_stride=d.get("attn_min_stride", 8))

    @classmethod
    def from_json(cls, text: str) -> "HybridSegArch":
        """Parses :meth:`to_json` output.

        Raises:
            ValueError: on malformed JSON or an invalid architecture, naming the field.
        """
        try:
            d = json.loads(text)
        except (json.JSONDecodeError, TypeError) as e:
            raise ValueError(f"architecture JSON is malformed: {e}") from None
        return cls.from_dict(d)


def example_arch(kind: str = "hybrid", resolution: int = 64) -> HybridSegArch:
    """A small documented architecture for tests and defaults.

    Args:
        kind: ``"cnn"`` (convolutions only) or ``"hybrid"`` (attention at strides 8 and 16).
        resolution: input resolution.
    """
    c3, mb = BlockSpec("conv", 3), BlockSpec("mbconv", 3, expand=4)
    a = BlockSpec("attn", heads=2, mlp_ratio=2)
    if kind == "cnn":
        deep = ((c3, mb), (mb, c3))
    elif kind == "hybrid":
        deep = ((mb, a), (a, a))
    else:
        raise ValueError(f"kind: expected 'cnn' or 'hybrid', got {kind!r}")
    return HybridSegArch(
        resolution=resolution, stem_width=8,
        stages=(StageSpec(16, (c3,)), StageSpec(24, (mb,)), StageSpec(32, deep[0]),
                StageSpec(48, deep[1])),
        decoder_widths=(32, 24, 16, 8))


def read_best_arch(path):
    """``(HybridSegArch, payload)`` from a ``best_arch.json`` (notebook 03's search result: a JSON
    object whose ``arch`` field is :meth:`HybridSegArch.to_dict`).

    Raises:
        FileNotFoundError / ValueError: naming the path.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"best arch file {p} does not exist")
    try:
        d = json.loads(p.read_text())
        return HybridSegArch.from_dict(d["arch"]), d
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"malformed best arch file {p}: {e!r}") from None
