"""The four-term segmentation objective.

``total = w_dice·Dice + w_transformer·Transformer + w_complexity·Complexity + w_entropy·Entropy``

* **Dice**: ``monai.losses.DiceCELoss(sigmoid=True)`` on the main logits. The task is binary
  tumour segmentation with **one output channel and a sigmoid** (so with one channel MONAI's
  CE part is a binary cross-entropy on logits); predictions are ``sigmoid(logit) > 0.5``.
  **Deep supervision:** logits ``(B, K, 1, *S)`` (K heads stacked on dim 1, as MONAI
  ``DynUNet`` returns them in training mode, each upsampled to the full size) give the
  weighted sum ``Σ_k w_k DiceCE(head_k)`` with ``w_k ∝ 2^-k`` normalised to 1, head 0 the
  full-resolution one (nnU-Net's weighting, Isensee et al., Nat. Methods 2021); see
  :func:`deep_supervision_weights`.
* **Transformer**: the same DiceCE loss on the auxiliary head's logits, i.e. deep supervision
  of the deepest (Transformer) features (``HybridSegNet.forward(x, return_aux=True)``).
* **Complexity**: expected FLOPs under the architecture parameters
  (:meth:`nascore.seg.knobs.TransformerKnobs.expected_flops`) relative to ``flops_budget``:
  ``E/B`` (``complexity_mode="ratio"``) or ``relu(E/B - 1)`` (``"hinge"``, zero once under
  budget). Without a budget, ``B`` is the knobs' FLOPs with every gate open.
* **Entropy**: mean normalised entropy of the architecture distributions
  (:meth:`~nascore.seg.knobs.TransformerKnobs.entropy`); 1 at uniform, 0 when discrete, so
  minimising it pushes each choice to one side.

The four weights travel together as one :class:`LossWeights`.

A weight of 0 or None switches a term off: it adds nothing to the total and gets no gradient,
but it is still logged (computed without gradient) when its inputs are there; a term whose
inputs are missing (no auxiliary logits, no knobs) is logged as NaN and adds nothing, or
raises when ``strict=True``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from monai.losses import DiceCELoss
from torch import nn

TERMS = ("dice", "transformer", "complexity", "entropy")
COMPLEXITY_MODES = ("ratio", "hinge")


def _on(w: Optional[float]) -> bool:
    return w is not None and float(w) != 0.0


@dataclass(frozen=True)
class LossWeights:
    """The weights of the four terms (see the module docstring); 0 or None switches a term off.

    Attributes:
        dice: weight of the DiceCE loss of the main head.
        transformer: weight of the DiceCE loss of the auxiliary (Transformer) head.
        complexity: weight of the expected-FLOPs term.
        entropy: weight of the architecture-entropy term.

    Raises:
        ValueError: naming the weight that is negative or not finite.

    Example:
        >>> LossWeights(complexity=0, entropy=0).replace(transformer=0)
        LossWeights(dice=1.0, transformer=0, complexity=0, entropy=0)
    """

    dice: Optional[float] = 1.0
    transformer: Optional[float] = 0.4
    complexity: Optional[float] = 0.5
    entropy: Optional[float] = 0.05

    def __post_init__(self) -> None:
        for name in TERMS:
            w = getattr(self, name)
            if w is not None and (not math.isfinite(float(w)) or float(w) < 0):
                raise ValueError(f"w_{name} must be a finite number >= 0 or None, got {w!r}")

    def replace(self, **changes: Optional[float]) -> "LossWeights":
        """A copy with some weights changed (by term name, ``dice=...``)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> Dict[str, Optional[float]]:
        """``{term: weight}`` in :data:`TERMS` order."""
        return {name: getattr(self, name) for name in TERMS}

    @classmethod
    def resolve(cls, weights: Optional["LossWeights"] = None, **w_overrides: Optional[float]
                ) -> "LossWeights":
        """``weights`` (default :class:`LossWeights`) with ``w_<term>=...`` overrides applied.

        Raises:
            TypeError: on a keyword that is not ``w_dice``, ``w_transformer``,
                ``w_complexity`` or ``w_entropy``.
        """
        bad = sorted(k for k in w_overrides if not (k.startswith("w_") and k[2:] in TERMS))
        if bad:
            raise TypeError(f"unknown loss weight(s) {bad}; expected w_<term> for terms {TERMS}")
        base = weights if weights is not None else cls()
        return base.replace(**{k[2:]: v for k, v in w_overrides.items()}) if w_overrides else base


def deep_supervision_weights(k: int) -> torch.Tensor:
    """``w_i = 2^-i / Σ_j 2^-j`` for heads ``i = 0..k-1`` (head 0: full resolution).

    Raises:
        ValueError: ``k < 1``.
    """
    if k < 1:
        raise ValueError(f"deep supervision needs at least one head, got {k}")
    w = torch.tensor([0.5 ** i for i in range(k)], dtype=torch.float64)
    return w / w.sum()


