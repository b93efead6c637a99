"""Invertible layers of RealNVP: affine couplings, masks, squeeze, ActNorm, batch norm, logit.

Every layer is a :class:`Transform`: ``forward(x) -> (y, log_det)`` and
``inverse(y) -> (x, log_det)``, where ``log_det`` (B,) is ``log |det dy/dx|`` of the forward map
and ``log |det dx/dy|`` (its negative) of the inverse. Layers work on images (B, C, H, W) and on
vectors (B, D) alike; "channels" are dimension 1 (the D features of a vector).

:class:`Level` composes them into the multi-scale architecture (Dinh et al. 2017, section 3.6):
a scale's steps, then half of the channels leave as latent variables and the rest go on to the
next scale. Its output is the flat latent z (B, D) of every factored-out part, in order.

References:
    Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP", ICLR 2017: affine
    coupling eqs. (6)-(9), masks eq. (9) and figure 3, squeeze and multi-scale section 3.6,
    batch normalization section 3.7, logit transform section 4.1.
    Kingma & Dhariwal, "Glow: Generative Flow with Invertible 1x1 Convolutions", NeurIPS 2018,
    section 3.1 (ActNorm with data-dependent initialization).

Example:
    >>> layer = ActNorm(3)
    >>> x = torch.randn(8, 3, 4, 4)
    >>> y, log_det = layer(x)              # the first training-mode pass initializes it
    >>> log_det.shape
    torch.Size([8])
    >>> x_back, _ = layer.inverse(y)
    >>> torch.allclose(x_back, x, atol=1e-5)
    True
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genzoo.data.transforms import (
    inverse_logit_transform,
    logit_transform,
    logit_transform_log_det,
)


def _per_channel(p: Tensor, x: Tensor) -> Tensor:
    """A (C,) parameter shaped to broadcast over x (B, C, ...) along dimension 1."""
    return p.view(1, -1, *([1] * (x.dim() - 2)))


def _spatial(x: Tensor) -> int:
    """Positions per channel: H * W for images, 1 for vectors."""
    return x.shape[2:].numel()


class Transform(nn.Module):
    """An invertible map with a tractable log-determinant (see the module docstring)."""

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def inverse(self, y: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError


class Chain(Transform):
    """Layers applied in order; log-determinants add up."""

    def __init__(self, layers: list[Transform]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        log_det = x.new_zeros(len(x))
        for layer in self.layers:
            x, ld = layer(x)
            log_det = log_det + ld
        return x, log_det

    def inverse(self, y: Tensor) -> tuple[Tensor, Tensor]:
        log_det = y.new_zeros(len(y))
        for layer in reversed(self.layers):
            y, ld = layer.inverse(y)
            log_det = log_det + ld
        return y, log_det


# ----------------------------------------------------------------------------- couplings
def checkerboard_mask(shape: tuple[int, int, int], parity: int) -> Tensor:
    """(1, C, H, W) mask, 1 where ``(i + j) % 2 == parity`` (Dinh et al. 2017, figure 3)."""
    c, h, w = shape
    i, j = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return ((i + j) % 2 == parity).float().expand(1, c, h, w).clone()


def channel_mask(shape: tuple[int, int, int], first: bool) -> Tensor:
    """(1, C, H, W) mask, 1 on the first (``first``) or the second half of the channels."""
    c, h, w = shape
    mask = torch.zeros(1, c, h, w)
    mask[:, : c // 2] = 1.0
    return mask if first else 1.0 - mask


def alternating_mask(dim: int, parity: int) -> Tensor:
    """(1, D) mask of a vector coupling, 1 on the features whose index ``% 2 == parity``."""
    return (torch.arange(dim) % 2 == parity).float().view(1, dim)


class AffineCoupling(Transform):
    """``y = b * x + (1 - b) * (x * exp(s(b * x)) + t(b * x))`` for a binary mask ``b``.

    ``net`` maps the masked input (B, C, ...) to (B, 2C, ...), split into ``raw`` and ``t``;
    the log-scale is ``s = scale * tanh(raw)`` with a learned per-channel ``scale`` (bounded,
    for stability). ``log |det dy/dx| = sum((1 - b) * s)`` (Dinh et al. 2017, eqs. (6)-(9)).

    Args:
        mask: (1, C, H, W) or (1, D), 1 where the input passes unchanged.
        net: the s/t network, e.g. :class:`~genzoo.nets.coupling_resnet.CouplingResNet`.
    """

    def __init__(self, mask: Tensor, net: nn.Module) -> None:
        super().__init__()
        self.register_buffer("mask", mask, persistent=False)
        self.net = net
        self.scale = nn.Parameter(torch.ones(mask.shape[1]))

    def _s_t(self, x_masked: Tensor) -> tuple[Tensor, Tensor]:
        raw, t = self.net(x_masked).chunk(2, dim=1)
        free = 1.0 - self.mask
        return _per_channel(self.scale, raw) * torch.tanh(raw) * free, t * free

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        s, t = self._s_t(x * self.mask)
        return x * torch.exp(s) + t, s.flatten(1).sum(1)

    def inverse(self, y: Tensor) -> tuple[Tensor, Tensor]:
        s, t = self._s_t(y * self.mask)  # the masked part passed through: y * b == x * b
        return (y - t) * torch.exp(-s), -s.flatten(1).sum(1)


# ----------------------------------------------------------------------------- reshaping
class Squeeze(Transform):
    """(B, C, H, W) -> (B, 4C, H/2, W/2): each 2x2 square becomes 4 channels (section 3.6).

    A permutation of the entries, so ``log_det = 0``.
    """

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        b, c, h, w = x.shape
        y = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
        return y.reshape(b, 4 * c, h // 2, w // 2), x.new_zeros(b)

    def inverse(self, y: Tensor) -> tuple[Tensor, Tensor]:
        b, c4, h, w = y.shape
        x = y.view(b, c4 // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
        return x.reshape(b, c4 // 4, 2 * h, 2 * w), y.new_zeros(b)


class LogitTransform(Transform):
    """``y = logit(alpha + (1 - 2 alpha) x)`` from pixels x in [0, 1] to the reals (section 4.1).

    ``log |det dy/dx| = sum(log(1 - 2 alpha) - log p - log(1 - p))``, p = alpha + (1 - 2 alpha) x.
    """

    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return logit_transform(x, self.alpha), logit_transform_log_det(x, self.alpha)

    def inverse(self, y: Tensor) -> tuple[Tensor, Tensor]:
        x = inverse_logit_transform(y, self.alpha)
        return x, -logit_transform_log_det(x, self.alpha)


# ----------------------------------------------------------------------------- normalization
class ActNorm(Transform):
    """``y = (x + loc) * exp(log_scale)`` per channel (Glow, section 3.1).

    Data-dependent initialization: the first forward pass in training mode sets ``loc`` and
    ``log_scale`` so that the batch's output has zero mean and unit variance per channel, and
    sets the ``initialized`` buffer, which travels in the state dict (a loaded model is never
    re-initialized). Before that it is the identity. ``log_det = H * W * sum(log_scale)``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(channels))
        self.log_scale = nn.Parameter(torch.zeros(channels))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        """Set loc = -mean and log_scale = -log(std) of x (B, C, ...) per channel."""
        flat = x.transpose(0, 1).flatten(1)
        self.loc.copy_(-flat.mean(1))
        self.log_scale.copy_(-torch.log(flat.std(1, unbiased=False) + 1e-6))
        self.initialized.fill_(True)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.training and not self.initialized:
            self.initialize(x)
        y = (x + _per_channel(self.loc, x)) * torch.exp(_per_channel(self.log_scale, x))
        return y, (_spatial(x) * self.log_scale.sum()).expand(len(x))

    def inverse(self, y: Tensor) -> tuple[Tensor, Tensor]:
        x = y * torch.exp(-_per_channel(self.log_scale, y)) - _per_channel(self.loc, y)
        return x, (-_spatial(y) * self.log_scale.sum()).expand(len(y))


