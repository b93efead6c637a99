"""2-D views: scatter overlay and density heat map."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genzoo.viz import density_2d, scatter_2d
from genzoo.viz.scatter import grid_log_density, scatter_2d_figure

PNG = b"\x89PNG\r\n\x1a\n"


def test_scatter_2d_writes_png_with_and_without_data(tmp_path):
    model, data = torch.randn(300, 2), np.random.default_rng(0).normal(size=(200, 2))
    assert scatter_2d(model, data, tmp_path / "s.png", title="ebm").read_bytes()[:8] == PNG
    assert scatter_2d(model.numpy(), None, tmp_path / "m.png").read_bytes()[:8] == PNG
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        scatter_2d(torch.randn(5, 3), data, tmp_path / "x.png")


def test_scatter_axes_follow_the_data_and_pin_outliers():
    data = np.array([[0.0, 0.0], [1.0, 1.0]])
    model = np.array([[0.5, 0.5], [1e6, -1e6], [np.nan, 0.0]])
    ax = scatter_2d_figure(model, data).axes[0]
    lo, hi = ax.get_xlim()
    assert -0.5 < lo < 0 and 1 < hi < 1.5
    model_cloud = ax.collections[1].get_offsets()
    assert len(model_cloud) == 2 and np.all(np.abs(model_cloud) < 1.5)


def test_grid_log_density_orientation():
    grid = grid_log_density(lambda x: x[:, 1] * 10 + x[:, 0], (0.0, 1.0, 0.0, 1.0), 3)
    assert grid.shape == (3, 3)
    np.testing.assert_allclose(grid[0], [0.0, 0.5, 1.0])  # row 0 is y_min, x increases
    np.testing.assert_allclose(grid[:, 0], [0.0, 5.0, 10.0])


def test_density_2d_from_function_or_grid(tmp_path):
    def log_p(x: torch.Tensor) -> torch.Tensor:
        return -0.5 * (x**2).sum(1)

    out = density_2d(log_p, tmp_path / "d.png", resolution=40, points=torch.randn(50, 2))
    assert out.read_bytes()[:8] == PNG
    values = np.full((20, 30), -np.inf)
    values[5, 5] = 0.0
    assert density_2d(values, tmp_path / "g.png", (-1.0, 1.0, -1.0, 1.0)).read_bytes()[:8] == PNG
    with pytest.raises(ValueError, match="R_y, R_x"):
        density_2d(np.zeros(5), tmp_path / "bad.png")
