"""Wide ResNets (pre-activation, no normalization by default), as used by JEM.

WRN-16-4 for 3x32x32 inputs: a 3x3 convolution to 16 channels; six residual blocks of 64, 64,
128 (downsample), 128, 256 (downsample), 256 channels; then LeakyReLU, global average pooling and
a linear layer. Each block is LeakyReLU -> 3x3 conv -> LeakyReLU -> 3x3 conv (stride 2 on the
*second* convolution when downsampling); the skip is the identity when shapes match, else a
bias-free 1x1 convolution with the same stride. 2,747,082 trainable parameters for 10 classes.
The activations of tensors nothing else reads (a block's second, the last one) work in place:
the same numbers, one activation-sized tensor less per block, and about 3% faster Langevin
chains on CPU.

References:
    Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016 (section 2.4: dropout between
    the two convolutions of a block, after the activation).
    Grathwohl et al., "Your Classifier is Secretly an Energy Based Model...", ICLR 2020 (the
    normalization-free WRN-28-10 / WRN-16-4 with LeakyReLU 0.2).

Example:
    >>> net = WRNConfig(depth=16, widen=4).build((3, 32, 32), 10)
    >>> sum(p.numel() for p in net.parameters())
    2747082
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn

from genzoo.config import param
from genzoo.errors import ConfigError
from genzoo.nets.base import NetConfig, StemSplit
from genzoo.registry import nets


def _norm(kind: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if kind == "batch" else nn.Identity()


class WideBlock(nn.Module):
    """Pre-activation residual block: (norm) act conv (norm) act (dropout) conv, plus skip."""

    def __init__(self, c_in: int, c_out: int, stride: int, slope: float, norm: str,
                 dropout: float) -> None:
        super().__init__()
        self.norm1 = _norm(norm, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.norm2 = _norm(norm, c_out)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride, 1)
        self.act = nn.LeakyReLU(slope)  # on the input, which the skip reads too
        self.act_inplace = nn.LeakyReLU(slope, inplace=True)  # on conv1's own output
        same = c_in == c_out and stride == 1
        self.skip = nn.Identity() if same else nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(self.act(self.norm1(x)))
        h = self.conv2(self.dropout(self.act_inplace(self.norm2(h))))
        return h + self.skip(x)


class WideResNet(StemSplit, nn.Module):
    """WRN-``depth``-``widen``: (B, C, H, W) -> (B, out_dim); ``features`` gives (B, 64*widen)."""

    def __init__(self, in_channels: int, out_dim: int, depth: int = 16, widen: int = 4,
                 slope: float = 0.2, norm: str = "none", dropout: float = 0.0,
                 final_act: bool = True) -> None:
        super().__init__()
        per_group = (depth - 4) // 6
        widths = [16 * widen, 32 * widen, 64 * widen]
        self.stem = nn.Conv2d(in_channels, 16, 3, 1, 1)
        blocks: list[nn.Module] = []
        c_in = 16
        for group, width in enumerate(widths):
            for i in range(per_group):
                stride = 2 if group > 0 and i == 0 else 1
                blocks.append(WideBlock(c_in, width, stride, slope, norm, dropout))
                c_in = width
        self.blocks = nn.Sequential(*blocks)
        self.norm = _norm(norm, c_in)
        # on the last block's own output (or none: pooling reads the block's sum directly)
        self.act = nn.LeakyReLU(slope, inplace=True) if final_act else nn.Identity()
        self.head = nn.Linear(c_in, out_dim)

    def _pooled(self, z: Tensor) -> Tensor:
        """The blocks, then norm, activation and global average pooling of the stem's output
        ``z`` (B, 16, H, W) -> (B, 64 * widen)."""
        return self.act(self.norm(self.blocks(z))).mean(dim=(2, 3))

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features (B, 64 * widen): pooled activations of the last block."""
        return self._pooled(self.stem(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    def from_stem(self, z: Tensor) -> Tensor:
        """Everything after the first convolution ``stem``: ``from_stem(stem(x)) == forward(x)``
        (the split JEM++'s proximal SGLD needs)."""
        return self.head(self._pooled(z))


@dataclass
class WRNConfig(NetConfig):
    """``{name: wrn, depth: 16, widen: 4, slope: 0.2, norm: none, dropout: 0.0,
    final_act: true}``."""

    name: str = "wrn"
    depth: int = param(16, "layers: 6 n + 4 (n blocks per group)", ge=10)
    widen: int = param(4, "width multiplier k (groups of 16k, 32k, 64k channels)", ge=1)
    slope: float = param(0.2, "LeakyReLU negative slope (0.2: the JEM paper's; 0.3: Keras' "
                         "default, the JEM project's)", ge=0, lt=1)
    norm: Literal["none", "batch"] = param("none", "normalization before each activation")
    dropout: float = param(0.0, "dropout between the two convolutions of a block", ge=0, lt=1)
    final_act: bool = param(True, "a LeakyReLU after the last block (and its norm), before "
                            "pooling (JEM's code); false: pooling reads the last block's sum "
                            "(the JEM project's network)")

    def validate(self) -> None:
        if (self.depth - 4) % 6:
            raise ConfigError(f"model.net.depth: expected 6n + 4 (10, 16, 22, 28, ...), "
                              f"got {self.depth}")

    def build(self, in_shape: tuple[int, ...], out_dim: int) -> nn.Module:
        if len(in_shape) != 3:
            raise ConfigError(f"net 'wrn' needs image inputs (C, H, W), got shape {in_shape}")
        return WideResNet(in_shape[0], out_dim, self.depth, self.widen, self.slope, self.norm,
                          self.dropout, self.final_act)


nets.register("wrn", WRNConfig)
