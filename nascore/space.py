"""The hybrid segmentation search space (no torch).

:class:`HybridSegSpace` owns the choices; :class:`~nascore.arch.HybridSegArch` is one point;
``nascore.build.build_model`` turns a point into an ``nn.Module``. The three stay apart, as in
once-for-all. The space exposes its choices as ordered categorical decisions (see
:mod:`nascore.decisions`), grouped ``global``, ``stage0`` … ``stage3``, ``decoder``:

* ``global.resolution``, ``global.stem_width``;
* per stage: ``stageK.width``, ``stageK.depth`` and one ``stageK.blockJ`` per block slot;
  a block slot chooses a whole :class:`~nascore.arch.BlockSpec` (type and its knobs), so a
  single decision switches conv ↔ attention (HyTra-style); slots beyond the depth are inactive;
* ``decoder.widths``: the widths of the decoder levels at strides 8, 4, 2, 1, as one knob.

Example:
    >>> import numpy as np
    >>> space = HybridSegSpace()
    >>> arch = space.sample(np.random.default_rng(0))
    >>> space.decode(space.encode(arch)) == arch
    True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Sequence, Tuple

from .arch import BLOCK_TYPES, NUM_STAGES, STAGE_STRIDES, BlockSpec, HybridSegArch, StageSpec
from .block_types import BLOCKS, KNOB_SPACE_FIELDS
from .decisions import Decision, SearchSpace


@dataclass(frozen=True)
class HybridSegSpace(SearchSpace):
    """Choices of the hybrid U-shaped segmentation space (ElasticViT-style elastic knobs).

    Attributes:
        resolutions: input resolutions.
        stem_widths: stem channels.
        widths: per stage, the width choices (strides 2, 4, 8, 16).
        depths: per stage, the depth choices.
        kernels: conv/MBConv kernel sizes.
        expands: MBConv expansion ratios.
        heads: attention head counts; each must divide every width where attention is allowed.
        mlp_ratios: attention MLP ratios.
        decoder_widths: the decoder width choices; each is a tuple of widths for the levels at
            strides 8, 4, 2, 1 (one decision scales the whole decoder).
        block_types: the allowed block types, names in :data:`nascore.block_types.BLOCKS` (e.g.
            ``("conv", "mbconv")`` for a CNN-only space); each type's candidates are the
            product of the lists above for the knobs it declares.
        attn_min_stride: attention is allowed only at strides >= this.
        aux_head: whether built models carry the auxiliary deep-supervision head.
    """

    resolutions: Tuple[int, ...] = (128, 160, 192, 224, 256)
    stem_widths: Tuple[int, ...] = (8, 16, 24, 32, 48)
    widths: Tuple[Tuple[int, ...], ...] = ((8, 16, 24, 32, 48), (16, 24, 32, 48, 64, 96),
                                           (32, 48, 64, 96, 128, 160),
                                           (48, 64, 96, 128, 192, 256, 320))
    depths: Tuple[Tuple[int, ...], ...] = ((1, 2, 3), (1, 2, 3, 4), (1, 2, 3, 4), (1, 2, 3, 4, 5))
    kernels: Tuple[int, ...] = (3, 5)
    expands: Tuple[int, ...] = (2, 3, 4, 6)
    heads: Tuple[int, ...] = (2, 4, 8)
    mlp_ratios: Tuple[int, ...] = (2, 3, 4)
    decoder_widths: Tuple[Tuple[int, ...], ...] = tuple(
        (4 * b, 2 * b, b, b) for b in (8, 12, 16, 24, 32, 48))
    block_types: Tuple[str, ...] = BLOCK_TYPES
    attn_min_stride: int = 8
    aux_head: bool = True

    def __post_init__(self) -> None:
        def req(cond: bool, name: str, msg: str) -> None:
            if not cond:
                raise ValueError(f"HybridSegSpace.{name}: {msg}")

        for name in ("resolutions", "stem_widths", "kernels", "expands", "heads", "mlp_ratios",
                     "block_types"):
            v = getattr(self, name)
            req(isinstance(v, tuple) and len(v) >= 1, name, "must be a non-empty tuple")
            req(len(set(v)) == len(v), name, "has duplicates")
        req(isinstance(self.decoder_widths, tuple) and self.decoder_widths and all(
            isinstance(t, tuple) and len(t) == NUM_STAGES and all(w > 0 for w in t)
            for t in self.decoder_widths), "decoder_widths",
            f"must be a non-empty tuple of {NUM_STAGES}-tuples of positive widths")
        for name in ("widths", "depths"):
            v = getattr(self, name)
            req(isinstance(v, tuple) and len(v) == NUM_STAGES and all(
                isinstance(t, tuple) and t and len(set(t)) == len(t) for t in v), name,
                f"must be {NUM_STAGES} non-empty tuples without duplicates")
        req(all(d >= 1 for ds in self.depths for d in ds), "depths", "depths must be >= 1")
        req(all(r % 16 == 0 for r in self.resolutions), "resolutions", "must be multiples of 16")
        unknown = [t for t in self.block_types if t not in BLOCKS]
        req(not unknown, "block_types",
            f"unknown block types {sorted(unknown)}; registered: {BLOCKS.names()}")
        req(any(BLOCKS.get(t).role != "attn" for t in self.block_types), "block_types",
            "needs a conv type for strides below attn_min_stride")
        for i, stride in enumerate(STAGE_STRIDES):
            for b in self.block_choices(i):
                b.validate(f"HybridSegSpace.block_choices({i})")
                for w in self.widths[i]:
                    bad = b.block_type.check_width(b, w)
                    if bad is not None:
                        knob, why = bad
                        req(False, KNOB_SPACE_FIELDS.get(knob, knob),
                            f"{why} (block {b.short()}, width {w} of stage {i}, stride {stride})")

    # --- decisions -----------------------------------------------------------------------
    def block_choices(self, stage: int) -> Tuple[BlockSpec, ...]:
        """Candidate blocks of a stage, type by type in ``block_types`` order (index 0 is the
        canonical ``conv`` or the first type); each type's candidates come from its registered
        knobs (:meth:`nascore.block_types.BlockType.space_choices`), and attention-role types
        only at strides ``>= attn_min_stride``."""
        out: List[BlockSpec] = []
        for t in self.block_types:
            bt = BLOCKS.get(t)
            if bt.role == "attn" and STAGE_STRIDES[stage] < self.attn_min_stride:
                continue
            out += bt.space_choices(self, stage)
        return tuple(out)

    def decisions(self) -> Tuple[Decision, ...]:
        """The ordered categorical decisions, grouped by stage."""
        ds = [Decision("global.resolution", "global", self.resolutions),
              Decision("global.stem_width", "global", self.stem_widths)]
        for i in range(NUM_STAGES):
            g = f"stage{i}"
            ds.append(Decision(f"{g}.width", g, self.widths[i]))
            ds.append(Decision(f"{g}.depth", g, self.depths[i]))
            blocks = self.block_choices(i)
            ds += [Decision(f"{g}.block{j}", g, blocks) for j in range(max(self.depths[i]))]
        ds.append(Decision("decoder.widths", "decoder", self.decoder_widths))
        return tuple(ds)

    def _values(self, arch: HybridSegArch) -> List[Any]:
        """Per decision, the architecture's value (None where inactive)."""
        vals: List[Any] = [arch.resolution, arch.stem_width]
        for i, st in enumerate(arch.stages):
            vals += [st.width, st.depth]
            vals += [st.blocks[j] if j < st.depth else None for j in range(max(self.depths[i]))]
        vals.append(arch.decoder_widths)
        return vals

    def encode(self, arch: HybridSegArch) -> Tuple[int, ...]:
        """One choice index per decision (0 for inactive decisions).

        Raises:
            ValueError: naming the decision whose value is not in the space.
        """
        if not isinstance(arch, HybridSegArch):
            raise ValueError(f"encode: expected a HybridSegArch, got {type(arch).__name__}")
        for i, st in enumerate(arch.stages):
            if st.depth > max(self.depths[i]):
                raise ValueError(f"stage{i}.depth: {st.depth} is not one of {list(self.depths[i])}")
        return tuple(0 if v is None else d.index(v) for d, v in zip(self.decisions(), self._values(arch)))

    def active(self, arch: HybridSegArch) -> Tuple[bool, ...]:
        """Which decisions the architecture uses."""
        return tuple(v is not None for v in self._values(arch))

    def decode(self, indices: Sequence[int]) -> HybridSegArch:
        """The architecture for one index per decision (inactive indices are ignored).

        Raises:
            ValueError: on a wrong length or an out-of-range index, naming the decision.
        """
        ds = self.decisions()
        if len(indices) != len(ds):
            raise ValueError(f"decode: expected {len(ds)} indices, got {len(indices)}")
        vals = {}
        for d, ix in zip(ds, indices):
            ix = int(ix)
            if not 0 <= ix < len(d):
                raise ValueError(f"{d.name}: index {ix} out of range 0..{len(d) - 1}")
            vals[d.name] = d.choices[ix]
        stages = []
        for i in range(NUM_STAGES):
            depth = vals[f"stage{i}.depth"]
            stages.append(StageSpec(vals[f"stage{i}.width"],
                                    tuple(vals[f"stage{i}.block{j}"] for j in range(depth))))
        return HybridSegArch(resolution=vals["global.resolution"],
                             stem_width=vals["global.stem_width"], stages=tuple(stages),
                             decoder_widths=vals["decoder.widths"],
                             aux_head=self.aux_head, attn_min_stride=self.attn_min_stride)

    def log10_size(self) -> float:
        """log10 of the number of distinct architectures (block slots beyond a stage's depth
        are inactive, so each stage counts ``widths * sum_d blocks**d``)."""
        total = math.log10(len(self.resolutions)) + math.log10(len(self.stem_widths))
        for i in range(NUM_STAGES):
            nb = len(self.block_choices(i))
            total += math.log10(len(self.widths[i]) * sum(nb ** d for d in self.depths[i]))
        total += math.log10(len(self.decoder_widths))
        return total

    def to_config(self) -> Dict[str, Any]:
        """The space's settings as a JSON-able dict (for provenance)."""
        return asdict(self)
