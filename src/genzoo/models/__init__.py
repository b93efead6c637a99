"""Generative families, one file each; importing this package registers them."""

from genzoo.models import classifier  # noqa: F401
from genzoo.models.base import Batch, LossOutput, Method

__all__ = ["Batch", "LossOutput", "Method"]
