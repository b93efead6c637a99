"""Small convolutional classifier/critic for 8x8 to 32x32 images, sized for CPUs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn

from genzoo.config import param
from genzoo.errors import ConfigError
from genzoo.nets.base import NetConfig, activation
from genzoo.registry import nets


class SmallCNN(nn.Module):
    """(B, C, H, W) -> (B, out_dim).

    ``stages`` stages of two 3x3 convolutions, the second with stride 2, channels
    ``width * 2**i``; then global average pooling and a linear layer. Optional batch norm after
    each convolution and dropout before the linear layer.
    """

    def __init__(self, in_channels: int, out_dim: int, width: int = 32, stages: int = 2,
                 act: str = "relu", norm: str = "none", dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for i in range(stages):
            c_out = width * 2**i
            for stride in (1, 2):
                layers.append(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=norm == "none"))
                if norm == "batch":
                    layers.append(nn.BatchNorm2d(c_out))
                layers.append(activation(act))
                c_in = c_out
        self.body = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(c_in, out_dim)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features (B, width * 2**(stages-1))."""
        return self.body(x).mean(dim=(2, 3))

    def stem(self, x: Tensor) -> Tensor:
        """The first (linear) convolution: (B, C, H, W) -> (B, width, H, W)."""
        return self.body[0](x)

    def from_stem(self, z: Tensor) -> Tensor:
        """The rest of the network: ``from_stem(stem(x)) == forward(x)``."""
        for layer in list(self.body)[1:]:
            z = layer(z)
        return self.head(self.dropout(z.mean(dim=(2, 3))))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.dropout(self.features(x)))


@dataclass
class SmallCNNConfig(NetConfig):
    """``{name: cnn, width: 32, stages: 2, act: relu, norm: none, dropout: 0.0}``."""

    name: str = "cnn"
    width: int = param(32, "channels of the first stage (doubled at each stage)", ge=1)
    stages: int = param(2, "downsampling stages", ge=1, le=5)
    act: Literal["relu", "leaky_relu", "silu", "swish", "elu", "gelu"] = param("relu",
                                                                             "activation")
    norm: Literal["none", "batch"] = param("none", "normalization after each convolution")
    dropout: float = param(0.0, "dropout before the linear head", ge=0, lt=1)

    def build(self, in_shape: tuple[int, ...], out_dim: int) -> nn.Module:
        if len(in_shape) != 3:
            raise ConfigError(f"net 'cnn' needs image inputs (C, H, W), got shape {in_shape}")
        return SmallCNN(in_shape[0], out_dim, self.width, self.stages, self.act, self.norm,
                        self.dropout)


nets.register("cnn", SmallCNNConfig)
