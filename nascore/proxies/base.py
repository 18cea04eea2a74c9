"""Registry, per-proxy metadata, the evaluation context and the result record.

Every proxy is a function ``fn(model, batch, ctx) -> float | dict`` registered with
:func:`register_proxy` (the one way to add a proxy; ``PROXIES.register`` refuses anything that
is not a :class:`ProxySpec`). A dict return must hold ``"value"`` (the scalar score) and may
hold any other numbers, which end up in :attr:`ProxyResult.extra`. A proxy that detects a
failure of a known kind raises :class:`ProxyFailure` with one of :data:`STATUSES`. Proxies
never seed, copy or re-initialise the model themselves: :func:`nascore.proxies.score` does
that from the metadata. Options a proxy reads are declared at registration with their defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import torch

from ..registry import Registry
from .layers import discover
from .status import STATUSES, ProxyFailure  # noqa: F401  (re-exported)

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
        options: the options the proxy reads, with their defaults (read-only mapping).
    """

    name: str
    fn: Callable[..., Any]
    higher_is_better: bool = True
    needs_data: bool = True
    needs_targets: bool = False
    changes_weights: bool = False
    init: Optional[str] = None
    mode: str = "train"
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __call__(self, model, batch, ctx):
        return self.fn(model, batch, ctx)


class _ProxyRegistry(Registry):
    """A :class:`~nascore.registry.Registry` that accepts only :class:`ProxySpec` objects."""

    def _add(self, name: str, obj) -> None:
        if not isinstance(obj, ProxySpec):
            raise TypeError(f"proxy {name!r}: register proxies with @register_proxy({name!r}, ...), "
                            f"not PROXIES.register (got {type(obj).__name__})")
        super()._add(name, obj)

    def option_names(self) -> set:
        """Every option key declared by a registered proxy."""
        return {k for n in self.names() for k in self.get(n).options}


PROXIES: Registry[ProxySpec] = _ProxyRegistry("proxy")


def register_proxy(name: str, *, higher_is_better: bool = True, needs_data: bool = True,
                   needs_targets: bool = False, changes_weights: bool = False,
                   init: Optional[str] = None, mode: str = "train",
                   options: Optional[Mapping[str, Any]] = None):
    """Decorator registering ``fn(model, batch, ctx)`` in :data:`PROXIES` as a :class:`ProxySpec`.

    Args:
        name: the registry name.
        higher_is_better, needs_data, needs_targets, changes_weights, init, mode: see
            :class:`ProxySpec`.
        options: the option keys the proxy reads from ``ctx.options``, with their defaults; the
            harness fills the defaults and rejects keys no registered proxy declares.

    Example:
        >>> @register_proxy("my_params", needs_data=False, mode="eval")   # doctest: +SKIP
        ... def my_params(model, batch, ctx):
        ...     return float(sum(p.numel() for p in model.parameters()))

    Raises:
        ValueError: for an unknown ``init``/``mode`` or a duplicate name.
    """
    if init not in INIT_SCHEMES:
        raise ValueError(f"proxy {name!r}: init must be one of {INIT_SCHEMES}, got {init!r}")
    if mode not in MODES:
        raise ValueError(f"proxy {name!r}: mode must be one of {MODES}, got {mode!r}")
    opts = MappingProxyType(dict(options or {}))

    def deco(fn):
        PROXIES.register(name, ProxySpec(name, fn, higher_is_better, needs_data, needs_targets,
                                         changes_weights, init, mode, opts))
        return fn

    return deco


@dataclass
class ProxyContext:
    """What a proxy may use besides the model and the batch.

    Attributes:
        seed: the harness seed.
        generator: a ``torch.Generator`` on the inputs' device, seeded with ``seed``; proxies
            draw all their randomness from it (:meth:`randn`, :meth:`rademacher`).
        options: the proxy's declared options (defaults filled in, caller's values on top).
        shared: a cache that :func:`nascore.proxies.score_many` shares between proxies that
            see the same model object, so e.g. ``snip`` and ``grad_norm`` reuse one backward.
        discovery: how layers were found, e.g. ``{"attention": "structure", "blocks":
            "class_names"}`` (set by :meth:`layers` and block discovery).
    """

    seed: int = 0
    generator: Optional[torch.Generator] = None
    options: Dict[str, Any] = field(default_factory=dict)
    shared: Dict[Any, Any] = field(default_factory=dict)
    discovery: Dict[str, str] = field(default_factory=dict)

    def layers(self, model, x: torch.Tensor):
        """Attention/MLP layers of ``model`` (:func:`nascore.proxies.layers.discover`); records
        the discovery path in :attr:`discovery` (``"attention"``)."""
        found = discover(model, x)
        self.discovery["attention"] = found.method
        return found

    @property
    def layers_method(self) -> str:
        """:attr:`discovery` as one string, ``"attention=structure; blocks=class_names"``."""
        return "; ".join(f"{k}={v}" for k, v in sorted(self.discovery.items()))

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
        value: the score; ``nan`` whenever ``status`` is not ``"ok"``.
        time_s: wall time of the proxy including the harness's copy/re-init.
        status: a key of :data:`STATUSES` (``"ok"``: finite value).
        error: why it failed (``type: message`` for an exception), empty when ok.
        extra: named components (e.g. AZ-NAS's expressivity/progressivity/trainability).
        higher_is_better: copied from the proxy's metadata.
        layers: how layers were found, ``"attention=structure|names; blocks=class_names|
            containers"`` (the parts the proxy uses; empty when it looks for none).
    """

    name: str
    value: float
    time_s: float
    status: str = "ok"
    error: str = ""
    extra: Dict[str, float] = field(default_factory=dict)
    higher_is_better: bool = True
    layers: str = ""

    @property
    def ok(self) -> bool:
        """Whether the value is finite and no error occurred."""
        return self.status == "ok"
