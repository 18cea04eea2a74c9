"""Zero-shot proxies: one registry (:data:`PROXIES`) and one harness (:func:`score`).

Every proxy has the signature ``fn(model, batch, ctx) -> float | dict``, is registered with
:func:`register_proxy` and is run through :func:`score`, which owns seeding, re-initialisation,
train/eval mode, copying, timing and failure recording (named statuses, :data:`STATUSES`).
Proxy files compose shared primitives from :mod:`.signals` (and layer discovery from
:mod:`.layers`); they never import each other. See each proxy's docstring for its definition, whether higher is better,
and how the loss/activations are taken for dense (segmentation) outputs.
"""

from . import (aznas, basic, dss, gradient, hybrid, hybrid_v2, hybrid_v3, jacob_cov, meco,  # noqa: F401
               naswot, swap, synflow, tenas, zen, zico)  # (registration)
from .aggregate import rank_aggregate
from .base import (PROXIES, STATUSES, ProxyContext, ProxyFailure, ProxyResult, ProxySpec,
                   register_proxy)
from .harness import score, score_many, status_table

__all__ = ["PROXIES", "STATUSES", "ProxyContext", "ProxyFailure", "ProxyResult", "ProxySpec",
           "register_proxy", "score", "score_many", "status_table", "rank_aggregate"]
