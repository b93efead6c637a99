"""Small convolutional nets for 8x8 to 32x32 images, sized for CPUs.

``cnn``: a classifier/critic (3x3 convolutions, global average pooling, linear head).
The DCGAN-style pair, strided convolutions down and transposed convolutions up:
``conv-encoder`` maps images (B, C, H, W) to vectors (B, out_dim); ``deconv`` maps vectors
(B, L) to images, flattened to (B, out_dim) with ``out_dim = C_out * size * size``. They are
the VAE's image backbones (``q(z|x)`` and ``p(x|z)``), and fit a GAN's critic and generator too.
Each stage halves (encoder) or doubles (decoder) the resolution with a 4x4 kernel of stride 2
and padding 1: the kernel size is a multiple of the stride, so the transposed convolutions
overlap evenly (no checkerboard, unlike a 3x3 kernel of stride 2)::

    conv-encoder  (C, 28, 28) -> (w, 14, 14) -> (2w, 7, 7) -> flatten -> [hidden] -> out_dim
    deconv        L -> [hidden] -> (2w, 7, 7) -> (w, 14, 14) -> (C_out, 28, 28) -> flatten

References:
    Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep Convolutional
    Generative Adversarial Networks", ICLR 2016, section 3 (all-convolutional up/down sampling).
    Odena, Dumoulin & Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016.

Example:
    >>> dec = DeconvConfig(width=32, stages=2, size=28).build((100,), 784)
    >>> dec(torch.randn(5, 100)).shape
    torch.Size([5, 784])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn

from genzoo.config import param
from genzoo.errors import ConfigError
from genzoo.nets.base import NetConfig, StemSplit, activation, grid_pool
from genzoo.registry import nets


class SmallCNN(StemSplit, nn.Module):
    """(B, C, H, W) -> (B, out_dim).

    ``stages`` stages of ``convs`` 3x3 convolutions (default two), the last with stride 2,
    channels ``width * 2**i``; then average pooling to a ``pool`` x ``pool`` grid (1: global
    average pooling; more keeps the coarse layout of the image), flattened, and a linear layer.
    Optional batch norm after each convolution and dropout before the linear layer.
    ``last_act: false`` drops the activation after the last convolution, so the features are
    signed (the last batch norm's or convolution's output).
    """

    def __init__(self, in_channels: int, out_dim: int, width: int = 32, stages: int = 2,
                 act: str = "relu", norm: str = "none", dropout: float = 0.0,
                 pool: int = 1, convs: int = 2, last_act: bool = True,
                 slope: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for i in range(stages):
            c_out = width * 2**i
            for stride in (1,) * (convs - 1) + (2,):
                layers.append(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=norm == "none"))
                if norm == "batch":
                    layers.append(nn.BatchNorm2d(c_out))
                layers.append(activation(act, slope))
                c_in = c_out
        if not last_act:
            layers.pop()
        self.body = nn.Sequential(*layers)
        self.pool = pool
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(c_in * pool * pool, out_dim)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features (B, width * 2**(stages-1) * pool**2)."""
        return grid_pool(self.body(x), self.pool)

    def stem(self, x: Tensor) -> Tensor:
        """The first (linear) convolution: (B, C, H, W) -> (B, width, H, W)."""
        return self.body[0](x)

    def from_stem(self, z: Tensor) -> Tensor:
        """The rest of the network: ``from_stem(stem(x)) == forward(x)``."""
        for layer in list(self.body)[1:]:
            z = layer(z)
        return self.head(self.dropout(grid_pool(z, self.pool)))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.dropout(self.features(x)))


@dataclass
class SmallCNNConfig(NetConfig):
    """``{name: cnn, width: 32, stages: 2, convs: 2, act: relu, norm: none, dropout: 0.0,
    pool: 1, last_act: true, slope: 0.2}``."""

    name: str = "cnn"
    width: int = param(32, "channels of the first stage (doubled at each stage)", ge=1)
    stages: int = param(2, "downsampling stages", ge=1, le=5)
    convs: int = param(2, "3x3 convolutions per stage (the last of them strided)", ge=1)
    act: Literal["relu", "leaky_relu", "silu", "swish", "elu", "gelu"] = param("relu",
                                                                             "activation")
    norm: Literal["none", "batch"] = param("none", "normalization after each convolution")
    dropout: float = param(0.0, "dropout before the linear head", ge=0, lt=1)
    pool: int = param(1, "average-pool the last maps to a pool x pool grid before the head "
                      "(1: global average pooling)", ge=1)
    last_act: bool = param(True, "activation after the last convolution (false: signed "
                           "features, the last normalization's output)")
    slope: float = param(0.2, "negative slope of leaky_relu (0.2: JEM's; 0.3: Keras' "
                         "default)", ge=0, lt=1)

    def build(self, in_shape: tuple[int, ...], out_dim: int) -> nn.Module:
        if len(in_shape) != 3:
            raise ConfigError(f"net 'cnn' needs image inputs (C, H, W), got shape {in_shape}")
        return SmallCNN(in_shape[0], out_dim, self.width, self.stages, self.act, self.norm,
                        self.dropout, self.pool, self.convs, self.last_act, self.slope)


nets.register("cnn", SmallCNNConfig)


Activation = Literal["relu", "leaky_relu", "silu", "swish", "elu", "gelu", "softplus"]


