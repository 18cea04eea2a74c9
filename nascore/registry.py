"""A small generic registry for extension points (proxies, strategies, blocks), and the
discovery of plug-in modules: every module of a package is imported, so a new file that
registers itself is found without editing any import line (spawned workers included, as they
import the package too)."""

from __future__ import annotations

import importlib
import os
import pkgutil
from typing import Dict, Generic, Iterable, Iterator, List, Optional, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps unique names to objects.

    Example:
        >>> PROXIES = Registry("proxy")
        >>> @PROXIES.register("params")
        ... def params(model, batch): ...
        >>> PROXIES.names()
        ['params']

    Args:
        kind: what is registered, used in error messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: Dict[str, T] = {}

    def register(self, name: str, obj: Optional[T] = None):
        """Registers ``obj`` under ``name``; usable as a decorator when ``obj`` is None.

        Raises:
            ValueError: if ``name`` is already registered.
        """
        if obj is not None:
            self._add(name, obj)
            return obj

        def deco(o: T) -> T:
            self._add(name, o)
            return o

        return deco

    def _add(self, name: str, obj: T) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in self._items:
            raise ValueError(f"duplicate {self.kind} name {name!r}")
        self._items[name] = obj

    def unregister(self, name: str) -> T:
        """Removes ``name`` and returns its object (e.g. to undo a registration in a test).

        Raises:
            KeyError: naming the unknown entry.
        """
        self.get(name)
        return self._items.pop(name)

    def get(self, name: str) -> T:
        """Returns the object registered as ``name``.

        Raises:
            KeyError: naming the unknown entry and listing the known ones.
        """
        try:
            return self._items[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}") from None

    def names(self) -> List[str]:
        """Registered names, in registration order."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def import_submodules(package: str, path: Iterable[str], skip: Iterable[str] = ()) -> List[str]:
    """Imports every module of ``package`` (found on ``path``, its ``__path__``), in name order.

    Modules whose name starts with ``_`` and ``__main__`` are left out, as are the names in
    ``skip``. Call it from the package's ``__init__`` so that plug-in files register
    themselves, e.g. ``import_submodules(__name__, __path__)``.

    Returns:
        The full names of the modules imported.

    Raises:
        ImportError (or whatever the module raises): a plug-in that fails to import fails the
            package's import, naming the module, rather than vanishing from its registry.
    """
    skip = set(skip)
    names = sorted(m.name for m in pkgutil.iter_modules(list(path))
                   if not m.name.startswith("_") and m.name not in skip)
    out = []
    for name in names:
        full = f"{package}.{name}"
        try:
            importlib.import_module(full)
        except ImportError as e:
            raise ImportError(f"plug-in module {full} failed to import: {e}") from e
        out.append(full)
    return out


def load_plugins(names: Optional[str] = None) -> List[str]:
    """Imports the plug-in modules ``names`` (default: ``$NASCORE_PLUGINS``), comma-separated
    module names importable from the current path; returns the names imported. Called by
    ``import nascore``, so a process that inherits the variable (a spawned worker, a prefill
    job) registers the same plug-ins.

    Raises:
        ImportError: naming the plug-in that failed to import and the variable that named it.
    """
    raw = os.environ.get("NASCORE_PLUGINS", "") if names is None else names
    out = []
    for name in (n.strip() for n in raw.replace(" ", ",").split(",")):
        if not name:
            continue
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise ImportError(f"plug-in {name!r} (named in NASCORE_PLUGINS) failed to import: "
                              f"{e}") from e
        out.append(name)
    return out
