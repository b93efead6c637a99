"""Backbones only (no generative logic); importing this package registers them."""

from genzoo.nets import conv, mlp, resnet  # noqa: F401
from genzoo.nets.base import NetConfig

__all__ = ["NetConfig"]
