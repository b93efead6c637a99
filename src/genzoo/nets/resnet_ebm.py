"""IGEBM-style residual energy network for images: pre-activation blocks, optional spectral norm.

(B, C, H, W) -> (B, out_dim) with no output activation, so the output is an energy (out_dim = 1)
or one energy per class (label-indexed conditional EBMs, out_dim = K). A 3x3 stem, then
``stages`` stages of ``blocks`` residual blocks (9 blocks with the defaults, as in the IGEBM
CIFAR-10 model), channels ``width * 2**i`` at stage i, 2x2 average pooling between stages; each
block is ``x + conv(act(conv(act(x))))`` (a 1x1 shortcut where the channels change). The head is
``act``, global *sum* pooling over positions (IGEBM) or mean pooling, and a linear layer.
Spectral normalization (Miyato et al. 2018) on every convolution and the head bounds the
network's Lipschitz constant, which IGEBM uses to keep Langevin gradients tame. Smooth
activations (swish) give smooth energy landscapes; leaky ReLU is the IGEBM default.

References:
    Du & Mordatch, "Implicit Generation and Modeling with Energy-Based Models", NeurIPS 2019,
    appendix A (ResNet architectures, spectral normalization, sum pooling).
    He, Zhang, Ren & Sun, "Identity Mappings in Deep Residual Networks", ECCV 2016.
    Miyato, Kataoka, Koyama & Yoshida, "Spectral Normalization for Generative Adversarial
    Networks", ICLR 2018.

Example:
    >>> net = ResNetEnergyConfig(width=16).build((1, 28, 28), 1)
    >>> net(torch.zeros(4, 1, 28, 28)).shape
    torch.Size([4, 1])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from genzoo.config import param
from genzoo.errors import ConfigError
from genzoo.nets.base import NetConfig, activation
from genzoo.registry import nets


def _maybe_sn(layer: nn.Module, on: bool) -> nn.Module:
    return spectral_norm(layer) if on else layer


class ResidualBlock(nn.Module):
    """Pre-activation block ``x + conv2(act(conv1(act(x))))`` with a 1x1 shortcut when
    ``c_in != c_out``; (B, c_in, H, W) -> (B, c_out, H, W)."""

    def __init__(self, c_in: int, c_out: int, act: str, sn: bool) -> None:
        super().__init__()
        self.act1, self.act2 = activation(act), activation(act)
        self.conv1 = _maybe_sn(nn.Conv2d(c_in, c_out, 3, 1, 1), sn)
        self.conv2 = _maybe_sn(nn.Conv2d(c_out, c_out, 3, 1, 1), sn)
        self.shortcut = (nn.Identity() if c_in == c_out
                         else _maybe_sn(nn.Conv2d(c_in, c_out, 1), sn))

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + self.conv2(self.act2(self.conv1(self.act1(x))))


class ResNetEnergy(nn.Module):
    """(B, C, H, W) -> (B, out_dim); see the module docstring for the layout."""

    def __init__(self, in_channels: int, out_dim: int, width: int = 64, stages: int = 3,
                 blocks: int = 3, act: str = "leaky_relu", spectral: bool = False,
                 pool: str = "sum") -> None:
        super().__init__()
        self.stem = _maybe_sn(nn.Conv2d(in_channels, width, 3, 1, 1), spectral)
        layers: list[nn.Module] = []
        c_in = width
        for i in range(stages):
            c_out = width * 2**i
            for _ in range(blocks):
                layers.append(ResidualBlock(c_in, c_out, act, spectral))
                c_in = c_out
            if i < stages - 1:
                layers.append(nn.AvgPool2d(2))
        self.body = nn.Sequential(*layers)
        self.act = activation(act)
        self.pool = pool
        self.head = _maybe_sn(nn.Linear(c_in, out_dim), spectral)

    def features(self, x: Tensor) -> Tensor:
        """Pooled features (B, width * 2**(stages-1))."""
        h = self.act(self.body(self.stem(x)))
        return h.sum(dim=(2, 3)) if self.pool == "sum" else h.mean(dim=(2, 3))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


@dataclass
class ResNetEnergyConfig(NetConfig):
    """IGEBM-style residual energy net: ``{name: resnet-ebm, width: 64, blocks: 3, ...}``.

    Defaults: 3 stages x 3 blocks, leaky ReLU, no spectral norm, sum pooling.
    """

    name: str = "resnet-ebm"
    width: int = param(64, "channels of the first stage (doubled at each stage)", ge=1)
    stages: int = param(3, "stages, 2x2 average pooling between them", ge=1, le=5)
    blocks: int = param(3, "residual blocks per stage", ge=1)
    act: Literal["leaky_relu", "swish", "silu", "elu", "softplus", "relu"] = param(
        "leaky_relu", "activation (leaky ReLU slope 0.2)")
    spectral_norm: bool = param(False, "spectral normalization on every layer")
    pool: Literal["sum", "mean"] = param("sum", "global pooling before the head")

    def build(self, in_shape: tuple[int, ...], out_dim: int) -> nn.Module:
        if len(in_shape) != 3:
            raise ConfigError(f"net 'resnet-ebm' needs image inputs (C, H, W), got shape "
                              f"{in_shape}")
        if min(in_shape[1:]) < 2 ** (self.stages - 1):
            raise ConfigError(f"net 'resnet-ebm': {self.stages} stages pool {in_shape[1:]} "
                              f"images below one pixel")
        return ResNetEnergy(in_shape[0], out_dim, self.width, self.stages, self.blocks,
                            self.act, self.spectral_norm, self.pool)


nets.register("resnet-ebm", ResNetEnergyConfig)
