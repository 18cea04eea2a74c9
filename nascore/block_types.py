"""The registry of encoder block types: the one place a block type is declared (no torch).

A block type declares, in one :func:`register_block` call:

* ``knobs``: the :class:`BlockSpec` fields it uses (``kernel``, ``expand``, ``heads``,
  ``mlp_ratio``); the fields it does not use hold their canonical value (:data:`CANONICAL`),
  so that one network has exactly one encoding;
* its validation: every used knob follows :data:`KNOB_RULES`; ``fits`` optionally checks a
  block against its stage width (attention: the heads must divide the width);
* its choices in the space: by default every combination of the space's lists of its knobs
  (``HybridSegSpace.kernels``, ``.expands``, ``.heads``, ``.mlp_ratios``, see
  :data:`KNOB_SPACE_FIELDS`), first knob slowest; ``choices`` overrides this;
* its ``label`` (a format string over the spec's fields, e.g. ``"mb{kernel}e{expand}"``),
  ``role`` (``"conv"`` or ``"attn"``; attention blocks are allowed only at strides
  ``>= attn_min_stride``) and ``colour`` (for :func:`nascore.plots.arch.draw_arch`).

The module that builds the block (PyTorch) is registered separately, by the same name, with
:func:`nascore.blocks.register_builder`, so that encoding architectures needs no torch.

Built-in types (:data:`BUILTIN_BLOCKS`): ``conv`` (residual conv block, kernel), ``mbconv``
(MobileNetV2 inverted residual, kernel and expansion) and ``attn`` (pre-norm MHSA + MLP with a
depthwise-conv positional encoding; heads and MLP ratio).

Example:
    >>> BLOCKS.get("mbconv").label.format(**vars(BlockSpec("mbconv", 5, expand=4)))
    'mb5e4'
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields
from typing import Any, Callable, Dict, Optional, Tuple

from .registry import Registry

#: Canonical values of the knob fields; a block type's unused fields must hold them.
CANONICAL: Dict[str, int] = {"kernel": 3, "expand": 1, "heads": 0, "mlp_ratio": 0}

#: Per knob, (rule, description) checked for the knobs a block type uses.
KNOB_RULES: Dict[str, Tuple[Callable[[int], bool], str]] = {
    "kernel": (lambda v: v >= 1 and v % 2 == 1, "a positive odd int"),
    "expand": (lambda v: v >= 1, "an int >= 1"),
    "heads": (lambda v: v >= 1, "an int >= 1"),
    "mlp_ratio": (lambda v: v >= 1, "an int >= 1"),
}

#: Per knob, the :class:`~nascore.space.HybridSegSpace` field listing its choices.
KNOB_SPACE_FIELDS: Dict[str, str] = {"kernel": "kernels", "expand": "expands", "heads": "heads",
                                     "mlp_ratio": "mlp_ratios"}

ROLES = ("conv", "attn")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass(frozen=True)
class BlockSpec:
    """One encoder block: a registered type and its knobs.

    Fields that a type does not use hold their canonical value (``kernel=3``, ``expand=1``,
    ``heads=0``, ``mlp_ratio=0``; for ``attn`` the kernel is the fixed PEG kernel 3), so that
    one network has exactly one encoding.

    Attributes:
        type: a name in :data:`BLOCKS` (``conv``, ``mbconv``, ``attn`` built in).
        kernel: conv kernel size (3 or 5 in the default space).
        expand: MBConv expansion ratio.
        heads: number of attention heads.
        mlp_ratio: MLP hidden size relative to the width.
    """

    type: str
    kernel: int = 3
    expand: int = 1
    heads: int = 0
    mlp_ratio: int = 0

    def validate(self, where: str = "block") -> None:
        """Raises ValueError naming ``where`` and the field when the block is malformed
        (an unknown type, a non-int knob, a used knob out of range, an unused knob that is not
        canonical)."""
        if self.type not in BLOCKS:
            raise ValueError(f"{where}.type: unknown block type {self.type!r}; expected one of "
                             f"{tuple(BLOCKS.names())}")
        BLOCKS.get(self.type).validate(self, where)

    @property
    def block_type(self) -> "BlockType":
        """The registered :class:`BlockType` (KeyError for an unknown type)."""
        return BLOCKS.get(self.type)

    @property
    def is_attn(self) -> bool:
        """Whether the block is an attention block (its type's role is ``"attn"``)."""
        return self.type in BLOCKS and BLOCKS.get(self.type).role == "attn"

    def short(self) -> str:
        """A compact label from the type's ``label``, e.g. ``c3``, ``mb5e4``, ``a4m2``."""
        return BLOCKS.get(self.type).label.format(**vars(self))


KNOBS: Tuple[str, ...] = tuple(f.name for f in fields(BlockSpec) if f.name != "type")


@dataclass(frozen=True)
class BlockType:
    """The torch-free declaration of a block type (see the module docstring).

    Attributes:
        name: the ``BlockSpec.type`` value.
        knobs: the :data:`KNOBS` the type uses, in the order its choices are enumerated.
        label: format string over the spec's fields (``"c{kernel}"``).
        role: ``"conv"`` or ``"attn"``.
        colour: a matplotlib colour for diagrams.
        choices: optional ``(space, stage_index) -> iterable of BlockSpec`` replacing the
            default product of the space's knob lists.
        fits: optional ``(spec, width) -> None | (field, message)``: why the block cannot sit
            in a stage of that width.
        doc: one line describing the block (and the paper it follows).
    """

    name: str
    knobs: Tuple[str, ...]
    label: str
    role: str
    colour: str
    choices: Optional[Callable[[Any, int], Any]] = None
    fits: Optional[Callable[[BlockSpec, int], Optional[Tuple[str, str]]]] = None
    doc: str = ""

    def validate(self, spec: BlockSpec, where: str = "block") -> None:
        """Checks ``spec``'s knobs (see :class:`BlockSpec.validate`)."""
        for f in KNOBS:
            v = getattr(spec, f)
            if not _is_int(v):
                raise ValueError(f"{where}.{f}: must be an int, got {v!r}")
        for f in KNOBS:
            v = getattr(spec, f)
            if f in self.knobs:
                rule, desc = KNOB_RULES[f]
                if not rule(v):
                    raise ValueError(f"{where}.{f}: must be {desc} for {self.name}, got {v}")
            elif v != CANONICAL[f]:
                raise ValueError(f"{where}.{f}: must be {CANONICAL[f]} (unused) for {self.name}, "
                                 f"got {v}")

    def check_width(self, spec: BlockSpec, width: int) -> Optional[Tuple[str, str]]:
        """``None`` when ``spec`` fits a stage of ``width`` channels, else ``(field, why)``."""
        return self.fits(spec, width) if self.fits is not None else None

    def space_choices(self, space: Any, stage: int) -> Tuple[BlockSpec, ...]:
        """The candidate blocks of this type for ``stage`` of ``space`` (before the space's
        stride rule for attention)."""
        if self.choices is not None:
            return tuple(self.choices(space, stage))
        lists = [getattr(space, KNOB_SPACE_FIELDS[k]) for k in self.knobs]
        return tuple(BlockSpec(self.name, **dict(zip(self.knobs, combo)))
                     for combo in itertools.product(*lists))


#: name -> :class:`BlockType`.
BLOCKS: Registry = Registry("block type")


def register_block(name: str, *, knobs: Tuple[str, ...], label: str, role: str, colour: str,
                   choices: Optional[Callable] = None, fits: Optional[Callable] = None,
                   doc: str = "") -> BlockType:
    """Declares a block type (the torch-free part; see the module docstring).

    Returns:
        The registered :class:`BlockType`.

    Raises:
        ValueError: for a duplicate name, a knob not in :data:`KNOBS` or a role not in
            :data:`ROLES`.
    """
    knobs = tuple(knobs)
    bad = [k for k in knobs if k not in KNOBS]
    if bad:
        raise ValueError(f"block type {name!r}: unknown knob(s) {bad}; knobs are {KNOBS}")
    if role not in ROLES:
        raise ValueError(f"block type {name!r}: role must be one of {ROLES}, got {role!r}")
    bt = BlockType(name, knobs, label, role, colour, choices, fits, doc)
    BLOCKS.register(name, bt)
    return bt


def _heads_divide(spec: BlockSpec, width: int) -> Optional[Tuple[str, str]]:
    if width % spec.heads:
        return "heads", f"{spec.heads} heads do not divide the stage width {width}"
    return None


register_block("conv", knobs=("kernel",), label="c{kernel}", role="conv", colour="#4C72B0",
               doc="residual block of two kxk convs with norm and ReLU (MONAI UnetResBlock)")
register_block("mbconv", knobs=("kernel", "expand"), label="mb{kernel}e{expand}", role="conv",
               colour="#55A868",
               doc="inverted residual, 1x1 expand -> kxk depthwise -> 1x1 project (MobileNetV2)")
register_block("attn", knobs=("heads", "mlp_ratio"), label="a{heads}m{mlp_ratio}", role="attn",
               colour="#C44E52", fits=_heads_divide,
               doc="pre-norm MHSA + MLP with a depthwise-conv positional encoding (CPVT's PEG)")

#: The built-in block types (the default space's ``block_types``).
BUILTIN_BLOCKS: Tuple[str, ...] = ("conv", "mbconv", "attn")
