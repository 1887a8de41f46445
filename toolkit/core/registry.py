"""One registry mechanism for everything edgebb looks up by name: backbones, recipes, formats, exporters,
runtimes. Dispatch is a lookup here, never an if-chain over names.

>>> RECIPES = Registry("recipe")
>>> RECIPES.register(Recipe("int8", ...))
>>> RECIPES["int8"]          # or RECIPES.get("int8")
>>> RECIPES["int4"]          # InputError: unknown recipe 'int4'; did you mean: int8?

A registry is a read-only Mapping from name to item, in registration order. One duplicate policy: registering a
name twice is a programming error (ValueError) unless `replace=True` says it is meant.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from .errors import unknown_name

T = TypeVar("T")
_MISSING = object()


class Registry(Mapping, Generic[T]):
    """Items of one kind by name. `key(item)` gives the name an item registers under (its `.name` by default)."""

    def __init__(self, kind: str, key: Callable[[T], str] = lambda item: item.name):
        self.kind = kind
        self._key = key
        self._items: dict[str, T] = {}

    def register(self, item: T, *, replace: bool = False) -> T:
        """Add `item` under its name and return it (so it can decorate a class or function).

        Raises ValueError when the name is taken, unless `replace`."""
        name = self._key(item)
        if name in self._items and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def get(self, name: str, default=_MISSING) -> T:
        """The item called `name`. Unlike dict.get, an unknown name raises InputError listing the close matches,
        unless a `default` is given."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            if default is not _MISSING:
                return default
            raise unknown_name(self.kind, name, list(self._items)) from None

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def names(self, pattern: str | None = None, *, sort: bool = False) -> list[str]:
        """Registered names (in registration order, or sorted), filtered by a shell-style `pattern` ("mobilenet*")."""
        names = sorted(self._items) if sort else list(self._items)
        return [n for n in names if pattern is None or fnmatch.fnmatch(n, pattern)]

    def __repr__(self) -> str:
        return f"<Registry {self.kind}: {', '.join(self._items)}>"
