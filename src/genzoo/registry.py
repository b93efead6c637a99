"""Name -> object registries for methods, networks, datasets, samplers and metrics.

A family registers itself where it is defined::

    @methods.register("classifier")
    class Classifier(Method): ...

Lookups of unknown names raise :class:`~genzoo.errors.ConfigError` listing the valid names.
``load_all()`` imports genzoo's own packages (which fill the registries) and any plugin modules
named in ``$GENZOO_PLUGINS`` (comma-separated), so users can add their own families.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from genzoo.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of objects of one kind (``kind`` is used in error messages)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; without ``obj``, return a decorator."""

        def add(item: T) -> T:
            if name in self._items and self._items[name] is not item:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = item
            return item

        return add if obj is None else add(obj)

    def get(self, name: str) -> T:
        load_all()
        if name not in self._items:
            valid = ", ".join(sorted(self._items)) or "(none)"
            raise ConfigError(f"unknown {self.kind} {name!r}; valid: {valid}")
        return self._items[name]

    def names(self) -> list[str]:
        load_all()
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        load_all()
        return iter(sorted(self._items.items()))

    def __contains__(self, name: object) -> bool:
        load_all()
        return name in self._items


methods: Registry = Registry("method")
nets: Registry = Registry("network")
datasets: Registry = Registry("dataset")
samplers: Registry = Registry("sampler")
metrics: Registry = Registry("metric")

_PACKAGES = ("genzoo.nets", "genzoo.data", "genzoo.models", "genzoo.samplers", "genzoo.metrics")
_loaded = False


def load_all() -> None:
    """Import the packages that register genzoo's objects, then ``$GENZOO_PLUGINS``."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for package in _PACKAGES:
        importlib.import_module(package)
    for plugin in filter(None, os.environ.get("GENZOO_PLUGINS", "").split(",")):
        try:
            importlib.import_module(plugin.strip())
        except ImportError as e:
            raise ConfigError(f"cannot import plugin {plugin!r} from $GENZOO_PLUGINS: {e}") from e
