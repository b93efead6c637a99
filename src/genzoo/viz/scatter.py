"""2-D toy views: model samples over data samples, and a density on a grid.

Example:
    >>> import torch
    >>> from genzoo.viz import scatter_2d, density_2d
    >>> print(scatter_2d(torch.randn(500, 2), torch.randn(500, 2) * 0.5, "s.png", title="ebm"))
    s.png
    >>> print(density_2d(lambda x: -0.5 * (x ** 2).sum(1), "d.png", points=torch.randn(200, 2)))
    d.png
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from genzoo.viz._io import atomic_write_bytes, figure_png_bytes

ArrayLike = torch.Tensor | np.ndarray
Extent = tuple[float, float, float, float]


def _points(x: ArrayLike, name: str, max_points: int | None) -> np.ndarray:
    """(N, 2) Tensor/ndarray -> float ndarray, at most ``max_points`` rows (evenly strided)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name}: expected points of shape (N, 2), got {tuple(arr.shape)}")
    if max_points is not None and len(arr) > max_points:
        arr = arr[:: -(-len(arr) // max_points)]
    return arr


def scatter_2d_figure(
    model_points: ArrayLike,
    true_points: ArrayLike | None = None,
    title: str | None = None,
    *,
    labels: tuple[str, str] = ("model", "data"),
    max_points: int | None = 5000,
) -> Figure:
    """Overlay of model samples (orange) on data samples (blue); see :func:`scatter_2d`."""
    model = _points(model_points, "model_points", max_points)
    model = model[np.isfinite(model).all(axis=1)]
    fig = Figure(figsize=(4.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    if true_points is not None:
        true = _points(true_points, "true_points", max_points)
        ax.scatter(true[:, 0], true[:, 1], s=3, alpha=0.5, color="C0", label=labels[1],
                   rasterized=True)
        finite = true[np.isfinite(true).all(axis=1)]
        if len(finite):
            low, high = finite.min(axis=0), finite.max(axis=0)
            margin = 0.15 * (high - low) + 1e-6
            low, high = low - margin, high + margin
            # Samples that flew off are pinned to the border instead of rescaling the axes.
            model = np.clip(model, low, high)
            ax.set_xlim(low[0], high[0])
            ax.set_ylim(low[1], high[1])
    ax.scatter(model[:, 0], model[:, 1], s=3, alpha=0.5, color="C1", label=labels[0],
               rasterized=True)
    ax.set_aspect("equal", adjustable="box" if true_points is not None else "datalim")
    ax.legend(markerscale=4, fontsize=8, loc="upper right")
    if title:
        ax.set_title(title)
    return fig


def scatter_2d(
    model_points: ArrayLike,
    true_points: ArrayLike | None,
    path: str | os.PathLike[str],
    title: str | None = None,
    *,
    labels: tuple[str, str] = ("model", "data"),
    max_points: int | None = 5000,
) -> Path:
    """Save a scatter plot of model samples over data samples (2-D toys) as a PNG.

    The axes span the data (with a margin); model samples outside are pinned to the border, so
    a few diverged samples do not squash the picture. Non-finite samples are left out.

    Args:
        model_points: (N, 2) samples from the model.
        true_points: (M, 2) samples from the data distribution, or None for model samples only.
        path: destination ``.png`` (written atomically).
        title: optional panel title.
        labels: legend names of (model, data).
        max_points: each cloud is thinned to at most this many points; None keeps all.
    """
    fig = scatter_2d_figure(model_points, true_points, title, labels=labels,
                            max_points=max_points)
    return atomic_write_bytes(path, figure_png_bytes(fig))


def grid_log_density(
    log_density_fn: Callable[[torch.Tensor], ArrayLike],
    extent: Extent = (-4.0, 4.0, -4.0, 4.0),
    resolution: int = 200,
) -> np.ndarray:
    """Evaluate ``log_density_fn`` on a regular grid.

    Args:
        log_density_fn: maps a (N, 2) float32 Tensor to (N,) log densities (unnormalised is
            fine; e.g. ``lambda x: -energy(x)``). Called under ``torch.no_grad()``.
        extent: (x_min, x_max, y_min, y_max).
        resolution: grid points per axis.

    Returns:
        (resolution, resolution) array; row 0 is y_min, column 0 is x_min.
    """
    x0, x1, y0, y1 = extent
    xs = torch.linspace(x0, x1, resolution)
    ys = torch.linspace(y0, y1, resolution)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    with torch.no_grad():
        out = log_density_fn(pts)
    out = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
    return np.asarray(out, dtype=np.float64).reshape(resolution, resolution)


def relative_density(log_density: np.ndarray) -> np.ndarray:
    """exp(log p - max log p): a density relative to its peak, 0 where log p is not finite."""
    finite = np.isfinite(log_density)
    peak = log_density[finite].max() if finite.any() else 0.0
    return np.where(finite, np.exp(np.clip(log_density - peak, -700.0, 0.0)), 0.0)


def density_2d(
    log_density: Callable[[torch.Tensor], ArrayLike] | ArrayLike,
    path: str | os.PathLike[str],
    extent: Extent = (-4.0, 4.0, -4.0, 4.0),
    *,
    resolution: int = 200,
    points: ArrayLike | None = None,
    title: str | None = None,
) -> Path:
    """Save a heat map of a 2-D density, with contour lines and optional points, as a PNG.

    Args:
        log_density: a callable as in :func:`grid_log_density`, or precomputed log densities of
            shape (R_y, R_x) over ``extent`` (row 0 = y_min).
        path: destination ``.png`` (written atomically).
        extent: (x_min, x_max, y_min, y_max).
        resolution: grid points per axis when ``log_density`` is a callable.
        points: optional (N, 2) samples drawn on top in white.
        title: optional panel title.
    """
    if callable(log_density):
        logp = grid_log_density(log_density, extent, resolution)
    else:
        logp = _as_grid(log_density)
    density = relative_density(logp)

    fig = Figure(figsize=(4.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(density, origin="lower", extent=extent, cmap="viridis", aspect="auto")
    if density.max() > density.min():
        ys = np.linspace(extent[2], extent[3], density.shape[0])
        xs = np.linspace(extent[0], extent[1], density.shape[1])
        ax.contour(xs, ys, density, levels=6, colors="white", linewidths=0.5, alpha=0.6)
    if points is not None:
        p = _points(points, "points", 5000)
        ax.scatter(p[:, 0], p[:, 1], s=2, color="white", alpha=0.7, rasterized=True)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    if title:
        ax.set_title(title)
    return atomic_write_bytes(path, figure_png_bytes(fig))


def _as_grid(values: ArrayLike) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().to("cpu", torch.float64).numpy()
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"expected grid log densities of shape (R_y, R_x), got {arr.shape}")
    return arr
