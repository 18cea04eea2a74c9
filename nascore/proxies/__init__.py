"""Zero-shot proxies: one registry (:data:`PROXIES`) and one harness (:func:`score`).

Every proxy has the signature ``fn(model, batch, ctx) -> float | dict``, is registered with
:func:`register_proxy` and is run through :func:`score`, which owns seeding, re-initialisation,
train/eval mode, copying, timing and failure recording (named statuses, :data:`STATUSES`).
A new proxy is one new file in this folder: the package imports every module it holds
(:func:`nascore.registry.import_submodules`), so no import line needs editing.
Proxy files compose shared primitives from :mod:`.signals` (and layer discovery from
:mod:`.layers`); they never import each other. See each proxy's docstring for its definition, whether higher is better,
and how the loss/activations are taken for dense (segmentation) outputs.
"""

from ..registry import import_submodules
from .aggregate import rank_aggregate
from .base import (PROXIES, STATUSES, ProxyContext, ProxyFailure, ProxyResult, ProxySpec,
                   register_proxy)
from .harness import score, score_many, status_table

#: Every module of this package, imported: a proxy file added here registers itself.
PLUGINS = import_submodules(__name__, __path__)

__all__ = ["PROXIES", "STATUSES", "ProxyContext", "ProxyFailure", "ProxyResult", "ProxySpec",
           "register_proxy", "score", "score_many", "status_table", "rank_aggregate"]
