"""2-D point clouds: model samples over true samples, and density/energy contours."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from genzoo.viz._io import atomic_write_bytes, figure_png_bytes


def scatter_2d(model_points: np.ndarray, true_points: np.ndarray | None,
               path: str | os.PathLike[str], title: str | None = None) -> Path:
    """Overlay model samples (N, 2) in orange on true samples (M, 2) in blue; save a PNG.

    Both clouds share the axis limits (the true points' range with a margin, when given), so
    samples that fly off show at the border rather than rescaling the plot.
    """
    model_points = np.asarray(model_points, dtype=np.float64).reshape(-1, 2)
    fig = Figure(figsize=(4, 4), layout="constrained")
    ax = fig.subplots()
    reference = model_points if true_points is None else np.asarray(true_points).reshape(-1, 2)
    if true_points is not None:
        ax.scatter(reference[:, 0], reference[:, 1], s=4, c="C0", alpha=0.5, label="data")
    finite = model_points[np.isfinite(model_points).all(axis=1)]
    ax.scatter(finite[:, 0], finite[:, 1], s=4, c="C1", alpha=0.6, label="model")
    low, high = reference.min(axis=0), reference.max(axis=0)
    margin = 0.1 * (high - low) + 1e-6
    ax.set_xlim(low[0] - margin[0], high[0] + margin[0])
    ax.set_ylim(low[1] - margin[1], high[1] + margin[1])
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="upper right", markerscale=3)
    if title:
        ax.set_title(title, fontsize=10)
    return atomic_write_bytes(path, figure_png_bytes(fig))


def density_2d(log_density: Callable[[np.ndarray], np.ndarray], path: str | os.PathLike[str],
               bounds: tuple[float, float, float, float], *, points: np.ndarray | None = None,
               resolution: int = 120, title: str | None = None) -> Path:
    """Filled contours of ``log_density`` (or negative energy) over a grid; save a PNG.

    Args:
        log_density: maps (G, 2) grid points to (G,) values.
        path: destination PNG.
        bounds: ``(x_min, x_max, y_min, y_max)``.
        points: optional (N, 2) points drawn on top.
        resolution: grid points per axis.
    """
    x_min, x_max, y_min, y_max = bounds
    xs, ys = np.linspace(x_min, x_max, resolution), np.linspace(y_min, y_max, resolution)
    gx, gy = np.meshgrid(xs, ys)
    values = np.asarray(log_density(np.stack([gx.ravel(), gy.ravel()], 1)), dtype=np.float64)
    fig = Figure(figsize=(4, 4), layout="constrained")
    ax = fig.subplots()
    ax.contourf(gx, gy, values.reshape(gx.shape), levels=30, cmap="viridis")
    if points is not None:
        ax.scatter(points[:, 0], points[:, 1], s=2, c="white", alpha=0.4)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize=10)
    return atomic_write_bytes(path, figure_png_bytes(fig))