class ConvEncoder(nn.Module):
    """(B, C, H, W) -> (B, out_dim): ``stages`` stride-2 4x4 convolutions with channels
    ``width * 2**i``, flattened (no pooling: position stays in the features), an optional
    hidden linear layer, then a linear head."""

    def __init__(self, in_shape: tuple[int, int, int], out_dim: int, width: int = 32,
                 stages: int = 2, hidden: int = 0, act: str = "elu") -> None:
        super().__init__()
        c, h, w = in_shape
        layers: list[nn.Module] = []
        for i in range(stages):
            layers += [nn.Conv2d(c, width * 2**i, 4, 2, 1), activation(act)]
            c, h, w = width * 2**i, h // 2, w // 2
        layers.append(nn.Flatten())
        dim = c * h * w
        if hidden:
            layers += [nn.Linear(dim, hidden), activation(act)]
            dim = hidden
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(dim, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


class ConvDecoder(nn.Module):
    """(B, *in_shape) -> (B, out_channels * size * size): an optional hidden linear layer, a
    linear map to ``(width * 2**(stages-1), size / 2**stages, size / 2**stages)``, then
    ``stages`` stride-2 4x4 transposed convolutions halving the channels, the last to
    ``out_channels`` (no activation after it: the outputs are logits or means). ``norm:
    batch`` puts batch normalization before every hidden activation (the DCGAN generator,
    Radford et al. 2016)."""

    def __init__(self, in_dim: int, out_channels: int, size: int = 28, width: int = 32,
                 stages: int = 2, hidden: int = 0, act: str = "elu", norm: str = "none"
                 ) -> None:
        super().__init__()
        c, base = width * 2 ** (stages - 1), size // 2**stages
        batch = norm == "batch"

        def normed(n: int, two_d: bool) -> list[nn.Module]:
            if not batch:
                return [activation(act)]
            return [nn.BatchNorm2d(n) if two_d else nn.BatchNorm1d(n), activation(act)]

        layers: list[nn.Module] = [nn.Flatten()]
        if hidden:
            layers += [nn.Linear(in_dim, hidden, bias=not batch), *normed(hidden, False)]
            in_dim = hidden
        layers += [nn.Linear(in_dim, c * base * base, bias=not batch),
                   *normed(c * base * base, False), nn.Unflatten(1, (c, base, base))]
        for i in range(stages):
            last = i == stages - 1
            c_out = out_channels if last else c // 2
            layers.append(nn.ConvTranspose2d(c, c_out, 4, 2, 1, bias=last or not batch))
            if not last:
                layers += normed(c_out, True)
            c = c_out
        layers.append(nn.Flatten())
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(z)


@dataclass
class ConvEncoderConfig(NetConfig):
    """``{name: conv-encoder, width: 32, stages: 2, hidden: 0, act: elu}``."""

    name: str = "conv-encoder"
    width: int = param(32, "channels of the first convolution (doubled at each stage)", ge=1)
    stages: int = param(2, "stride-2 convolutions (each halves the resolution)", ge=1, le=5)
    hidden: int = param(0, "units of a hidden linear layer before the head (0: none)", ge=0)
    act: Activation = param("elu", "activation")

    def build(self, in_shape: tuple[int, ...], out_dim: int) -> nn.Module:
        if len(in_shape) != 3:
            raise ConfigError(f"net 'conv-encoder' needs image inputs (C, H, W), got shape "
                              f"{in_shape}")
        if min(in_shape[1:]) < 2**self.stages:
            raise ConfigError(f"net 'conv-encoder': {self.stages} stages need images of at "
                              f"least {2**self.stages} pixels, got {in_shape}")
        c, h, w = in_shape
        return ConvEncoder((c, h, w), out_dim, self.width, self.stages, self.hidden, self.act)


@dataclass
class DeconvConfig(NetConfig):
    """``{name: deconv, size: 28, width: 32, stages: 2, hidden: 0, act: elu, norm: none}``;
    the output channels are ``out_dim / size**2`` (e.g. 1 for Bernoulli logits of a grey
    image, 2 for a Gaussian's mean and log-variance, 3 for an RGB generator)."""

    name: str = "deconv"
    size: int = param(28, "height = width of the output images", ge=1)
    width: int = param(32, "channels before the last transposed convolution (doubled per "
                       "earlier stage)", ge=1)
    stages: int = param(2, "stride-2 transposed convolutions (each doubles the resolution)",
                        ge=1, le=5)
    hidden: int = param(0, "units of a hidden linear layer after the input (0: none)", ge=0)
    act: Activation = param("elu", "activation")
    norm: Literal["none", "batch"] = param("none", "batch: batch normalization before every "
                                           "hidden activation (DCGAN generator)")

    def build(self, in_shape: tuple[int, ...], out_dim: int) -> nn.Module:
        pixels = self.size**2
        if self.size % 2**self.stages or out_dim % pixels:
            raise ConfigError(
                f"net 'deconv' makes {self.size}x{self.size} images in {self.stages} doubling "
                f"stages: size must be a multiple of {2**self.stages} and the output size "
                f"{out_dim} a multiple of {pixels} (set the net's size to the image size)")
        return ConvDecoder(math.prod(in_shape), out_dim // pixels, self.size, self.width,
                           self.stages, self.hidden, self.act, self.norm)


nets.register("conv-encoder", ConvEncoderConfig)
nets.register("deconv", DeconvConfig)
