"""RealNVP: a normalizing flow of affine coupling layers with exact likelihood and sampling.

An invertible map f with a triangular Jacobian takes data x to z = f(x) ~ N(0, I), and by the
change of variables (Dinh et al. 2017, eq. (3))::

    log p(x) = log N(f(x); 0, I) + log |det df/dx|

``forward(x)`` returns ``(z, log|det df/dx|)``; ``inverse(z)`` returns ``(x, log|det df^-1/dz|)``;
``sample`` draws z ~ N(0, T^2 I) (temperature T) and inverts.

Images (datasets with a value range, e.g. 8-bit MNIST): batches arrive as ``x = k / (L - 1)``
in [0, 1] (L = 256 levels); the loss dequantizes them uniformly, ``v = (k + u) / L`` with
u ~ U[0, 1)^D, and the flow's first layer is the logit transform
``y = logit(alpha + (1 - 2 alpha) v)`` (section 4.1), whose log-det is part of the flow, so
``log_prob(v)`` is the exact density of the dequantized data in the [0, 1] pixel space. The
loss and the validation number is bits per dimension of the discrete data,
``(-log p(v) + D ln L) / (D ln 2)`` (:func:`genzoo.metrics.likelihood.bits_per_dim`; for
8-bit images ``-log p(v) / (D ln 2) + 8``), an upper bound on ``-log2 P(k) / D`` in
expectation. Samples are quantized back to the L levels.

Multi-scale architecture (section 3.6): each scale but the last is 3 affine couplings with
alternating checkerboard masks, a squeeze (C, H, W) -> (4C, H/2, W/2), 3 couplings with
alternating channel masks, then half of the channels are factored out (they are latent
variables); the last scale is 4 checkerboard couplings. The s/t networks are small ResNets
(:class:`~genzoo.nets.coupling_resnet.CouplingResNet`, ``width`` channels, ``blocks`` blocks);
``s = scale * tanh(raw)`` with a learned per-channel scale keeps the log-scales bounded. A
normalization layer (``norm``) precedes every coupling: ActNorm (Glow's, initialized from the
data in :meth:`RealNVP.setup`), batch norm with running averages in eval mode (the paper's
choice, section 3.7), or none.

Inpainting (``genzoo inpaint RUN``): ``log_prob`` is differentiable in x, so the unknown pixels
follow Langevin dynamics (or, with no noise, gradient ascent) on ``d log p / dx`` in the [0, 1]
pixel space with the known ones fixed; the chain's settings are ``model.inpaint``.

Vectors (2-D toys, no value range): no dequantization or logit; ``num_couplings`` couplings with
alternating masks over the features, s/t networks from ``net`` (an MLP by default).

References:
    Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP", ICLR 2017: change of
    variables eq. (3), affine coupling eqs. (6)-(9), multi-scale section 3.6, batch
    normalization section 3.7, dequantization and logit transform section 4.1.
    Kingma & Dhariwal, "Glow: Generative Flow with Invertible 1x1 Convolutions", NeurIPS 2018
    (ActNorm, section 3.1; zero-initialized couplings, section 3.3; temperature, section 5).

Example:
    >>> import genzoo
    >>> run = genzoo.train("realnvp-toy", ["train.steps=20"], quiet=True)   # 20 of 2000
    >>> m = genzoo.load(run)
    >>> x = m.sample(1000, temperature=0.8)                    # z ~ N(0, 0.8^2 I), inverted
    >>> m.log_prob(x).shape                                    # exact log p(x)
    torch.Size([1000])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from genzoo.config import param
from genzoo.data.base import Dataset, DatasetInfo
from genzoo.data.transforms import dequantize
from genzoo.errors import ConfigError
from genzoo.metrics.likelihood import bits_per_dim
from genzoo.models.base import Batch, LossOutput, Method, TemperatureOptions
from genzoo.nets.base import NetConfig
from genzoo.nets.coupling_resnet import CouplingResNet
from genzoo.nets.invertible import (
    ActNorm,
    AffineCoupling,
    BatchNormFlow,
    Chain,
    Level,
    LogitTransform,
    Squeeze,
    Transform,
    alternating_mask,
    channel_mask,
    checkerboard_mask,
)
from genzoo.nets.mlp import MLPConfig
from genzoo.registry import methods
from genzoo.samplers.inpaint import InpaintConfig

INIT_BATCH = 256  # training items that initialize ActNorm in setup()


@dataclass
class RealNVPConfig:
    """``model:`` section of a RealNVP preset."""

    alpha: float = param(0.05, "images: logit transform y = logit(alpha + (1 - 2 alpha) x)",
                         ge=0, lt=0.5)
    levels: int | None = param(None, "images: discrete values L per pixel; null: hi - lo + 1 of "
                               "the dataset's value range (256 for 8-bit images)", ge=2)
    num_scales: int = param(2, "images: scales of (3 checkerboard couplings, squeeze, 3 "
                            "channel couplings, factor out half); the last is 4 checkerboard "
                            "couplings", ge=1)
    width: int = param(64, "images: channels of the s/t ResNets", ge=1)
    blocks: int = param(2, "images: residual blocks of each s/t ResNet", ge=0)
    num_couplings: int = param(8, "vectors: couplings with alternating masks", ge=1)
    net: NetConfig = param(default_factory=lambda: MLPConfig(width=64, depth=2, act="relu"),
                           help="vectors: s/t network, masked x (D) -> (raw s, t) (2D)")
    norm: Literal["actnorm", "batchnorm", "none"] = param(
        "actnorm", "normalization layer before every coupling")
    bn_momentum: float = param(0.05, "batchnorm: momentum of the running averages", gt=0, le=1)
    temperature: float = param(1.0, "std of the base Gaussian when sampling (override: "
                               "sampler.temperature)", ge=0)
    inpaint: InpaintConfig = param(default_factory=InpaintConfig,
                                   help="images: Langevin settings of `genzoo inpaint`")


@methods.register("realnvp")
class RealNVP(Method):
    """RealNVP flow; ``loss`` is bits/dim of the dequantized images, or the NLL of vectors."""

    Config = RealNVPConfig
    data_range = (0.0, 1.0)
    capabilities = frozenset({"sample", "log_prob"})
    SampleOptions = TemperatureOptions
    name = "realnvp"

    def __init__(self, cfg: RealNVPConfig, info: DatasetInfo) -> None:
        super().__init__(cfg, info)
        self.dim = math.prod(info.shape)
        # data with a value range are integers lo..hi: L = hi - lo + 1 levels (256 for uint8)
        self.levels = None if info.value_range is None else \
            cfg.levels or round(info.value_range[1] - info.value_range[0]) + 1
        prefix: list[Transform] = [] if self.levels is None else [LogitTransform(cfg.alpha)]
        if len(info.shape) == 3:
            self.flow = Chain([*prefix, self._image_level(info.shape, cfg.num_scales)])
        elif len(info.shape) == 1:
            steps = [self._step(alternating_mask(self.dim, k % 2))
                     for k in range(cfg.num_couplings)]
            self.flow = Chain([*prefix, *(layer for step in steps for layer in step)])
        else:
            raise ConfigError(f"method 'realnvp' models images (C, H, W) or vectors (D,); "
                              f"dataset {info.name!r} has items of shape {info.shape}")

    # ------------------------------------------------------------------ architecture
    def _step(self, mask: Tensor) -> list[Transform]:
        """A normalization layer (if any) and an affine coupling with ``mask``."""
        c = mask.shape[1]
        if mask.dim() == 4:
            net = CouplingResNet(c, 2 * c, self.cfg.width, self.cfg.blocks)
        else:
            net = self.cfg.net.build((c,), 2 * c)
        norm: list[Transform] = {"actnorm": [ActNorm(c)], "none": [],
                                 "batchnorm": [BatchNormFlow(c, self.cfg.bn_momentum)]
                                 }[self.cfg.norm]
        return [*norm, AffineCoupling(mask, net)]

    def _image_level(self, shape: tuple[int, ...], scales: int) -> Level:
        """The scale taking (C, H, W) and, recursively, the ``scales - 1`` after it."""
        c, h, w = shape
        if scales == 1:
            steps = [self._step(checkerboard_mask((c, h, w), k % 2)) for k in range(4)]
            return Level(Chain([layer for step in steps for layer in step]), (c, h, w))
        if h % 2 or w % 2:
            raise ConfigError(f"model.num_scales={self.cfg.num_scales}: dataset "
                              f"{self.info.name!r} of shape {self.info.shape} cannot be "
                              f"squeezed {self.cfg.num_scales - 1} times (H, W must be divisible "
                              f"by {2 ** (self.cfg.num_scales - 1)})")
        out = (4 * c, h // 2, w // 2)
        steps = [self._step(checkerboard_mask((c, h, w), k % 2)) for k in range(3)]
        squeezed = [self._step(channel_mask(out, k % 2 == 0)) for k in range(3)]
        layers = [layer for step in steps for layer in step] + [Squeeze()] + \
            [layer for step in squeezed for layer in step]
        return Level(Chain(layers), out, self._image_level((2 * c, h // 2, w // 2), scales - 1))

    # ------------------------------------------------------------------ the flow
    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """z = f(x) (B, D) and log |det df/dx| (B,) for x (B, *shape) in data space."""
        z, log_det = self.flow(x)
        return z.reshape(len(x), self.dim), log_det

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """x = f^-1(z) (B, *shape) and log |det df^-1/dz| (B,) for z (B, D)."""
        x, log_det = self.flow.inverse(z)
        return x.reshape(len(z), *self.info.shape), log_det

    def base_log_prob(self, z: Tensor) -> Tensor:
        """log N(z; 0, I) (B,) of z (B, D)."""
        return -0.5 * (z.pow(2).sum(1) + self.dim * math.log(2 * math.pi))

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log p(x) (B,) of x (B, *shape) in data space (eq. (3)).

        For images x is a point of the continuous [0, 1] pixel space (a dequantized image, see
        :meth:`dequantize`); bits/dim of the discrete image is
        ``bits_per_dim(log_prob(dequantize(x)), D, levels)``. Differentiable in x and the
        parameters.
        """
        z, log_det = self.forward(x)
        return self.base_log_prob(z) + log_det

    def dequantize(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``(k + u) / L`` (B, *shape) for images x = k / (L - 1), u ~ U[0, 1) per entry."""
        k = torch.round(x * (self.levels - 1))
        return dequantize(k, generator, self.levels).to(x.dtype)

    # ------------------------------------------------------------------ the contract
    def loss(self, batch: Batch) -> LossOutput:
        """Images: bits/dim of a uniformly dequantized batch (metrics ``bits_per_dim`` and
        ``nll``, nats per image of the discrete data, ``bits_per_dim * D ln 2``); vectors: the
        NLL -mean log p(x) in nats per item (metric ``nll``)."""
        if self.levels is None:
            nll = -self.log_prob(batch.x).mean()
            return LossOutput(nll, {"nll": nll.item()})
        bpd = bits_per_dim(self.log_prob(self.dequantize(batch.x)), self.dim, self.levels).mean()
        return LossOutput(bpd, {"bits_per_dim": bpd.item(),
                                "nll": bpd.item() * self.dim * math.log(2)})

    def setup(self, train: Dataset) -> None:
        """Check that images lie on the L levels; data-dependent ActNorm initialization from
        ``INIT_BATCH`` training items (seeded, so every process of a distributed run
        initializes alike)."""
        if self.levels is not None:
            k = self.prepare(train.x[:1000]).x.double() * (self.levels - 1)
            if (k - k.round()).abs().max() > 1e-3:
                raise ConfigError(f"dataset {self.info.name!r} does not hold {self.levels} "
                                  f"evenly spaced levels in {self.info.value_range}; set "
                                  "model.levels to the number of values per pixel")
        if not any(isinstance(m, ActNorm) for m in self.modules()):
            return
        generator = torch.Generator().manual_seed(0)
        index = torch.randperm(len(train), generator=generator)[:INIT_BATCH]
        x = self.prepare(train.x[index]).x
        if self.levels is not None:
            x = self.dequantize(x, generator)
        mode = self.training
        self.train()
        with torch.no_grad():
            self.forward(x.to(self.device))
        self.train(mode)

    @torch.no_grad()
    def draw(self, n: int, y: Tensor | None, options: TemperatureOptions) -> Tensor:
        """``n`` samples (n, *shape): z ~ N(0, T^2 I), x = f^-1(z); images quantized to L levels.
        ``options.temperature`` T overrides ``model.temperature``; T < 1 trades diversity for
        typical-looking samples (Glow, section 5), T = 0 gives f^-1(0)."""
        temperature = self.cfg.temperature if options.temperature is None else \
            options.temperature
        ref = next(self.parameters())
        z = temperature * torch.randn(n, self.dim, device=ref.device, dtype=ref.dtype)
        x, _ = self.inverse(z)
        if self.levels is not None:  # the discrete image whose dequantization cell holds x
            x = (x * self.levels).floor().clamp(0, self.levels - 1) / (self.levels - 1)
        return x.clamp(*self.data_range)
