"""Network configs: a dataclass per backbone, selected by ``name`` in a config section.

A method's config holds ``net: NetConfig``; the section ``{name: cnn, width: 32}`` is validated
against the config class registered as ``cnn`` in ``registry.nets``. Each config builds its
module with ``build(in_shape, out_dim)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.config import param
from genzoo.registry import Registry, nets


class StemSplit:
    """Declares a backbone split at its first layer: ``net(x) == net.from_stem(net.stem(x))``,
    with ``stem`` the first layer (a module or method) and ``from_stem`` the rest. JEM++'s
    proximal SGLD (:func:`~genzoo.samplers.langevin.proximal_sgld`) needs it."""


@dataclass
class NetConfig:
    """Base of network configs; ``name`` picks the registered subclass."""

    registry: ClassVar[Registry] = nets
    name: str = param("", "registered network name (genzoo list nets)")

    def build(self, in_shape: tuple[int, ...], out_dim: int) -> nn.Module:
        """A module mapping (B, *in_shape) to (B, out_dim)."""
        raise NotImplementedError


def activation(name: str, slope: float = 0.2) -> nn.Module:
    """An activation by name: relu, leaky_relu, swish/silu, elu, tanh, softplus."""
    table = {
        "relu": nn.ReLU, "silu": nn.SiLU, "swish": nn.SiLU, "elu": nn.ELU, "tanh": nn.Tanh,
        "softplus": nn.Softplus, "gelu": nn.GELU,
    }
    if name == "leaky_relu":
        return nn.LeakyReLU(slope)
    return table[name]()


ACTIVATIONS = ("relu", "leaky_relu", "silu", "swish", "elu", "tanh", "softplus", "gelu")


def grid_pool(h: Tensor, pool: int) -> Tensor:
    """Average-pool maps (B, c, H, W) to a ``pool`` x ``pool`` grid of cells, flattened to
    (B, c * pool**2); ``pool`` 1 is global average pooling (the plain mean, bit-identical to
    ``h.mean((2, 3))``), larger grids keep the coarse layout of the image. Maps already of
    ``pool`` x ``pool`` cells are flattened as they are (the pooling would be the identity, and
    its backward pass is slow for channels-last maps on CPU)."""
    if pool == 1:
        return h.mean(dim=(2, 3))
    if h.shape[-2:] == (pool, pool):
        return h.flatten(1)
    return F.adaptive_avg_pool2d(h, pool).flatten(1)
