"""ResNet-18 in its CIFAR form (3x3 stem, no max-pool), with a configurable width.

The stem is a 3x3 convolution of stride 1 to ``width`` channels with batch norm and ReLU; then
four stages of two basic blocks with ``width * (1, 2, 4, 8)`` channels, each stage after the
first halving the resolution with the stride of its first block; average pooling (global, or
to a ``pool`` x ``pool`` grid that keeps the coarse layout) and a linear head. A basic block
is conv3x3 - BN - ReLU - conv3x3 - BN, plus the skip (the identity, or a 1x1 convolution with
BN where the shape changes), then ReLU. For 3x32x32 inputs the maps
are 32, 16, 8, 4 pixels wide; 1x28x28 gives 28, 14, 7, 4. ``width: 64`` is the standard
network (11,173,962 parameters with a 10-way head), the backbone of SimSiam on CIFAR-10.

References:
    He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016 (basic
    blocks, table 1; option B projection shortcuts).
    Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021, appendix (the
    CIFAR variant: 3x3 stem conv, no max-pool).

Example:
    >>> net = ResNet18Config(width=8).build((3, 32, 32), 128)
    >>> net(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 128])
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from genzoo.config import param
from genzoo.errors import ConfigError
from genzoo.nets.base import NetConfig, grid_pool
from genzoo.registry import nets


class BasicBlock(nn.Module):
    """conv3x3(stride) - BN - ReLU - conv3x3 - BN, plus skip, then ReLU:
    (B, c_in, H, W) -> (B, c_out, H / stride, W / stride)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.act = nn.ReLU()
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.skip = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                      nn.BatchNorm2d(c_out))

    def forward(self, x: Tensor) -> Tensor:
        h = self.act(self.bn1(self.conv1(x)))
        return self.act(self.bn2(self.conv2(h)) + self.skip(x))


class ResNet18(nn.Module):
    """(B, C, H, W) -> (B, out_dim); ``features`` gives the pooled (B, 8 * width * pool**2)."""

    def __init__(self, in_channels: int, out_dim: int, width: int = 64, pool: int = 1) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        blocks: list[nn.Module] = []
        c_in = width
        for stage, mult in enumerate((1, 2, 4, 8)):
            for i in range(2):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(BasicBlock(c_in, width * mult, stride))
                c_in = width * mult
        self.blocks = nn.Sequential(*blocks)
        self.pool = pool
        self.head = nn.Linear(c_in * pool * pool, out_dim)

    def features(self, x: Tensor) -> Tensor:
        """The last stage's activations, :func:`grid_pool`-ed: (B, 8 * width * pool**2)."""
        return grid_pool(self.blocks(self.stem(x)), self.pool)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


@dataclass
class ResNet18Config(NetConfig):
    """``{name: resnet18, width: 64, pool: 1}``."""

    name: str = "resnet18"
    width: int = param(64, "channels of the first stage (x2, x4, x8 in the later ones; 64 is "
                       "the standard ResNet-18)", ge=1)
    pool: int = param(1, "average-pool the last maps to a pool x pool grid before the head "
                      "(1: global average pooling, the standard network)", ge=1)

    def build(self, in_shape: tuple[int, ...], out_dim: int) -> nn.Module:
        if len(in_shape) != 3:
            raise ConfigError(f"net 'resnet18' needs image inputs (C, H, W), got shape "
                              f"{in_shape}")
        return ResNet18(in_shape[0], out_dim, self.width, self.pool)


nets.register("resnet18", ResNet18Config)
