"""Save a method's samples as a picture: an image grid, or for 2-D data a scatter plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from genzoo.data.base import Dataset


def save_samples(method: Any, n: int, path: Path, data: Dataset | None = None, *,
                 y: torch.Tensor | None = None, **overrides: Any) -> torch.Tensor:
    """Draw ``n`` samples from ``method`` and write them to ``path`` (PNG).

    Images (n, C, H, W) in ``method.data_range`` become a grid; vectors (n, 2) a scatter plot
    over ``data``'s points when given, and their array is saved beside as ``.npy``. A
    conditional method given no labels draws class ``i % K`` for sample i, one class per grid
    column.

    Returns:
        The samples (n, *shape) on the CPU.
    """
    classes = method.info.num_classes if method.conditional else None
    if y is None and classes:
        y = (torch.arange(n) % classes).to(method.device)
    x = method.sample(n, y=y, **overrides).detach().float().cpu()
    if method.info.kind == "image":
        from genzoo.viz.grid import save_image_grid

        save_image_grid(x, path, nrow=classes if classes and n >= classes else None,
                        value_range=method.data_range)
    else:
        from genzoo.viz.scatter import scatter_2d

        true = None if data is None else data.x[:n].float().numpy()
        scatter_2d(x.numpy(), true, path)
        np.save(path.with_suffix(".npy"), x.numpy())
    return x
