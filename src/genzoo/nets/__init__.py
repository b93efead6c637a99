"""Backbones only (no generative logic); importing this package registers them all."""

from genzoo.nets.base import NetConfig
from genzoo.registry import import_submodules

import_submodules(__name__, __path__)

__all__ = ["NetConfig"]
