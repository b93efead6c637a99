"""Generative families, one file each; importing this package registers them all."""

from genzoo._discover import import_submodules
from genzoo.models.base import Batch, LossOutput, Method

import_submodules(__name__, __path__)

__all__ = ["Batch", "LossOutput", "Method"]
