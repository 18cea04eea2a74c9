"""Where things live: the repository root, the data root (``$NASCORE_DATA``) and report folders."""

from __future__ import annotations

import os
from pathlib import Path

PROFILES = ("smoke", "default", "full")


def repo_root() -> Path:
    """The repository root (the folder holding ``pyproject.toml``), independent of the cwd."""
    here = Path(__file__).resolve().parent
    for p in (here, *here.parents):
        if (p / "pyproject.toml").is_file() and (p / "nascore").is_dir():
            return p
    return here.parent


def data_root() -> Path:
    """The data root: ``$NASCORE_DATA`` if set, else ``<repo>/../shared/data``.

    The path may not exist; callers check and skip or raise with a clear message.
    """
    env = os.environ.get("NASCORE_DATA")
    if env:
        return Path(env).expanduser().resolve()
    return (repo_root().parent / "shared" / "data").resolve()


def has_data(*parts: str) -> bool:
    """Whether ``data_root()/parts...`` exists."""
    return data_root().joinpath(*parts).exists()


def reports_dir(profile: str, notebook: str, create: bool = True) -> Path:
    """``<repo>/reports/<profile>/<notebook>/``.

    Raises:
        ValueError: if ``profile`` is not one of :data:`PROFILES`.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    d = repo_root() / "reports" / profile / notebook
    if create:
        d.mkdir(parents=True, exist_ok=True)
    return d
