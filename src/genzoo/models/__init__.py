"""Generative families, one file each; importing this package registers them all."""

from genzoo.models.base import Batch, LossOutput, Method
from genzoo.registry import import_submodules

import_submodules(__name__, __path__)

__all__ = ["Batch", "LossOutput", "Method"]
