"""Code versions: what a cached score's key and a result file's provenance record of the code.

* :func:`proxy_version` is part of each cached score's key: a hash of one proxy's module and
  everything it imports from ``nascore``, so editing a proxy or a primitive it uses
  invalidates exactly its scores;
* :func:`builder_version` hashes the network-builder and minibatch sources (part of the
  notebook-02 cache namespace);
* :func:`code_version` hashes every proxy and network-builder source (recorded in provenance).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from ..cache import module_closure, source_hash
from ..paths import repo_root
from .base import PROXIES

_BUILDER_FILES = ("nascore/bench/_nb201_torch.py", "nascore/bench/nb201.py", "nascore/bench/vit.py",
                  "nascore/bench/images.py")


def _hash_files(rels) -> str:
    h = hashlib.sha1()
    root = repo_root()
    for rel in rels:
        p = root / rel
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p]
        for f in files:
            if f.is_file():
                h.update(f.relative_to(root).as_posix().encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:12]


def code_version() -> str:
    """12-hex SHA-1 of every proxy and network-builder source (recorded in provenance)."""
    return _hash_files(("nascore/proxies",) + _BUILDER_FILES)


def builder_version() -> str:
    """12-hex SHA-1 of the network-builder and minibatch sources (part of the cache namespace)."""
    return _hash_files(_BUILDER_FILES)


def proxy_version(name: str) -> str:
    """Code version of proxy ``name``: :func:`source_hash` of its module, the harness that runs
    it, and everything they import from ``nascore`` (:func:`module_closure`), plus the bytes of
    the data files its module lists in ``VERSION_FILES``.

    Raises:
        KeyError: for an unknown proxy.
    """
    fn = PROXIES.get(name).fn
    base = source_hash(module_closure([fn.__module__, "nascore.proxies.harness"]))
    files = getattr(sys.modules[fn.__module__], "VERSION_FILES", ())
    if not files:
        return base
    h = hashlib.sha1(base.encode())
    for f in files:  # data a proxy reads (hybrid v2's calibration): editing it re-scores
        h.update(Path(f).read_bytes())
    return h.hexdigest()[:12]
