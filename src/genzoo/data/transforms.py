"""Value-range conversions between stored data and the space a method trains in.

A dataset stores ``x`` in its ``info.value_range`` (e.g. uint8 in ``(0, 255)``); a method trains
in a ``target`` range (e.g. ``(-1, 1)``) or in logit space. Shapes are kept throughout.

Example::

    x = to_float(batch_uint8, (0, 255), target=(-1.0, 1.0))   # (B, C, H, W) float32 in [-1, 1]
    images = from_float(x, (0, 255), target=(-1.0, 1.0))       # back to uint8
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genzoo.errors import ConfigError

Range = tuple[float, float]


def to_float(x: Tensor, value_range: Range | None, target: Range = (0.0, 1.0)) -> Tensor:
    """Map ``x`` linearly from its stored ``value_range`` onto ``target``, as float32.

    Args:
        x: any shape, e.g. uint8 images ``(B, C, H, W)``.
        value_range: the stored range ``(lo, hi)``; ``None`` leaves the values unchanged.
        target: the range ``(a, b)`` that ``lo`` and ``hi`` map to.

    Returns:
        float tensor of the shape of ``x``: ``(x - lo) / (hi - lo) * (b - a) + a``.
    """
    x = x if x.is_floating_point() else x.float()
    if value_range is None:
        return x
    lo, hi = value_range
    a, b = target
    return (x - lo) / (hi - lo) * (b - a) + a


def from_float(x: Tensor, value_range: Range | None, target: Range = (0.0, 1.0)) -> Tensor:
    """Inverse of :func:`to_float`: map ``target`` back onto ``value_range`` and clamp to it.

    Args:
        x: float tensor, any shape, in (about) ``target``.
        value_range: the stored range ``(lo, hi)``; ``None`` returns ``x`` unchanged.
        target: the range ``x`` lives in.

    Returns:
        tensor of the shape of ``x`` clamped to ``[lo, hi]``; rounded to uint8 when the range is
        ``(0, 255)``, float otherwise.
    """
    if value_range is None:
        return x
    lo, hi = value_range
    a, b = target
    y = ((x.float() - a) / (b - a) * (hi - lo) + lo).clamp(lo, hi)
    if tuple(value_range) == (0, 255):
        return y.round().to(torch.uint8)
    return y


def dequantize(x: Tensor, generator: torch.Generator | None = None, levels: int = 256) -> Tensor:
    """Uniform dequantization: ``(x + u) / levels`` with ``u ~ U[0, 1)`` per element.

    Turns integer data ``x`` in ``{0, ..., levels - 1}`` (uint8 images: ``levels = 256``; binary
    images: 2) into continuous values in ``[0, 1)``, so a density on them lower-bounds the
    discrete likelihood (Theis et al., 2016, "A note on the evaluation of generative models").

    Args:
        x: integer tensor, any shape, e.g. ``(B, C, H, W)`` uint8.
        generator: random generator for ``u``.
        levels: number of discrete values.

    Returns:
        float32 tensor of the shape of ``x`` in ``[0, 1)``.
    """
    u = torch.rand(x.shape, generator=generator, device=x.device)
    return (x.float() + u) / levels


def _check_alpha(alpha: float) -> None:
    if not 0.0 <= alpha < 0.5:
        raise ConfigError(f"logit transform needs 0 <= alpha < 0.5, got {alpha}")


def logit_transform(x: Tensor, alpha: float = 0.05) -> Tensor:
    """``logit(alpha + (1 - 2 alpha) x)``: maps ``[0, 1]`` into the reals (RealNVP, Sec. 4.1).

    Args:
        x: tensor in ``[0, 1]``, any shape.
        alpha: margin keeping the logit finite at 0 and 1.

    Returns:
        tensor of the shape of ``x``.

    References:
        L. Dinh, J. Sohl-Dickstein, S. Bengio, "Density estimation using Real NVP", ICLR 2017.
    """
    _check_alpha(alpha)
    p = alpha + (1 - 2 * alpha) * x
    return torch.log(p) - torch.log1p(-p)


def inverse_logit_transform(y: Tensor, alpha: float = 0.05) -> Tensor:
    """Inverse of :func:`logit_transform`: ``(sigmoid(y) - alpha) / (1 - 2 alpha)``."""
    _check_alpha(alpha)
    return (torch.sigmoid(y) - alpha) / (1 - 2 * alpha)


def logit_transform_log_det(x: Tensor, alpha: float = 0.05) -> Tensor:
    """``log |d logit_transform(x) / dx|`` summed over all but the first dimension.

    With ``p = alpha + (1 - 2 alpha) x`` the Jacobian is diagonal with entries
    ``(1 - 2 alpha) / (p (1 - p))``.

    Args:
        x: ``(B, ...)`` in ``[0, 1]``.

    Returns:
        ``(B,)`` log-determinants, to add to a log-density in logit space to get one in ``[0, 1]``.
    """
    _check_alpha(alpha)
    p = alpha + (1 - 2 * alpha) * x
    log_det = math.log(1 - 2 * alpha) - torch.log(p) - torch.log1p(-p)
    return log_det.flatten(1).sum(1)