class BatchNormFlow(Transform):
    """Batch normalization as a flow layer (Dinh et al. 2017, section 3.7, eq. (10)).

    ``y = (x - mu) / sqrt(var + eps) * exp(log_gamma) + beta`` per channel, with (mu, var) the
    batch's statistics in training mode (gradients flow through them; the running averages are
    updated with ``momentum``) and the running averages in eval mode, where it is a fixed
    invertible map and ``log_prob`` a normalized density.
    ``log_det = H * W * sum(log_gamma - log(var + eps) / 2)``.

    ``inverse`` always uses the running averages: in training mode the forward map depends on
    the whole batch, so it is not inverted item by item (sampling happens in eval mode).
    """

    def __init__(self, channels: int, momentum: float = 0.05, eps: float = 1e-4) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.log_gamma = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.training:
            flat = x.transpose(0, 1).flatten(1)
            mean, var = flat.mean(1), flat.var(1, unbiased=False)
            with torch.no_grad():
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var, self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        log_scale = self.log_gamma - 0.5 * torch.log(var + self.eps)
        y = (x - _per_channel(mean, x)) * torch.exp(_per_channel(log_scale, x)) \
            + _per_channel(self.beta, x)
        return y, (_spatial(x) * log_scale.sum()).expand(len(x))

    def inverse(self, y: Tensor) -> tuple[Tensor, Tensor]:
        log_scale = self.log_gamma - 0.5 * torch.log(self.running_var + self.eps)
        x = (y - _per_channel(self.beta, y)) * torch.exp(-_per_channel(log_scale, y)) \
            + _per_channel(self.running_mean, y)
        return x, (-_spatial(y) * log_scale.sum()).expand(len(y))


# ----------------------------------------------------------------------------- multi-scale
class Level(Transform):
    """One scale of the multi-scale flow: ``steps``, then half the channels are factored out.

    Forward: x (B, *in_shape) -> h = steps(x) of shape ``out_shape`` (C, H, W); without an
    ``inner`` level, z = h flattened; otherwise the first C/2 channels of h are latent and the
    other C/2 go through ``inner``, and z = [flat first half, inner's z] (B, C * H * W).
    Inverse: the flat z (B, D) back to x.
    """

    def __init__(self, steps: Transform, out_shape: tuple[int, int, int],
                 inner: Level | None = None) -> None:
        super().__init__()
        self.steps, self.inner, self.out_shape = steps, inner, out_shape
        c, h, w = out_shape
        self.kept = c // 2  # channels factored out here when an inner level follows
        self.n_out = self.kept * h * w

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h, log_det = self.steps(x)
        if self.inner is None:
            return h.flatten(1), log_det
        z_inner, ld_inner = self.inner(h[:, self.kept:])
        return torch.cat([h[:, :self.kept].flatten(1), z_inner], 1), log_det + ld_inner

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        c, h, w = self.out_shape
        if self.inner is None:
            return self.steps.inverse(z.reshape(len(z), c, h, w))
        rest, ld_inner = self.inner.inverse(z[:, self.n_out:])
        factored = z[:, :self.n_out].reshape(len(z), self.kept, h, w)
        x, log_det = self.steps.inverse(torch.cat([factored, rest], 1))
        return x, log_det + ld_inner
