"""Backbones only (no generative logic); importing this package registers them all."""

from genzoo._discover import import_submodules
from genzoo.nets.base import NetConfig

import_submodules(__name__, __path__)

__all__ = ["NetConfig"]
