"""Small same-resolution ResNet: the scale and translation network of RealNVP's image couplings.

Maps (B, C_in, H, W) to (B, C_out, H, W) with every layer at the input's resolution: a 3x3
convolution to ``width`` channels, ``blocks`` residual blocks (ReLU -> 3x3 conv -> ReLU -> 3x3
conv, plus the identity), ReLU, and a 3x3 convolution to ``C_out`` channels whose weights and
bias start at zero, so a coupling built on it starts as the identity map (as in Glow, Kingma &
Dhariwal 2018, section 3.3). Not a registered backbone: registered nets map to a flat
(B, out_dim) output, this one keeps the spatial shape.

References:
    Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP", ICLR 2017, section 4.1
    (deep convolutional residual networks for s and t).
    He, Zhang, Ren & Sun, "Identity Mappings in Deep Residual Networks", ECCV 2016
    (pre-activation blocks).

Example:
    >>> net = CouplingResNet(1, 2, width=8, blocks=1)
    >>> net(torch.zeros(3, 1, 4, 4)).shape
    torch.Size([3, 2, 4, 4])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genzoo.nets.resnet_ebm import ResidualBlock


class CouplingResNet(nn.Module):
    """(B, in_channels, H, W) -> (B, out_channels, H, W); the output layer starts at zero."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 64,
                 blocks: int = 2) -> None:
        super().__init__()
        self.head = nn.Conv2d(in_channels, width, 3, padding=1)
        self.blocks = nn.Sequential(*(ResidualBlock(width, width, "relu", sn=False)
                                      for _ in range(blocks)))
        self.out = nn.Conv2d(width, out_channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(torch.relu(self.blocks(self.head(x))))
