"""Code versions of the notebook-02 scores: hashes of the proxy and network-builder sources.

:func:`builder_version` and :func:`proxy_version` are part of each cached score's namespace, so
editing a builder or one proxy invalidates exactly the stale scores; :func:`code_version` is
recorded in provenance.
"""

from __future__ import annotations

import hashlib

from ...paths import repo_root

_BUILDER_FILES = ("nascore/bench/_nb201_torch.py", "nascore/bench/nb201.py", "nascore/bench/vit.py",
                  "nascore/bench/images.py")


def _hash_files(rels) -> str:
    h = hashlib.sha1()
    root = repo_root()
    for rel in rels:
        p = root / rel
        files = sorted(p.glob("*.py")) if p.is_dir() else [p]
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
    """12-hex SHA-1 of one proxy's module and everything it imports from ``nascore``
    (:func:`nascore.cache.proxy_version`); part of each cached score's namespace, so editing a
    proxy or a primitive it uses invalidates exactly its scores."""
    from ...cache import proxy_version as _pv

    return _pv(name)
