"""Convolutional encoder and decoder with a spatial latent grid (the VQ-VAE's backbones).

Unlike ``conv-encoder`` / ``deconv``, which map images to and from flat vectors, these keep a
grid: ``stages`` strided 4x4 convolutions (stride 2, padding 1) halve the resolution each, a 3x3
convolution and ``res_blocks`` residual blocks (ReLU, 3x3, ReLU, 1x1, as in van den Oord et al.
2017, section 4.1) follow, and a 1x1 convolution gives ``latent_dim`` channels per cell::

    SpatialEncoder  (C, 28, 28) -> (w, 14, 14) -> (w, 7, 7) -> res blocks -> (D, 7, 7)
    SpatialDecoder  (D, 7, 7) -> (w, 7, 7) -> res blocks -> (w, 14, 14) -> (C, 28, 28)

References:
    van den Oord, Vinyals & Kavukcuoglu, "Neural Discrete Representation Learning", NeurIPS
    2017, section 4.1 (the encoder/decoder of the image experiments).

Example:
    >>> enc, dec = SpatialEncoder(1, 16, width=32, stages=2), SpatialDecoder(16, 1, 32, 2)
    >>> z = enc(torch.rand(5, 1, 28, 28)); z.shape
    torch.Size([5, 16, 7, 7])
    >>> dec(z).shape
    torch.Size([5, 1, 28, 28])
"""

from __future__ import annotations

from torch import Tensor, nn


class ResidualBlock(nn.Module):
    """x + conv1x1(relu(conv3x3(relu(x)))), channels kept; (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, hidden, 3, padding=1),
                                  nn.ReLU(), nn.Conv2d(hidden, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def _res_stack(width: int, blocks: int) -> list[nn.Module]:
    return [ResidualBlock(width, max(width // 2, 1)) for _ in range(blocks)]


class SpatialEncoder(nn.Module):
    """Images (B, C, H, W) -> latent grid (B, latent_dim, H / 2**stages, W / 2**stages)
    (sizes rounded as the strided convolutions round them: 28 -> 14 -> 7 -> 3)."""

    def __init__(self, in_channels: int, latent_dim: int, width: int = 32, stages: int = 2,
                 res_blocks: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for i in range(stages):
            layers += [nn.Conv2d(c_in, width, 4, 2, 1), nn.ReLU()] if i < stages - 1 else \
                [nn.Conv2d(c_in, width, 4, 2, 1)]
            c_in = width
        layers += [nn.Conv2d(c_in, width, 3, padding=1), *_res_stack(width, res_blocks),
                   nn.ReLU(), nn.Conv2d(width, latent_dim, 1)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class SpatialDecoder(nn.Module):
    """Latent grid (B, latent_dim, h, w) -> images (B, out_channels, h * 2**stages, ...),
    unnormalised (logits or means, as the method reads them)."""

    def __init__(self, latent_dim: int, out_channels: int, width: int = 32, stages: int = 2,
                 res_blocks: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(latent_dim, width, 3, padding=1),
                                   *_res_stack(width, res_blocks), nn.ReLU()]
        for i in range(stages):
            last = i == stages - 1
            layers.append(nn.ConvTranspose2d(width, out_channels if last else width, 4, 2, 1))
            if not last:
                layers.append(nn.ReLU())
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(z)
