"""Import every module of a package, so that dropping a file into ``models/`` or ``nets/`` is
enough to register what it defines."""

from __future__ import annotations

import importlib
import pkgutil


def import_submodules(package_name: str, package_path: list[str]) -> None:
    """Import ``package_name.<module>`` for every module in the package (private ones too)."""
    for info in sorted(pkgutil.iter_modules(package_path), key=lambda m: m.name):
        importlib.import_module(f"{package_name}.{info.name}")
