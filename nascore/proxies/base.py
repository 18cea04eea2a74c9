"""Registry, per-proxy metadata, the evaluation context and the result record.

Every proxy is a function ``fn(model, batch, ctx) -> float | dict`` registered with
:func:`register_proxy`. A dict return must hold ``"value"`` (the scalar score) and may hold any
other finite numbers, which end up in :attr:`ProxyResult.extra`. Proxies never seed, copy or
re-initialise the model themselves: :func:`nascore.proxies.score` does that from the metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Tuple

import torch

from ..registry import Registry

Batch = Tuple[torch.Tensor, torch.Tensor]

#: Weight-initialisation schemes the harness can apply before a proxy runs (on a copy).
INIT_SCHEMES = (None, "kaiming_fanin", "gaussian")
#: Module modes the harness puts the model in for a proxy.
MODES = ("train", "eval")


@dataclass(frozen=True)
class ProxySpec:
    """A registered proxy and what the harness must do around it.

    Attributes:
        name: registry name.
        fn: ``fn(model, batch, ctx) -> float | dict``.
        higher_is_better: whether a larger value predicts a better network.
        needs_data: whether the proxy reads the input pixels (``False``: only their shape).
        needs_targets: whether it reads the targets (a loss is taken).
        changes_weights: whether it edits weights/structure (the harness passes a deep copy).
        init: weight re-initialisation applied to a deep copy first (``None``: keep weights).
        mode: ``"train"`` or ``"eval"``; the caller's per-module modes are restored afterwards.
    """

    name: str
    fn: Callable[..., Any]
    higher_is_better: bool = True
    needs_data: bool = True
    needs_targets: bool = False
    changes_weights: bool = False
    init: Optional[str] = None
    mode: str = "train"

    def __call__(self, model, batch, ctx):
        return self.fn(model, batch, ctx)


PROXIES: Registry[ProxySpec] = Registry("proxy")


def register_proxy(name: str, *, higher_is_better: bool = True, needs_data: bool = True,
                   needs_targets: bool = False, changes_weights: bool = False,
                   init: Optional[str] = None, mode: str = "train"):
    """Decorator registering ``fn`` in :data:`PROXIES` as a :class:`ProxySpec`.

    Raises:
        ValueError: for an unknown ``init``/``mode`` or a duplicate name.
    """
    if init not in INIT_SCHEMES:
        raise ValueError(f"proxy {name!r}: init must be one of {INIT_SCHEMES}, got {init!r}")
    if mode not in MODES:
        raise ValueError(f"proxy {name!r}: mode must be one of {MODES}, got {mode!r}")

    def deco(fn):
        PROXIES.register(name, ProxySpec(name, fn, higher_is_better, needs_data, needs_targets,
                                         changes_weights, init, mode))
        return fn

    return deco


@dataclass
class ProxyContext:
    """What a proxy may use besides the model and the batch.

    Attributes:
        seed: the harness seed.
        generator: a ``torch.Generator`` on the inputs' device, seeded with ``seed``; proxies
            draw all their randomness from it (:meth:`randn`, :meth:`rademacher`).
        options: free-form per-call options (e.g. ``swap_mu``, ``tenas_samples``).
        shared: a cache that :func:`nascore.proxies.score_many` shares between proxies that
            see the same model object, so e.g. ``snip`` and ``grad_norm`` reuse one backward.
    """

    seed: int = 0
    generator: Optional[torch.Generator] = None
    options: Dict[str, Any] = field(default_factory=dict)
    shared: Dict[Any, Any] = field(default_factory=dict)

    def loss_fn(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The task loss for these outputs/targets (see :func:`nascore.proxies.losses.task_loss`)."""
        from .losses import task_loss

        return task_loss(logits, targets)

    def randn(self, shape, like: torch.Tensor) -> torch.Tensor:
        """Standard normal noise of ``shape`` with ``like``'s dtype/device, from :attr:`generator`."""
        return torch.randn(tuple(shape), generator=self.generator, device=like.device,
                           dtype=like.dtype)

    def rademacher(self, like: torch.Tensor) -> torch.Tensor:
        """±1 noise shaped like ``like``, from :attr:`generator`."""
        r = torch.randint(0, 2, tuple(like.shape), generator=self.generator, device=like.device)
        return (r * 2 - 1).to(like.dtype)


@dataclass
class ProxyResult:
    """One proxy evaluation.

    Attributes:
        name: proxy name.
        value: the score (``nan`` after an error; may be ``±inf`` with status ``"nan"``).
        time_s: wall time of the proxy including the harness's copy/re-init.
        status: ``"ok"`` (finite value), ``"nan"`` (non-finite value) or ``"error"`` (raised).
        error: the error message (``type: message``) or a note for a non-finite value.
        extra: named components (e.g. AZ-NAS's expressivity/progressivity/trainability).
        higher_is_better: copied from the proxy's metadata.
    """

    name: str
    value: float
    time_s: float
    status: str = "ok"
    error: str = ""
    extra: Dict[str, float] = field(default_factory=dict)
    higher_is_better: bool = True

    @property
    def ok(self) -> bool:
        """Whether the value is finite and no error occurred."""
        return self.status == "ok"
