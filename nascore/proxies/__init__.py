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

from ..provenance import register_provenance_extra
from ..registry import import_submodules
from .aggregate import rank_aggregate
from .base import (PROXIES, STATUSES, ProxyContext, ProxyFailure, ProxyResult, ProxySpec,
                   register_proxy)
from .harness import score, score_many, status_table

#: Every module of this package, imported: a proxy file added here registers itself.
PLUGINS = import_submodules(__name__, __path__)

from .hybrid import version_record  # noqa: E402 (after the plug-ins: every version registered)
from .versions import code_version, proxy_version  # noqa: E402


def _names_in(value) -> list:
    """The registered proxy names among ``value``'s strings (lists and dicts looked into; a
    ``name@suffix`` objective counts as ``name``)."""
    found = []
    if isinstance(value, str):
        head = value.split("@")[0]
        if head in PROXIES.names():
            found.append(head)
    elif isinstance(value, (list, tuple)):
        for v in value:
            found += _names_in(v)
    elif isinstance(value, dict):
        for v in value.values():
            found += _names_in(v)
    return found


def provenance_versions(config) -> dict:
    """What every result file records of the proxies: the code version of all of them, the
    current ``hybrid`` version (:func:`.hybrid.version_record`) and the code version of each
    proxy named in ``config`` (:func:`.versions.proxy_version`)."""
    names = dict.fromkeys(_names_in(dict(config or {})))
    return {"code_version": code_version(), "hybrid": version_record(),
            "proxies": {n: proxy_version(n) for n in names}}


register_provenance_extra("proxy_versions", provenance_versions)

__all__ = ["PROXIES", "STATUSES", "ProxyContext", "ProxyFailure", "ProxyResult", "ProxySpec",
           "register_proxy", "score", "score_many", "status_table", "rank_aggregate",
           "provenance_versions", "version_record"]
