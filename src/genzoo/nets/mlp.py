"""Multi-layer perceptron on flattened inputs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn

from genzoo.config import param
from genzoo.nets.base import NetConfig, activation
from genzoo.registry import nets


class MLP(nn.Module):
    """(B, *in_shape) -> (B, out_dim) through ``depth`` hidden layers of ``width`` units."""

    def __init__(self, in_dim: int, out_dim: int, width: int = 256, depth: int = 2,
                 act: str = "silu", dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        dim = in_dim
        for _ in range(depth):
            layers += [nn.Linear(dim, width), activation(act)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            dim = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(dim, out_dim)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features (B, width), or the flattened input when depth is 0."""
        return self.body(x.flatten(1))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


@dataclass
class MLPConfig(NetConfig):
    """``{name: mlp, width: 256, depth: 2, act: silu, dropout: 0.0}``."""

    name: str = "mlp"
    width: int = param(256, "hidden units per layer", ge=1)
    depth: int = param(2, "hidden layers", ge=0)
    act: Literal["relu", "leaky_relu", "silu", "swish", "elu", "tanh", "softplus", "gelu"] = \
        param("silu", "activation")
    dropout: float = param(0.0, "dropout after each hidden layer", ge=0, lt=1)

    def build(self, in_shape: tuple[int, ...], out_dim: int) -> nn.Module:
        return MLP(math.prod(in_shape), out_dim, self.width, self.depth, self.act, self.dropout)


nets.register("mlp", MLPConfig)
