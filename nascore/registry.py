"""A small generic registry for extension points (proxies, strategies, blocks)."""

from __future__ import annotations

from typing import Callable, Dict, Generic, Iterator, List, Optional, TypeVar

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
