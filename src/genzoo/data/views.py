"""Random views of images for siamese (two-view) self-supervised methods: the augmentation
pipeline and its keys.

A view is one draw of ``t(x)`` for each image x of a batch (B, C, H, W) in [0, 1], the ops of
:mod:`genzoo.data.augment` applied in a fixed order, each skipped when its strength or
probability is 0:

    random resized crop (area ``crop_scale``; multi-crop's small views: ``local_scale`` to
    ``local_size`` x ``local_size``) -> left-right flip -> colour jitter of strength s (grey
    images: brightness and contrast only) -> random greyscale (RGB) -> Gaussian blur ->
    solarization -> random erasing

:func:`image_mixtures` blends views across the batch (Un-Mix). :class:`ViewConfig` holds the
keys; a method's config section derives from it, so they stay keys of its ``model:`` section
(:class:`~genzoo.models.simsiam.SimSiamConfig`).

References:
    Chen, Kornblith, Norouzi & Hinton, "A Simple Framework for Contrastive Learning of Visual
    Representations", ICML 2020, appendix A (crop, flip, colour distortion, blur).
    Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021 (SimSiam's views).
    Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020, appendix B (solarization).
    Caron et al., "Unsupervised Learning of Visual Features by Contrasting Cluster
    Assignments", NeurIPS 2020, section 3.2 (multi-crop).

Example:
    >>> import torch
    >>> cfg = ViewConfig(jitter=0.0)
    >>> random_view(torch.rand(8, 1, 28, 28), cfg).shape
    torch.Size([8, 1, 28, 28])
    >>> random_view(torch.rand(8, 1, 28, 28), cfg, local=True).shape
    torch.Size([8, 1, 14, 14])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor

from genzoo.config import param
from genzoo.data.augment import (
    color_jitter,
    gaussian_blur,
    random_erasing,
    random_flip,
    random_grayscale,
    random_resized_crop,
    solarize,
)
from genzoo.errors import ConfigError


@dataclass
class ViewConfig:
    """The view keys of a siamese method's ``model:`` section: how each view is drawn, and
    how many."""

    crop_scale: tuple[float, float] = param(
        (0.2, 1.0), "random resized crop: range of the box's area fraction ([1, 1]: no crop)")
    flip: float = param(0.5, "probability of a left-right flip", ge=0, le=1)
    jitter: float = param(0.4, "colour jitter strength s: brightness, contrast and saturation "
                          "factors in [1 - s, 1 + s], hue shift up to s / 4 turns (grey images: "
                          "brightness and contrast only; 0: none)", ge=0)
    jitter_p: float = param(0.8, "probability that an image is colour-jittered", ge=0, le=1)
    grayscale: float = param(0.2, "probability that an RGB image is made grey", ge=0, le=1)
    blur: float = param(0.0, "probability that a view is Gaussian-blurred (SimCLR's ImageNet "
                        "recipe: 0.5; 0: none)", ge=0, le=1)
    blur_sigma: tuple[float, float] = param((0.1, 2.0), "range of the blur's standard "
                                            "deviation in pixels")
    solarize: float = param(0.0, "probability that a view is solarized (pixels >= 0.5 "
                            "inverted; BYOL: 0.2; 0: none)", ge=0, le=1)
    erase: float = param(0.0, "probability that a view gets a random rectangle (area 2-33%) "
                         "set to 0 (random erasing; 0: none)", ge=0, le=1)
    views: int = param(2, "global views per image (full-size crops); more than 2: each view "
                       "predicts every other one's z (the loss averages the ordered pairs)",
                       ge=2)
    local_crops: int = param(0, "multi-crop: small views per image beside the global ones (0: "
                             "plain SimSiam)", ge=0)
    local_size: int = param(14, "multi-crop: height = width of the small views", ge=4)
    local_scale: tuple[float, float] = param(
        (0.05, 0.4), "multi-crop: range of the small views' area fraction")

    def validate(self) -> None:
        for key, top in (("crop_scale", 1.0), ("local_scale", 1.0), ("blur_sigma", math.inf)):
            low, high = getattr(self, key)
            if not 0 < low <= high <= top:
                bound = " <= 1" if top == 1 else ""
                raise ConfigError(f"model.{key}: expected 0 < min <= max{bound}, got "
                                  f"{[low, high]}")
        if self.jitter * 0.25 > 0.5:
            raise ConfigError(f"model.jitter: the hue shift s / 4 must be at most half a "
                              f"turn, so s <= 2; got {self.jitter}")


def random_view(x: Tensor, cfg: ViewConfig, local: bool = False) -> Tensor:
    """One random view of each image x (B, C, H, W) in [0, 1], as ``cfg`` says: (B, C, H, W),
    or with ``local`` a small multi-crop view (B, C, local_size, local_size) of area
    ``local_scale``. The ops draw their random numbers in the order of the module docstring,
    on x's device."""
    if local:
        x = random_resized_crop(x, cfg.local_scale, size=cfg.local_size)
    elif cfg.crop_scale[0] < 1:
        x = random_resized_crop(x, cfg.crop_scale)
    if cfg.flip > 0:
        x = random_flip(x, cfg.flip)
    if cfg.jitter > 0 and cfg.jitter_p > 0:
        s = cfg.jitter
        x = color_jitter(x, s, s, s, s / 4, cfg.jitter_p)
    if cfg.grayscale > 0:
        x = random_grayscale(x, cfg.grayscale)
    if cfg.blur > 0:
        x = gaussian_blur(x, cfg.blur_sigma, cfg.blur)
    if cfg.solarize > 0:
        x = solarize(x, cfg.solarize)
    if cfg.erase > 0:
        x = random_erasing(x, cfg.erase)
    return x


def image_mixtures(x: Tensor, lam: Tensor) -> Tensor:
    """``lam_b x_b + (1 - lam_b) x_{B-1-b}``: each image (B, C, H, W) blended with the one at
    the mirrored batch position, weights lam (B,) in [0, 1].

    References:
        Shen et al., "Un-Mix: Rethinking Image Mixtures for Unsupervised Visual Representation
        Learning", AAAI 2022 (mixtures with the batch in reverse order).
    """
    w = lam.view(-1, *([1] * (x.dim() - 1))).to(x.dtype)
    return w * x + (1 - w) * x.flip(0)
