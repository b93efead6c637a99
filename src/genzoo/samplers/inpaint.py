"""Langevin inpainting: a chain on the unknown pixels alone, the known ones held fixed.

``x <- where(known, observed, clamp(x + a * grad log p(x) + s * eta))`` under any score (``-dE/dx``
of an EBM, ``d log p / dx`` of a likelihood model). With ``noise_scale = 0`` it is gradient ascent
on log p of the unknown pixels given the known ones (a MAP-like restoration). When the unknown
pixels are noisy observations (``observed_std``), the chain runs on the posterior instead, with
the Gaussian observation term added to the score (weighted by ``observation_weight``: 1 is the
posterior, smaller values trust the prior more, a tempered likelihood).

References:
    Du & Mordatch, "Implicit Generation and Modeling with Energy-Based Models", NeurIPS 2019,
    section 4.4 (image restoration by Langevin dynamics under an EBM).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from genzoo.config import param
from genzoo.data.corruptions import neighbour_interpolation
from genzoo.errors import UserError
from genzoo.samplers.langevin import GradFn, sgld

Init = Literal["interpolate", "corrupted", "noise"]


@dataclass
class InpaintConfig:
    """``model.inpaint``: the Langevin chain that restores pixels under a likelihood model.

    The defaults suit flows on [0, 1] pixels, whose ``d log p / dx`` reaches hundreds per pixel
    (the density of dequantized images is sharp): clipping bounds each step to
    ``step_size * clip_grad`` = 0.01 per pixel whatever the model's scale.
    """

    step_size: float = param(1e-3, "a: multiplies d log p / dx", gt=0)
    noise_scale: float = param(0.01, "s: std of the Gaussian noise per step (0: gradient "
                               "ascent)", ge=0)
    clip_grad: float | None = param(10.0, "clip each gradient entry to [-c, c]", gt=0)


def inpaint(grad_log_p: GradFn, observed: Tensor, known: Tensor, steps: int, step_size: float,
            noise_scale: float, *, init: Init = "interpolate",
            value_range: tuple[float, float] = (-1.0, 1.0), clip_grad: float | None = None,
            observed_std: float | None = None, observation_weight: float = 1.0) -> Tensor:
    """Restore the unknown pixels of ``observed`` (B, C, H, W) by Langevin dynamics.

    ``x <- where(known, observed, clamp(x + a * grad log p(x) + s * eta))``: the chain moves the
    unknown pixels only; the known ones are reset after every step (they never change).

    Args:
        grad_log_p: the model's score (B, C, H, W) -> (B, C, H, W).
        observed: corrupted images in ``value_range``; their unknown pixels are only used by
            ``init = "corrupted"``.
        known: known-pixel mask, broadcastable to ``observed``.
        steps, step_size, noise_scale: the chain (``a`` and ``s``).
        init: where unknown pixels start: neighbour interpolation, the corrupted values, or
            uniform noise over ``value_range``.
        value_range: the model's data range (pixels are clamped to it).
        clip_grad: optional per-pixel clipping of the model's score (not of the observation
            term, which is exact and would otherwise swamp a clipped prior).
        observed_std: the unknown pixels are noisy observations ``observed = x + N(0, std^2)``
            (std in ``value_range`` units): the chain then samples the posterior
            ``p(x | observed)``, its score ``grad log p(x) + w (observed - x) / std^2`` on the
            unknown pixels (the clipping of the corruption to the range is not modelled).
        observation_weight: ``w``, the weight of the observation term (1: the posterior;
            ``w < 1`` is a tempered likelihood, the same as a larger ``observed_std``; 0: the
            prior alone, as without ``observed_std``).
    """
    if observation_weight < 0:
        raise UserError(f"inpaint: observation_weight must be >= 0, got {observation_weight}")
    known = known.to(observed.device).expand_as(observed)
    low, high = value_range
    if init == "interpolate":
        x0 = neighbour_interpolation(observed, known)
    elif init == "corrupted":
        x0 = observed
    elif init == "noise":
        x0 = torch.where(known, observed, torch.rand_like(observed) * (high - low) + low)
    else:
        raise UserError(f"unknown inpainting init {init!r}; choose interpolate, corrupted, noise")

    def keep_known(x: Tensor) -> Tensor:
        return torch.where(known, observed, x)

    precision = None if observed_std is None else observation_weight / observed_std**2

    def score(x: Tensor) -> Tensor:  # the (clipped) model's score, plus the observation's
        g = grad_log_p(x)
        if clip_grad is not None:
            g = g.clamp(-clip_grad, clip_grad)
        if precision is not None:
            g = g + torch.where(known, 0.0, (observed - x) * precision)
        return g

    return sgld(score, x0, steps, step_size, noise_scale, clamp=(low, high), project=keep_known)
