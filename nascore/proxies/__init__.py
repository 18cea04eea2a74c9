"""Zero-shot proxies: one registry (:data:`PROXIES`) and one harness (:func:`score`).

Every proxy has the signature ``fn(model, batch, ctx) -> float | dict`` and is run through
:func:`score`, which owns seeding, re-initialisation, train/eval mode, copying, timing and
failure recording. See each proxy's docstring for its definition, whether higher is better,
and how the loss/activations are taken for dense (segmentation) outputs.
"""

from . import (aznas, basic, dss, gradient, hybrid, jacob_cov, meco, naswot, swap,  # noqa: F401
               synflow, tenas, zen, zico)  # (registration)
from .aggregate import rank_aggregate
from .base import PROXIES, ProxyContext, ProxyResult, ProxySpec, register_proxy
from .harness import score, score_many

__all__ = ["PROXIES", "ProxyContext", "ProxyResult", "ProxySpec", "register_proxy", "score",
           "score_many", "rank_aggregate"]
