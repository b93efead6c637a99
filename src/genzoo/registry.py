"""Name -> object registries for methods, networks, datasets and analyses.

A family registers itself where it is defined::

    @methods.register("classifier")
    class Classifier(Method): ...

Lookups of unknown names raise :class:`~genzoo.errors.ConfigError` listing the valid names.
A registry imports only its own package on first use (so a broken model file cannot break data
loading), then the plugin modules named in ``$GENZOO_PLUGINS`` (comma-separated), so users can
add their own families, networks and datasets.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from genzoo.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of objects of one kind (``kind`` is used in error messages)."""

    def __init__(self, kind: str, package: str) -> None:
        self.kind, self.package = kind, package
        self._items: dict[str, T] = {}
        self._loaded = False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            importlib.import_module(self.package)
            load_plugins()

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; without ``obj``, return a decorator."""

        def add(item: T) -> T:
            if name in self._items and self._items[name] is not item:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = item
            return item

        return add if obj is None else add(obj)

    def get(self, name: str) -> T:
        self._load()
        if name not in self._items:
            valid = ", ".join(sorted(self._items)) or "(none)"
            raise ConfigError(f"unknown {self.kind} {name!r}; valid: {valid}")
        return self._items[name]

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        self._load()
        return iter(sorted(self._items.items()))

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items


methods: Registry = Registry("method", "genzoo.models")
nets: Registry = Registry("network", "genzoo.nets")
datasets: Registry = Registry("dataset", "genzoo.data")
analyses: Registry = Registry("analysis", "genzoo.analyze.catalog")


def import_submodules(package_name: str, package_path: list[str]) -> None:
    """Import ``package_name.<module>`` for every module in the package (private ones too), so
    that dropping a file into ``models/`` or ``nets/`` is enough to register what it defines."""
    for info in sorted(pkgutil.iter_modules(package_path), key=lambda m: m.name):
        importlib.import_module(f"{package_name}.{info.name}")

_plugins_loaded = False


def load_plugins() -> None:
    """Import the modules named in ``$GENZOO_PLUGINS`` (once per process)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for plugin in filter(None, os.environ.get("GENZOO_PLUGINS", "").split(",")):
        try:
            importlib.import_module(plugin.strip())
        except ImportError as e:
            raise ConfigError(f"cannot import plugin {plugin!r} from $GENZOO_PLUGINS: {e}") \
                from e
