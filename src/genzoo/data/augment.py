"""Batch augmentations in torch, applied on the training device.

Example:
    >>> x = torch.rand(8, 1, 28, 28)
    >>> random_crop(x, padding=2, fill=0.0).shape
    torch.Size([8, 1, 28, 28])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def _with_probability(x: Tensor, out: Tensor, p: float) -> Tensor:
    """``out`` for each image of the batch with probability ``p``, else ``x`` (both (B, ...))."""
    apply = torch.rand(len(x), *(1,) * (x.dim() - 1), device=x.device) < p
    return torch.where(apply, out, x)


def random_crop(x: Tensor, padding: int, fill: float = 0.0) -> Tensor:
    """Random translation of each image by up to ``padding`` pixels (pad with ``fill``, crop).

    Args:
        x: images (B, C, H, W).
        padding: the largest shift in each direction.
        fill: the value of the pixels shifted in (the background of the data range).

    Returns:
        (B, C, H, W): ``out[b, :, i, j] = padded[b, :, i + dy_b, j + dx_b]`` with
        ``dy_b, dx_b`` uniform in ``0..2 * padding``.
    """
    if padding <= 0:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (padding,) * 4, value=fill)
    dy = torch.randint(0, 2 * padding + 1, (b, 1, 1), device=x.device)
    dx = torch.randint(0, 2 * padding + 1, (b, 1, 1), device=x.device)
    rows = (dy + torch.arange(h, device=x.device).view(1, h, 1)).expand(b, h, w)
    cols = (dx + torch.arange(w, device=x.device).view(1, 1, w)).expand(b, h, w)
    batch = torch.arange(b, device=x.device).view(b, 1, 1).expand(b, h, w)
    return padded[batch, :, rows, cols].permute(0, 3, 1, 2)


def random_flip(x: Tensor, p: float = 0.5) -> Tensor:
    """Flip each image (B, C, H, W) left-right with probability ``p``."""
    return _with_probability(x, x.flip(-1), p)


def random_resized_crop(x: Tensor, scale: tuple[float, float] = (0.2, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3), tries: int = 10,
                        size: int | None = None) -> Tensor:
    """A random box of each image, resampled to ``size`` x ``size`` (default: the input's
    size) by bilinear interpolation.

    The box is drawn as torchvision's ``RandomResizedCrop`` draws it, batched: up to ``tries``
    candidates per image with area fraction ``s ~ U(scale)`` and aspect ratio (width / height,
    in pixels) ``r ~ exp(U(log ratio))``; the first that fits inside the image is used, at a
    uniform position; an image with no candidate that fits gets the central box of the whole
    image clamped to ``ratio`` (for square images: the whole image). Boxes are continuous (not
    rounded to whole pixels) and resampled with ``F.affine_grid`` / ``F.grid_sample``.

    Args:
        x: images (B, C, H, W), on any device.
        scale: range of the box's area as a fraction of the image's.
        ratio: range of the box's aspect ratio.
        tries: candidate boxes drawn per image.
        size: height = width of the output (multi-crop's small views); None: (H, W).

    Returns:
        (B, C, H, W), or (B, C, size, size): ``scale=(1, 1)`` or ``ratio=(1, 1)`` on square
        images gives ``x`` back (to float rounding) at the input size.

    References:
        Szegedy et al., "Going Deeper with Convolutions", CVPR 2015 (the crop augmentation);
        Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021 (scale
        (0.2, 1) for SimSiam).
    """
    b, _, h, w = x.shape
    opts = {"device": x.device, "dtype": torch.float32}
    area = torch.empty(b, tries, **opts).uniform_(*scale)
    log_r = torch.empty(b, tries, **opts).uniform_(math.log(ratio[0]), math.log(ratio[1]))
    # box width and height as fractions of the image's: fw * fh = area, fw W / (fh H) = r
    fw = (area * log_r.exp() * h / w).sqrt()
    fh = (area / log_r.exp() * w / h).sqrt()
    fits = (fw <= 1) & (fh <= 1)
    first = fits.float().argmax(1, keepdim=True)  # index of the first box that fits
    fw, fh = fw.gather(1, first).squeeze(1), fh.gather(1, first).squeeze(1)
    # the fallback: the whole image, its aspect ratio clamped into ``ratio``
    aspect = w / h
    fall_w = min(1.0, h * ratio[1] / w) if aspect > ratio[1] else 1.0
    fall_h = min(1.0, w / (ratio[0] * h)) if aspect < ratio[0] else 1.0
    ok = fits.any(1)
    fw = torch.where(ok, fw, torch.full_like(fw, fall_w))
    fh = torch.where(ok, fh, torch.full_like(fh, fall_h))
    # centre in normalized coordinates [-1, 1], uniform where the box stays inside
    cx = (1 - fw) * (2 * torch.rand(b, **opts) - 1) * ok
    cy = (1 - fh) * (2 * torch.rand(b, **opts) - 1) * ok
    theta = torch.zeros(b, 2, 3, **opts)
    theta[:, 0, 0], theta[:, 0, 2] = fw, cx
    theta[:, 1, 1], theta[:, 1, 2] = fh, cy
    out_shape = list(x.shape) if size is None else [b, x.shape[1], size, size]
    grid = F.affine_grid(theta.to(x.dtype), out_shape, align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


#: ITU-R BT.601 luma weights of R, G, B (as torchvision's ``rgb_to_grayscale``).
LUMA = (0.299, 0.587, 0.114)
#: RGB -> YIQ (NTSC); its first row is the BT.601 luma.
_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


def _per_image(value: Tensor | float, x: Tensor) -> Tensor:
    """A scalar or (B,) factor shaped (B, 1, 1, 1) to broadcast over images (B, C, H, W)."""
    return torch.as_tensor(value, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)


def grayscale(x: Tensor) -> Tensor:
    """The BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` (B, 1, H, W) of RGB images (B, 3, H, W);
    grey images (B, 1, H, W) are returned as they are."""
    if x.shape[1] == 1:
        return x
    weights = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * weights).sum(1, keepdim=True)


def adjust_brightness(x: Tensor, factor: Tensor | float) -> Tensor:
    """``clamp(factor x, 0, 1)`` for images (B, C, H, W) in [0, 1]; ``factor`` scalar or (B,)."""
    return (x * _per_image(factor, x)).clamp(0, 1)


def adjust_contrast(x: Tensor, factor: Tensor | float) -> Tensor:
    """Blend each image with the mean of its luma: ``clamp(m + factor (x - m), 0, 1)``."""
    mean = grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
    return (mean + _per_image(factor, x) * (x - mean)).clamp(0, 1)


def adjust_saturation(x: Tensor, factor: Tensor | float) -> Tensor:
    """Blend RGB images (B, 3, H, W) with their luma: ``clamp(g + factor (x - g), 0, 1)``."""
    gray = grayscale(x)
    return (gray + _per_image(factor, x) * (x - gray)).clamp(0, 1)


def adjust_hue(x: Tensor, shift: Tensor | float) -> Tensor:
    """Rotate the hue of RGB images (B, 3, H, W) by ``shift`` turns (scalar or (B,); 0.5 is
    half a turn) and clamp to [0, 1].

    The rotation is of the chroma plane (I, Q) of YIQ space about the luma axis Y, so the luma
    is unchanged (up to the clamp); torchvision instead shifts the H of HSV, which agrees in
    direction but not exactly. A shift of 0 is the identity.
    """
    yiq = torch.tensor(_YIQ, dtype=torch.float64)
    to_yiq, to_rgb = yiq.to(x), torch.linalg.inv(yiq).to(x)
    angle = 2 * math.pi * _per_image(shift, x).flatten()
    cos, sin = angle.cos(), angle.sin()
    one, zero = torch.ones_like(cos), torch.zeros_like(cos)
    rotation = torch.stack([torch.stack([one, zero, zero], -1),
                            torch.stack([zero, cos, -sin], -1),
                            torch.stack([zero, sin, cos], -1)], -2)  # (B or 1, 3, 3)
    matrix = to_rgb @ rotation @ to_yiq
    return torch.einsum("bij,bjhw->bihw", matrix.expand(len(x), 3, 3), x).clamp(0, 1)


def color_jitter(x: Tensor, brightness: float = 0.4, contrast: float = 0.4,
                 saturation: float = 0.4, hue: float = 0.1, p: float = 0.8) -> Tensor:
    """Random brightness, contrast, saturation and hue changes, each image with probability
    ``p`` (as torchvision's ``RandomApply([ColorJitter(...)], p)``).

    The factors are drawn per image: brightness, contrast and saturation factors uniform in
    ``[max(0, 1 - s), 1 + s]`` for strength ``s``, the hue shift uniform in ``[-hue, hue]``
    turns (see :func:`adjust_hue`). They are applied in this fixed order (torchvision draws a
    random order per call). Grey images (B, 1, H, W) get brightness and contrast only.

    Args:
        x: images (B, C, H, W) in [0, 1], C = 1 or 3.
        brightness, contrast, saturation: strengths (0: unchanged).
        hue: largest hue shift in turns, at most 0.5.
        p: probability that an image is jittered at all.

    Returns:
        (B, C, H, W) in [0, 1].

    References:
        Chen, Kornblith, Norouzi & Hinton, "A Simple Framework for Contrastive Learning of
        Visual Representations", ICML 2020, appendix A (colour distortion of strength s:
        0.8 s, 0.8 s, 0.8 s, 0.2 s with p = 0.8); SimSiam uses (0.4, 0.4, 0.4, 0.1).
    """
    if x.shape[1] not in (1, 3):
        raise ValueError(f"color_jitter needs grey or RGB images, got {x.shape[1]} channels")
    b = len(x)

    def factors(strength: float) -> Tensor:
        return torch.empty(b, device=x.device, dtype=x.dtype).uniform_(max(0.0, 1 - strength),
                                                                        1 + strength)

    out = x
    if brightness > 0:
        out = adjust_brightness(out, factors(brightness))
    if contrast > 0:
        out = adjust_contrast(out, factors(contrast))
    if x.shape[1] == 3 and saturation > 0:
        out = adjust_saturation(out, factors(saturation))
    if x.shape[1] == 3 and hue > 0:
        out = adjust_hue(out, torch.empty(b, device=x.device, dtype=x.dtype).uniform_(-hue, hue))
    return _with_probability(x, out, p)


def random_grayscale(x: Tensor, p: float = 0.2) -> Tensor:
    """Replace each RGB image (B, 3, H, W) by its BT.601 luma (in all three channels) with
    probability ``p``; grey images are returned as they are."""
    if x.shape[1] == 1:
        return x
    return _with_probability(x, grayscale(x).expand_as(x), p)


def gaussian_blur(x: Tensor, sigma: tuple[float, float] = (0.1, 2.0), p: float = 0.5,
                  kernel_size: int | None = None) -> Tensor:
    """Blur each image (B, C, H, W) with probability ``p`` by a Gaussian of standard deviation
    ``sigma_b ~ U(sigma)`` pixels (one per image, the same for its channels and both axes).

    The kernel is separable, ``kernel_size`` taps (default ``2 * ceil(3 * max(sigma)) + 1``,
    capped at the largest odd size the image allows), normalised to sum 1, with reflect padding
    (as torchvision's ``GaussianBlur``), so a constant image stays constant.

    Args:
        x: images (B, C, H, W).
        sigma: range of the standard deviation in pixels, 0 < low <= high.
        p: probability that an image is blurred.
        kernel_size: odd number of taps; None: from the largest sigma.

    Returns:
        (B, C, H, W).

    References:
        Chen, Kornblith, Norouzi & Hinton, "A Simple Framework for Contrastive Learning of
        Visual Representations", ICML 2020, appendix A (sigma in [0.1, 2.0], p = 0.5).
    """
    low, high = sigma
    if not 0 < low <= high:
        raise ValueError(f"gaussian_blur: expected 0 < sigma low <= high, got {list(sigma)}")
    b, c, h, w = x.shape
    k = kernel_size or 2 * math.ceil(3 * high) + 1
    k = min(k, 2 * ((min(h, w) - 1) // 2) + 1)
    if k < 3 or p <= 0:
        return x
    s = torch.empty(b, 1, device=x.device, dtype=x.dtype).uniform_(low, high)
    taps = torch.arange(k, device=x.device, dtype=x.dtype) - (k - 1) / 2
    kernel = torch.exp(-0.5 * (taps / s) ** 2)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (B * C, k)
    r = k // 2
    out = F.pad(x.reshape(1, b * c, h, w), (r, r, r, r), mode="reflect")
    out = F.conv2d(out, kernel.view(b * c, 1, k, 1), groups=b * c)
    out = F.conv2d(out, kernel.view(b * c, 1, 1, k), groups=b * c).view(b, c, h, w)
    return _with_probability(x, out, p)


def solarize(x: Tensor, p: float = 0.2, threshold: float = 0.5) -> Tensor:
    """Invert the pixels of at least ``threshold`` (``v -> 1 - v``) of each image (B, C, H, W)
    in [0, 1] with probability ``p`` (Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020,
    appendix B: p = 0.2 in one of the two views)."""
    return _with_probability(x, torch.where(x >= threshold, 1 - x, x), p)


def random_erasing(x: Tensor, p: float = 0.5, scale: tuple[float, float] = (0.02, 0.33),
                   ratio: tuple[float, float] = (0.3, 3.3), value: float = 0.0) -> Tensor:
    """Set a random rectangle of each image (B, C, H, W) to ``value`` with probability ``p``.

    Each rectangle covers an area fraction ``s ~ U(scale)`` with aspect ratio (height / width)
    ``r``, ``log r ~ U(log ratio)``: ``h_b = round(sqrt(s H W r))`` rows and
    ``w_b = round(sqrt(s H W / r))`` columns, each clamped to [1, H] / [1, W], at a uniform
    position inside the image (so it may be smaller than ``s`` for extreme ``r``, where
    torchvision's ``RandomErasing`` would redraw).

    Args:
        x: images (B, C, H, W).
        p: probability that an image gets a rectangle.
        scale: range of the area fraction, 0 < low <= high <= 1.
        ratio: range of the aspect ratio, 0 < low <= high.
        value: what the rectangle is filled with (0: the background of [0, 1] images).

    Returns:
        (B, C, H, W).

    References:
        Zhong, Zheng, Kang, Li & Yang, "Random Erasing Data Augmentation", AAAI 2020
        (p = 0.5, area 0.02-0.4, ratio 0.3-3.33).
    """
    if not 0 < scale[0] <= scale[1] <= 1:
        raise ValueError(f"random_erasing: expected 0 < scale low <= high <= 1, got "
                         f"{list(scale)}")
    if not 0 < ratio[0] <= ratio[1]:
        raise ValueError(f"random_erasing: expected 0 < ratio low <= high, got {list(ratio)}")
    b, _, h, w = x.shape
    dev = x.device
    area = torch.empty(b, device=dev).uniform_(*scale) * h * w
    r = torch.exp(torch.empty(b, device=dev).uniform_(math.log(ratio[0]), math.log(ratio[1])))
    eh = torch.sqrt(area * r).round().clamp(1, h)
    ew = torch.sqrt(area / r).round().clamp(1, w)
    top = (torch.rand(b, device=dev) * (h - eh + 1)).floor()
    left = (torch.rand(b, device=dev) * (w - ew + 1)).floor()
    rows = torch.arange(h, device=dev).view(1, h, 1)
    cols = torch.arange(w, device=dev).view(1, 1, w)
    box = ((rows >= top.view(b, 1, 1)) & (rows < (top + eh).view(b, 1, 1))
           & (cols >= left.view(b, 1, 1)) & (cols < (left + ew).view(b, 1, 1)))
    return _with_probability(x, x.masked_fill(box.unsqueeze(1), value), p)
