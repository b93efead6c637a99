"""Batch augmentations: the SimSiam views (random resized crop, colour jitter, greyscale, blur,
solarization, random erasing)."""

from __future__ import annotations

import pytest
import torch

from genzoo.data.augment import (
    LUMA,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    color_jitter,
    gaussian_blur,
    grayscale,
    random_erasing,
    random_grayscale,
    random_resized_crop,
    solarize,
)


def _images(b: int = 6, c: int = 3, size: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, c, size, size, generator=torch.Generator().manual_seed(seed))


def test_full_area_or_square_ratio_crop_is_the_identity():
    x = _images(c=1)
    torch.manual_seed(0)
    assert torch.allclose(random_resized_crop(x, scale=(1, 1)), x, atol=1e-5)
    assert torch.allclose(random_resized_crop(x, scale=(1, 1), ratio=(1, 1)), x, atol=1e-5)


def test_a_crop_of_a_ramp_is_a_ramp_zoomed_in():
    # x[i, j] = j: a crop resampled to full size stays constant down columns, increasing along
    # rows, with steps at most the original's (zoom in, never out) and values inside [0, W-1]
    w = 16
    x = torch.arange(w, dtype=torch.float32).expand(8, 1, w, w).contiguous()
    torch.manual_seed(1)
    out = random_resized_crop(x, scale=(0.2, 0.6))
    assert torch.allclose(out, out[:, :, :1].expand_as(out), atol=1e-4)
    steps = out[:, 0, 0].diff(dim=1)
    assert (steps > 0).all() and (steps <= 1 + 1e-4).all()
    assert out.min() >= -1e-4 and out.max() <= w - 1 + 1e-4
    # a zoom into at most 60% of the area leaves every image's step below sqrt(0.6 * 4/3)
    assert (steps.mean(1) < (0.6 * 4 / 3) ** 0.5 + 1e-3).all()


def test_grayscale_has_equal_channels_holding_the_bt601_luma():
    x = _images()
    torch.manual_seed(0)
    out = random_grayscale(x, p=1.0)
    luma = LUMA[0] * x[:, 0] + LUMA[1] * x[:, 1] + LUMA[2] * x[:, 2]
    for c in range(3):
        assert torch.allclose(out[:, c], luma, atol=1e-6)
    assert torch.equal(random_grayscale(x, p=0.0), x)
    grey = _images(c=1)
    assert torch.equal(random_grayscale(grey, p=1.0), grey)


def test_neutral_jitter_factors_are_the_identity():
    x = _images()
    assert torch.allclose(adjust_brightness(x, 1.0), x)
    assert torch.allclose(adjust_contrast(x, 1.0), x, atol=1e-6)
    assert torch.allclose(adjust_saturation(x, 1.0), x, atol=1e-6)
    assert torch.allclose(adjust_hue(x, 0.0), x, atol=1e-5)
    assert torch.allclose(adjust_hue(x, torch.ones(len(x))), x, atol=1e-5)  # a full turn
    torch.manual_seed(0)
    assert torch.allclose(color_jitter(x, 0, 0, 0, 0, p=1.0), x)
    assert torch.equal(color_jitter(x, 0.4, 0.4, 0.4, 0.1, p=0.0), x)


def test_jitter_extremes_have_their_closed_forms():
    x = _images()
    assert torch.allclose(adjust_saturation(x, 0.0), grayscale(x).expand_as(x), atol=1e-6)
    flat = adjust_contrast(x, 0.0)  # every pixel is the image's mean luma
    mean = grayscale(x).mean(dim=(1, 2, 3))
    assert torch.allclose(flat, mean.view(-1, 1, 1, 1).expand_as(x), atol=1e-6)
    assert torch.allclose(adjust_brightness(x, 0.5), x * 0.5)


def test_hue_rotation_keeps_the_luma_and_rotates_back():
    # colours near grey stay inside the RGB cube under any rotation, so no clamp interferes
    x = 0.5 + 0.1 * (_images() - 0.5)
    shift = torch.linspace(-0.5, 0.5, len(x))
    rotated = adjust_hue(x, shift)
    assert torch.allclose(grayscale(rotated), grayscale(x), atol=1e-5)
    assert not torch.allclose(rotated[0], x[0], atol=1e-3)
    assert torch.allclose(adjust_hue(rotated, -shift), x, atol=1e-5)
    third = adjust_hue(adjust_hue(adjust_hue(x, 1 / 3), 1 / 3), 1 / 3)
    assert torch.allclose(third, x, atol=1e-5)


def test_color_jitter_of_grey_images_changes_only_brightness_and_contrast():
    x = 0.5 * _images(c=1)  # brightness (factor <= 1.4) then never clamps
    torch.manual_seed(0)
    out = color_jitter(x, 0.4, 0.4, 0.4, 0.1, p=1.0)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(out, x)
    # brightness and contrast are affine per image (up to the final clamp): out = a x + b
    flat_x, flat_out = x.flatten(1), out.flatten(1)
    inside = (flat_out > 1e-4) & (flat_out < 1 - 1e-4)
    for i in range(len(x)):
        xs, ys = flat_x[i][inside[i]], flat_out[i][inside[i]]
        design = torch.stack([xs, torch.ones_like(xs)], 1)
        coef = torch.linalg.lstsq(design, ys[:, None]).solution
        assert torch.allclose(design @ coef, ys[:, None], atol=1e-5)
    with pytest.raises(ValueError, match="grey or RGB"):
        color_jitter(torch.rand(2, 2, 4, 4))


