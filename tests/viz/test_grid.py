"""Image grids: exact tile placement, padding, grayscale to RGB, value ranges, captions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genzoo.viz import image_grid, save_image_grid


def test_tiles_land_at_exact_positions():
    x = torch.zeros(3, 1, 2, 3)
    for i in range(3):
        x[i] = (i + 1) / 4  # 0.25, 0.5, 0.75
    g = image_grid(x, nrow=2, padding=1, pad_value=1.0)
    assert g.shape == (2 * (2 + 1) + 1, 2 * (3 + 1) + 1, 3)
    expect = [round(255 * v) for v in (0.25, 0.5, 0.75)]
    assert (g[1:3, 1:4] == expect[0]).all()          # tile 0: row 0, col 0
    assert (g[1:3, 5:8] == expect[1]).all()          # tile 1: row 0, col 1
    assert (g[4:6, 1:4] == expect[2]).all()          # tile 2: row 1, col 0
    assert (g[4:6, 5:8] == 255).all()                # empty slot takes the pad value
    assert (g[0] == 255).all() and (g[:, 4] == 255).all()  # padding lines


def test_grayscale_replicated_and_rgb_kept():
    rgb = torch.zeros(1, 3, 2, 2)
    rgb[0, 0] = 1.0  # pure red
    g = image_grid(rgb, padding=0)
    assert (g[..., 0] == 255).all() and (g[..., 1:] == 0).all()
    gray = image_grid(torch.full((1, 1, 2, 2), 0.5), padding=0)
    assert (gray == 128).all()


def test_save_maps_value_range_and_clamps(tmp_path):
    x = torch.tensor([-1.0, 0.0, 1.0, 3.0]).view(1, 1, 1, 4)
    path = save_image_grid(x, tmp_path / "a" / "g.png", value_range=(-1.0, 1.0), padding=0)
    img = np.asarray(Image.open(path))
    assert img[0, :, 0].tolist() == [0, 128, 255, 255]
    with pytest.raises(ValueError, match="high > low"):
        save_image_grid(x, tmp_path / "b.png", value_range=(1.0, 1.0))


def test_captions_enlarge_small_tiles_and_draw_text():
    x = torch.rand(4, 1, 8, 8)
    plain = image_grid(x)
    captioned = image_grid(x, captions=["0", "1", "2", "3"])
    assert captioned.shape[0] > plain.shape[0] and captioned.shape[1] > plain.shape[1]
    blank = image_grid(x, captions=["", "", "", ""])
    assert blank.shape == captioned.shape and not np.array_equal(blank, captioned)
    with pytest.raises(ValueError, match="captions"):
        image_grid(x, captions=["only one"])


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        image_grid(torch.zeros(2, 2, 4, 4))