class SegObjective(nn.Module):
    """The four-term loss (see the module docstring).

    Args:
        weights: the term weights (default :class:`LossWeights`).
        flops_budget: FLOPs budget ``B`` (None: the knobs' full FLOPs).
        complexity_mode: ``"ratio"`` (``E/B``) or ``"hinge"`` (``relu(E/B - 1)``).
        lambda_dice: DiceCE's Dice weight.
        lambda_ce: DiceCE's cross-entropy weight.
        strict: raise when an active term lacks its inputs instead of logging NaN.
        **w_overrides: ``w_dice``, ``w_transformer``, ``w_complexity``, ``w_entropy``:
            shorthand that replaces single weights of ``weights``.

    Raises:
        ValueError: on a negative or non-finite weight, an unknown ``complexity_mode`` or a
            budget <= 0. TypeError: on an unknown keyword.

    Example:
        >>> obj = SegObjective(LossWeights(transformer=0))  # or SegObjective(w_transformer=0)
        >>> total, terms = obj(torch.zeros(2, 1, 16, 16), torch.zeros(2, 1, 16, 16))
        >>> sorted(terms)
        ['complexity', 'dice', 'entropy', 'total', 'transformer']
    """

    def __init__(self, weights: Optional[LossWeights] = None, *, flops_budget: Optional[float] = None,
                 complexity_mode: str = "ratio", lambda_dice: float = 1.0, lambda_ce: float = 1.0,
                 strict: bool = False, **w_overrides: Optional[float]) -> None:
        super().__init__()
        if complexity_mode not in COMPLEXITY_MODES:
            raise ValueError(f"complexity_mode must be one of {COMPLEXITY_MODES}, got {complexity_mode!r}")
        if flops_budget is not None and not flops_budget > 0:
            raise ValueError(f"flops_budget must be > 0, got {flops_budget!r}")
        self.loss_weights = LossWeights.resolve(weights, **w_overrides)
        self.weights = self.loss_weights.as_dict()
        self.flops_budget = flops_budget
        self.complexity_mode = complexity_mode
        self.strict = strict
        self.seg_loss = DiceCELoss(sigmoid=True, lambda_dice=lambda_dice, lambda_ce=lambda_ce)

    def _main_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if logits.dim() == target.dim() + 1:  # stacked deep-supervision heads
            w = deep_supervision_weights(logits.shape[1])
            return sum(float(w[i]) * self.seg_loss(logits[:, i], target)
                       for i in range(logits.shape[1]))
        return self.seg_loss(logits, target)

    def active(self, term: str) -> bool:
        """Whether ``term`` contributes to the total."""
        return _on(self.weights[term])

    @property
    def needs_knobs(self) -> bool:
        return self.active("complexity") or self.active("entropy")

    def complexity(self, knobs) -> torch.Tensor:
        """The complexity term of ``knobs`` (differentiable w.r.t. the arch parameters)."""
        budget = self.flops_budget if self.flops_budget is not None else knobs.full_flops
        r = knobs.expected_flops() / float(budget)
        return F.relu(r - 1.0) if self.complexity_mode == "hinge" else r

    def config(self) -> Dict[str, object]:
        """The settings, for provenance."""
        return {**{f"w_{k}": v for k, v in self.weights.items()}, "flops_budget": self.flops_budget,
                "complexity_mode": self.complexity_mode}

    def forward(self, logits: torch.Tensor, target: torch.Tensor,
                aux_logits: Optional[torch.Tensor] = None, knobs=None
                ) -> Tuple[torch.Tensor, Dict[str, float]]:
        """Weighted total and every term's unweighted value.

        Args:
            logits: main logits ``(B, 1, *S)``, or deep-supervision heads ``(B, K, 1, *S)``.
            target: binary labels ``(B, 1, *S)``.
            aux_logits: auxiliary-head logits (same shape), or None.
            knobs: a :class:`~nascore.seg.knobs.TransformerKnobs`, or None.

        Returns:
            ``(total, terms)``; ``terms`` maps ``dice``, ``transformer``, ``complexity``,
            ``entropy`` and ``total`` to floats (NaN where a term could not be computed).
        """
        target = target.to(logits.dtype)
        fns = {
            "dice": (lambda: self._main_loss(logits, target)),
            "transformer": (None if aux_logits is None else
                            lambda: self.seg_loss(aux_logits, target)),
            "complexity": None if knobs is None else (lambda: self.complexity(knobs)),
            "entropy": None if knobs is None else (lambda: knobs.entropy()),
        }
        total = logits.new_zeros(())
        terms: Dict[str, float] = {}
        for name in TERMS:
            fn = fns[name]
            if fn is None:
                if self.active(name) and self.strict:
                    raise ValueError(f"SegObjective: term {name!r} is on but its inputs are missing "
                                     f"({'aux_logits' if name == 'transformer' else 'knobs'})")
                terms[name] = float("nan")
                continue
            if self.active(name):
                v = fn()
                total = total + float(self.weights[name]) * v
            else:
                with torch.no_grad():
                    v = fn()
            terms[name] = float(v.detach())
        terms["total"] = float(total.detach())
        return total, terms
