"""Image corruptions for inpainting: known-pixel masks, noise on the unknown pixels, and the
neighbour-interpolation baseline.

A *mask* marks the known pixels (True) of images (C, H, W). The seed corruption is Gaussian noise
on the even rows (rows 0, 2, 4, ...: :func:`rows_mask`); :func:`half_mask` hides one half.
``even-rows-additive`` is the MLP-EBM project's: the same noisy rows (std 0.3 of the pixel
range, clipped), read as noisy *observations* of the clean rows (:data:`OBSERVED`), so a
restoration weighs them against the model instead of discarding them.
:func:`neighbour_interpolation` fills each unknown pixel linearly from the nearest known pixels
above and below it in its column: for the even-rows corruption, the mean of the two neighbouring
rows, the baseline an inpainting model has to beat.

Example:
    >>> x = torch.rand(4, 1, 28, 28) * 2 - 1                       # images in [-1, 1]
    >>> known = make_mask("even-rows", (1, 28, 28))
    >>> known[0, :4, 0]                                            # rows 0, 2, ... unknown
    tensor([False,  True, False,  True])
    >>> x_c = corrupt(x, known, noise_std=0.5, value_range=(-1.0, 1.0))
    >>> torch.equal(x_c[:, known], x[:, known])                    # known pixels untouched
    True
    >>> baseline = neighbour_interpolation(x_c, known)
    >>> mean_of_neighbours = (x[:, :, 1] + x[:, :, 3]) / 2          # rows above and below row 2
    >>> torch.allclose(baseline[:, :, 2], mean_of_neighbours)
    True
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from genzoo.errors import UserError

Corruption = Literal["even-rows", "even-rows-additive", "top-half", "bottom-half", "left-half",
                     "right-half"]
CORRUPTIONS = ("even-rows", "even-rows-additive", "top-half", "bottom-half", "left-half",
               "right-half")
#: corruptions whose corrupted pixels are noisy observations of the clean ones (x + noise,
#: clipped), which a restoration may use as evidence, rather than values to be discarded
OBSERVED = frozenset({"even-rows-additive"})
#: the default noise std (a fraction of the pixel range) of each corruption: 0.3 is the
#: MLP-EBM project's (even rows + 0.3 N(0, 1), clipped to [0, 1])
DEFAULT_NOISE = {"even-rows-additive": 0.3}


def rows_mask(shape: tuple[int, int, int], parity: Literal["even", "odd"] = "even") -> Tensor:
    """Known-pixel mask (C, H, W): every row known except the even (0, 2, ...) or odd ones."""
    c, h, w = shape
    unknown_rows = torch.arange(h) % 2 == (0 if parity == "even" else 1)
    return (~unknown_rows).view(1, h, 1).expand(c, h, w).clone()


def half_mask(shape: tuple[int, int, int], hidden: str = "bottom") -> Tensor:
    """Known-pixel mask (C, H, W) with the ``hidden`` half (top, bottom, left, right) unknown."""
    c, h, w = shape
    known = torch.ones(c, h, w, dtype=torch.bool)
    if hidden == "top":
        known[:, : h // 2] = False
    elif hidden == "bottom":
        known[:, h // 2:] = False
    elif hidden == "left":
        known[:, :, : w // 2] = False
    elif hidden == "right":
        known[:, :, w // 2:] = False
    else:
        raise ValueError(f"unknown half {hidden!r}")
    return known


def make_mask(corruption: Corruption, shape: tuple[int, int, int]) -> Tensor:
    """The known-pixel mask of a named corruption."""
    if corruption in ("even-rows", "even-rows-additive"):
        return rows_mask(shape)
    if corruption in CORRUPTIONS:
        return half_mask(shape, corruption.split("-")[0])
    raise UserError(f"unknown corruption {corruption!r}; choose from {', '.join(CORRUPTIONS)}")


def corrupt(x: Tensor, known: Tensor, noise_std: float, value_range: tuple[float, float],
            generator: torch.Generator | None = None) -> Tensor:
    """x (B, C, H, W) with Gaussian noise of std ``noise_std`` (a fraction of the value range)
    added to the unknown pixels, clamped to ``value_range``; known pixels are untouched."""
    low, high = value_range
    noise = torch.randn(x.shape, generator=generator, device=x.device) * noise_std * (high - low)
    return torch.where(known, x, (x + noise).clamp(low, high))


def neighbour_interpolation(x: Tensor, known: Tensor) -> Tensor:
    """Each unknown pixel of x (B, C, H, W) linearly interpolated between the nearest known
    pixels above and below it in its column (copied from the one that exists at an edge); a
    column with no known pixel gets the mean of the image's known pixels. Known pixels are
    returned unchanged."""
    b, c, h, w = x.shape
    mask = known.expand(b, c, h, w)
    rows = torch.arange(h, device=x.device).view(1, 1, h, 1).expand(b, c, h, w)
    minus = torch.full_like(rows, -1)
    above = torch.where(mask, rows, minus).cummax(dim=2).values  # nearest known row <= r
    below_flipped = torch.where(mask, rows, torch.full_like(rows, h)).flip(2)
    below = below_flipped.cummin(dim=2).values.flip(2)  # nearest known row >= r
    has_above, has_below = above >= 0, below < h
    value_above = x.gather(2, above.clamp(min=0))
    value_below = x.gather(2, below.clamp(max=h - 1))
    span = (below - above).clamp(min=1).to(x.dtype)
    weight_below = (rows - above).to(x.dtype) / span
    both = value_above + weight_below * (value_below - value_above)
    counts = mask.flatten(1).sum(1).clamp(min=1)
    image_mean = (x * mask).flatten(1).sum(1) / counts
    fallback = image_mean.view(b, 1, 1, 1).expand(b, c, h, w)
    filled = torch.where(has_above & has_below, both,
                         torch.where(has_above, value_above,
                                     torch.where(has_below, value_below, fallback)))
    return torch.where(mask, x, filled)
