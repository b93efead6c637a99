"""Image grids: tile a batch of images into one picture, optionally with a caption per tile.

Example:
    >>> import torch
    >>> from genzoo.viz import image_grid, save_image_grid
    >>> x = torch.rand(16, 1, 28, 28)               # (B, C, H, W) in [0, 1]
    >>> image_grid(x).shape                         # 4 x 4 tiles, 2 px padding
    (122, 122, 3)
    >>> print(save_image_grid(x * 2 - 1, "grid.png", value_range=(-1.0, 1.0)))
    grid.png
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from genzoo.viz._io import atomic_write_bytes

#: Tiles are upscaled (nearest neighbour, integer factor) to at least this width when captioned,
#: so that a caption fits under a 28x28 or 8x8 image.
MIN_CAPTIONED_TILE = 56

ArrayLike = torch.Tensor | np.ndarray


def _as_float_batch(x: ArrayLike) -> np.ndarray:
    """Convert ``x`` to a float64 ndarray of shape (B, C, H, W), checking the shape."""
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 4 or arr.shape[1] not in (1, 3):
        raise ValueError(
            f"expected images of shape (B, C, H, W) with C in {{1, 3}}, got {tuple(arr.shape)}"
        )
    if arr.shape[0] == 0 or arr.shape[2] == 0 or arr.shape[3] == 0:
        raise ValueError(f"cannot make a grid of an empty batch of shape {tuple(arr.shape)}")
    return arr


def _to_uint8_hwc(arr: np.ndarray) -> np.ndarray:
    """(B, C, H, W) floats in [0, 1] -> (B, H, W, 3) uint8; NaN -> 0, values clamped."""
    arr = np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=0.0).clip(0.0, 1.0)
    u8 = np.rint(arr * 255.0).astype(np.uint8).transpose(0, 2, 3, 1)
    return np.repeat(u8, 3, axis=3) if u8.shape[3] == 1 else u8


Font = ImageFont.ImageFont | ImageFont.FreeTypeFont


def _fit_text(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> str:
    """Shorten ``text`` with a trailing '..' until it fits in ``width`` pixels."""
    text = " ".join(str(text).split())
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "..", font=font) > width:
        text = text[:-1]
    return text + ".." if text else ""


def image_grid(
    x: ArrayLike,
    nrow: int | None = None,
    padding: int = 2,
    pad_value: float = 1.0,
    captions: Sequence[str] | None = None,
) -> np.ndarray:
    """Tile a batch of images into one RGB picture.

    Tile ``i`` goes to row ``i // nrow``, column ``i % nrow``; its top-left pixel is at
    ``(padding + row * (H + padding), padding + col * (W + padding))``. Empty slots in the last row
    and all padding take ``pad_value``.

    Args:
        x: images, Tensor or ndarray of shape (B, C, H, W), C in {1, 3}, floats in [0, 1]
            (clamped; NaN shows as 0). Grayscale is replicated to RGB.
        nrow: images per row; default ``ceil(sqrt(B))``.
        padding: pixels between tiles and around the border.
        pad_value: gray level in [0, 1] of the padding.
        captions: optional B strings, drawn under each tile with PIL's default font. Captioned
            tiles are upscaled by an integer factor to at least ``MIN_CAPTIONED_TILE`` px wide.

    Returns:
        uint8 array of shape (H_grid, W_grid, 3).
    """
    imgs = _to_uint8_hwc(_as_float_batch(x))
    b, h, w, _ = imgs.shape
    nrow = math.ceil(math.sqrt(b)) if nrow is None else int(nrow)
    if nrow < 1:
        raise ValueError(f"nrow must be >= 1, got {nrow}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    ncols = min(nrow, b)
    nrows = math.ceil(b / ncols)
    pad = int(np.rint(np.clip(pad_value, 0.0, 1.0) * 255.0))

    band = 0
    font = None
    if captions is not None:
        captions = list(captions)
        if len(captions) != b:
            raise ValueError(f"got {len(captions)} captions for {b} images")
        scale = max(1, math.ceil(MIN_CAPTIONED_TILE / w))
        imgs = imgs.repeat(scale, axis=1).repeat(scale, axis=2)
        h, w = h * scale, w * scale
        font = ImageFont.load_default()
        top, bottom = font.getbbox("Ag")[1::2]
        band = int(bottom - top) + 6

    cell_h, cell_w = h + band, w
    grid = np.full(
        (nrows * (cell_h + padding) + padding, ncols * (cell_w + padding) + padding, 3),
        pad,
        dtype=np.uint8,
    )
    for i in range(b):
        r, c = divmod(i, ncols)
        y0, x0 = padding + r * (cell_h + padding), padding + c * (cell_w + padding)
        grid[y0 : y0 + h, x0 : x0 + w] = imgs[i]

    if captions is not None and font is not None:
        canvas = Image.fromarray(grid)
        draw = ImageDraw.Draw(canvas)
        ink = (0, 0, 0) if pad >= 128 else (255, 255, 255)
        for i, caption in enumerate(captions):
            r, c = divmod(i, ncols)
            text = _fit_text(draw, caption, font, w - 2)
            x_mid = padding + c * (cell_w + padding) + w / 2
            y_mid = padding + r * (cell_h + padding) + h + band / 2
            draw.text((x_mid, y_mid), text, fill=ink, font=font, anchor="mm")
        grid = np.asarray(canvas, dtype=np.uint8).copy()
    return grid


def save_image_grid(
    x: ArrayLike,
    path: str | os.PathLike[str],
    nrow: int | None = None,
    captions: Sequence[str] | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
    *,
    padding: int = 2,
    pad_value: float = 1.0,
) -> Path:
    """Save a batch of images as one PNG grid, written atomically (temp file + ``os.replace``).

    Args:
        x: images (B, C, H, W), C in {1, 3}, in ``value_range``.
        path: destination ``.png``; parent folders are created.
        nrow, captions, padding, pad_value: as in :func:`image_grid`.
        value_range: ``(low, high)`` mapped to [0, 1]; values outside are clamped. Use
            ``(-1.0, 1.0)`` for methods that train in [-1, 1].

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    low, high = (float(v) for v in value_range)
    if not high > low:
        raise ValueError(f"value_range must be (low, high) with high > low, got {value_range}")
    arr = (_as_float_batch(x) - low) / (high - low)
    grid = image_grid(arr, nrow=nrow, padding=padding, pad_value=pad_value, captions=captions)
    buf = io.BytesIO()
    Image.fromarray(grid).save(buf, format="PNG")
    return atomic_write_bytes(path, buf.getvalue())