@pytest.mark.numerics
def test_blur_matches_a_direct_2d_gaussian_convolution():
    """One sigma for every image: the separable blur equals the 2-D kernel
    exp(-(i^2 + j^2) / (2 sigma^2)) / Z applied with reflect padding."""
    x = _images(b=3, c=2, size=11)
    sigma, k = 1.3, 7
    torch.manual_seed(0)
    out = gaussian_blur(x, (sigma, sigma), p=1.0, kernel_size=k)
    t = torch.arange(k, dtype=torch.float32) - 3
    kernel = torch.exp(-(t.view(-1, 1) ** 2 + t.view(1, -1) ** 2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    padded = torch.nn.functional.pad(x, (3, 3, 3, 3), mode="reflect")
    direct = torch.nn.functional.conv2d(padded.view(6, 1, 17, 17), kernel.view(1, 1, k, k))
    assert torch.allclose(out, direct.view(3, 2, 11, 11), atol=1e-5)


def test_blur_keeps_constants_and_the_mean_and_smooths():
    torch.manual_seed(0)
    flat = torch.full((4, 3, 10, 10), 0.37)
    assert torch.allclose(gaussian_blur(flat, (0.5, 2.0), p=1.0), flat, atol=1e-6)
    x = _images(b=4, c=1, size=16)
    y = gaussian_blur(x, (2.0, 2.0), p=1.0)
    assert y.std() < 0.5 * x.std()  # white noise loses most of its variance
    assert torch.allclose(gaussian_blur(x, (0.5, 2.0), p=0.0), x)
    with pytest.raises(ValueError, match="sigma"):
        gaussian_blur(x, (0.0, 1.0))


def test_blur_draws_one_sigma_per_image():
    torch.manual_seed(0)
    x = _images(b=1, c=1, size=16).expand(64, 1, 16, 16)
    y = gaussian_blur(x, (0.3, 3.0), p=1.0)
    assert y.flatten(1).std(1).unique().numel() > 32  # different strengths per image


def test_solarize_inverts_the_bright_pixels_only():
    x = torch.tensor([0.0, 0.2, 0.49, 0.5, 0.8, 1.0]).view(1, 1, 1, 6)
    assert torch.allclose(solarize(x, p=1.0), torch.tensor([0.0, 0.2, 0.49, 0.5, 0.2, 0.0])
                          .view(1, 1, 1, 6))
    assert torch.equal(solarize(x, p=0.0), x)
    torch.manual_seed(0)
    many = _images(b=400, c=1, size=4)
    changed = (solarize(many, p=0.25) != many).flatten(1).any(1).float().mean()
    assert 0.18 < changed < 0.32


@pytest.mark.numerics
def test_a_full_crop_at_another_size_is_bilinear_resizing():
    x = _images(c=2, size=12)
    torch.manual_seed(0)
    out = random_resized_crop(x, scale=(1, 1), size=6)
    resized = torch.nn.functional.interpolate(x, size=(6, 6), mode="bilinear",
                                              align_corners=False)
    assert out.shape == (6, 2, 6, 6) and torch.allclose(out, resized, atol=1e-5)


def test_random_erasing_blanks_one_rectangle_of_the_drawn_size_per_image():
    """p = 1: each image keeps every pixel but one axis-aligned rectangle, set to the fill in
    all channels; its area fraction lies in the scale range (up to rounding of its sides)."""
    torch.manual_seed(0)
    x = 0.5 + 0.5 * _images(b=200, c=2, size=20)  # no pixel equals the fill
    out = random_erasing(x, p=1.0, scale=(0.05, 0.2), value=0.0)
    blank = out == 0
    assert torch.equal(blank[:, 0], blank[:, 1]) and torch.equal(out[~blank], x[~blank])
    for mask in blank[:, 0]:
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        h, w = len(rows), len(cols)
        assert rows[-1] - rows[0] + 1 == h and cols[-1] - cols[0] + 1 == w  # contiguous
        assert mask.sum() == h * w  # a full rectangle
        assert (0.05 * 400) ** 0.5 - 1 <= (h * w) ** 0.5 <= (0.2 * 400) ** 0.5 + 1
    ratios = torch.tensor([m.any(1).sum() / m.any(0).sum() for m in blank[:, 0]]).float()
    assert ratios.min() < 0.8 and ratios.max() > 1.25  # tall and wide boxes both occur


def test_random_erasing_probability_and_arguments():
    torch.manual_seed(0)
    x = 0.5 + 0.5 * _images(b=400, c=1, size=8)
    assert torch.equal(random_erasing(x, p=0.0), x)
    changed = (random_erasing(x, p=0.3) != x).flatten(1).any(1).float().mean()
    assert 0.22 < changed < 0.38
    with pytest.raises(ValueError, match="scale"):
        random_erasing(x, scale=(0.5, 0.1))
    with pytest.raises(ValueError, match="ratio"):
        random_erasing(x, ratio=(0.0, 2.0))
