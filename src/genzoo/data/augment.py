"""Batch augmentations in torch, applied on the training device.

Example:
    >>> x = torch.rand(8, 1, 28, 28)
    >>> random_crop(x, padding=2, fill=0.0).shape
    torch.Size([8, 1, 28, 28])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


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
    flip = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < p
    return torch.where(flip, x.flip(-1), x)
