"""Inpainting: masks, corruption, the neighbour baseline, clamped Langevin, `genzoo inpaint`."""

from __future__ import annotations

import json

import pytest
import torch

from genzoo.analyze.inpaint import mse
from genzoo.cli import CORRUPTIONS as CLI_CORRUPTIONS
from genzoo.cli import main
from genzoo.data.corruptions import (
    CORRUPTIONS,
    corrupt,
    half_mask,
    make_mask,
    neighbour_interpolation,
    rows_mask,
)
from genzoo.errors import UserError
from genzoo.samplers.inpaint import inpaint


def test_rows_mask_hides_the_even_rows():
    known = rows_mask((1, 6, 3))
    assert known[0, :, 0].tolist() == [False, True, False, True, False, True]
    assert known.all(dim=2).equal(known[:, :, 0])  # whole rows
    assert rows_mask((1, 6, 3), "odd")[0, :, 0].tolist() == [True, False] * 3


@pytest.mark.parametrize("side, hidden", [("top", (slice(0, 2), slice(None))),
                                          ("bottom", (slice(2, 4), slice(None))),
                                          ("left", (slice(None), slice(0, 3))),
                                          ("right", (slice(None), slice(3, 6)))])
def test_half_masks(side, hidden):
    known = half_mask((2, 4, 6), side)
    assert (~known[:, hidden[0], hidden[1]]).all()
    assert known.sum() == known.numel() // 2


def test_cli_and_library_name_the_same_corruptions():
    assert tuple(CLI_CORRUPTIONS) == tuple(CORRUPTIONS)
    assert make_mask("bottom-half", (1, 4, 4)).equal(half_mask((1, 4, 4), "bottom"))


def test_corruption_leaves_known_pixels_and_stays_in_range():
    x = torch.rand(8, 1, 6, 6) * 2 - 1
    known = rows_mask((1, 6, 6))
    x_c = corrupt(x, known, 0.5, (-1.0, 1.0), torch.Generator().manual_seed(0))
    assert torch.equal(x_c[:, known], x[:, known])
    assert not torch.equal(x_c, x) and x_c.min() >= -1 and x_c.max() <= 1


def test_neighbour_interpolation_is_exact_on_images_linear_in_the_row():
    rows = torch.arange(7, dtype=torch.float32).view(1, 1, 7, 1).expand(2, 1, 7, 5)
    x = 0.1 * rows + torch.randn(2, 1, 1, 5)  # each column a line in the row index
    known = rows_mask((1, 7, 5))  # rows 0, 2, 4, 6 unknown: 0 and 6 are edges
    filled = neighbour_interpolation(torch.where(known, x, torch.zeros(())), known)
    interior = (slice(None), slice(None), slice(1, 6))
    assert torch.allclose(filled[interior], x[interior], atol=1e-6)
    assert torch.allclose(filled[:, :, 0], x[:, :, 1]) and torch.allclose(filled[:, :, 6],
                                                                          x[:, :, 5])


def test_neighbour_interpolation_over_a_gap_and_with_no_known_pixel_in_a_column():
    x = torch.tensor([[0.0, 9.0, 9.0, 9.0, 4.0]]).T.reshape(1, 1, 5, 1)
    known = torch.tensor([True, False, False, False, True]).view(1, 5, 1)
    assert neighbour_interpolation(x, known).flatten().tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    x2 = torch.tensor([[1.0, 5.0], [3.0, 5.0]]).view(1, 1, 2, 2)
    known2 = torch.tensor([[True, False], [True, False]]).view(1, 2, 2)
    assert neighbour_interpolation(x2, known2)[0, 0, :, 1].tolist() == [2.0, 2.0]  # image mean


@pytest.mark.parametrize("init", ["interpolate", "corrupted", "noise"])
def test_inpainting_never_changes_known_pixels(init):
    torch.manual_seed(0)
    observed = torch.rand(4, 1, 8, 8) * 2 - 1
    known = rows_mask((1, 8, 8))
    out = inpaint(lambda x: torch.randn_like(x) * 10, observed, known, steps=5, step_size=1.0,
                  noise_scale=0.5, init=init, value_range=(-1.0, 1.0))
    assert torch.equal(out[:, known], observed[:, known])
    assert out.min() >= -1 and out.max() <= 1
    assert not torch.equal(out[:, ~known], observed[:, ~known])


def test_inpainting_under_a_known_score_reaches_its_mode():
    """With the score of N(m, I) and no noise, gradient steps drive unknown pixels to m."""
    m = torch.full((1, 1, 4, 4), 0.3)
    observed = torch.zeros(2, 1, 4, 4)
    known = half_mask((1, 4, 4), "top")
    out = inpaint(lambda x: m - x, observed, known, steps=200, step_size=0.1, noise_scale=0.0)
    assert torch.allclose(out[:, ~known], torch.full_like(out[:, ~known], 0.3), atol=1e-4)
    assert torch.equal(out[:, known], observed[:, known])


def test_mse_is_in_unit_pixel_scale():
    a, b = torch.full((1, 1, 2, 2), 1.0), torch.full((1, 1, 2, 2), -1.0)
    assert mse(a, b, (-1.0, 1.0)) == pytest.approx(1.0)
    where = torch.tensor([[True, False], [False, False]]).view(1, 2, 2)
    assert mse(a, torch.zeros_like(a), (0.0, 2.0), where) == pytest.approx(0.25)


@pytest.fixture
def digits_ebm_run(tmp_path):
    runs = tmp_path / "runs"
    assert main(["--quiet", "train", "ebm-mlp-mnist", "data.name=digits", "data.val_limit=32",
                 "model.net.width=16", "model.buffer_size=64", "model.sampler.steps=2",
                 "train.steps=3", "train.batch_size=8", "train.num_samples=4",
                 "--runs-dir", str(runs)]) == 0
    return runs / "ebm-mlp-mnist"


def test_inpaint_command_writes_grids_numbers_and_report_figure(digits_ebm_run, capsys):
    run = digits_ebm_run
    capsys.readouterr()
    assert main(["--quiet", "inpaint", str(run), "--n", "20", "--steps", "3"]) == 0
    numbers = json.loads(capsys.readouterr().out)
    assert numbers["n"] == 20 and numbers["corruption"] == "even-rows"
    for key in ("mse_model", "mse_corrupted", "mse_interpolation"):
        assert 0 <= numbers[key] <= numbers[key.replace("mse_", "mse_unknown_")]
    assert (run / "inpaint" / "even-rows.png").is_file()
    assert json.loads((run / "inpaint" / "even-rows.json").read_text()) == numbers
    assert "inpaint-even-rows.png" in json.loads((run / "figures" / "captions.json").read_text())
    assert json.loads((run / "eval.json").read_text())["inpaint-even-rows/mse_model"] == \
        numbers["mse_model"]


@pytest.mark.parametrize("w", [1.0, 0.25, 0.0])
def test_posterior_chain_reaches_the_precision_weighted_mean(w):
    """Prior N(m, tau^2) per pixel, observation y = x + N(0, sigma^2) on the unknown pixels,
    its likelihood weighted by w: noise-free ascent ends at (m / tau^2 + w y / sigma^2) /
    (1 / tau^2 + w / sigma^2) there (w = 1: the posterior mean; w = 0: the prior's); known
    pixels stay."""
    torch.manual_seed(0)
    observed = torch.rand(4, 1, 6, 6) * 0.5 + 0.25
    known = rows_mask((1, 6, 6))
    m, tau, sigma = 0.5, 0.2, 0.1
    x = inpaint(lambda v: -(v - m) / tau**2, observed, known, steps=400, step_size=1e-3,
                noise_scale=0.0, init="corrupted", value_range=(0.0, 1.0), observed_std=sigma,
                observation_weight=w)
    posterior = (m / tau**2 + w * observed / sigma**2) / (1 / tau**2 + w / sigma**2)
    unknown = ~known.expand_as(observed)
    assert torch.allclose(x[unknown], posterior[unknown], atol=1e-4)
    assert torch.equal(x[~unknown], observed[~unknown])


def test_clipping_bounds_the_prior_score_not_the_observation_term():
    """A prior score of 1000 everywhere clipped to c = 1 against the observation term
    w (y - x) / sigma^2: the chain stops where they cancel, x = y + c sigma^2 / w (with the
    observation clipped too it would run to the top of the range)."""
    torch.manual_seed(0)
    observed = torch.rand(3, 1, 4, 4) * 0.5 + 0.25
    known = rows_mask((1, 4, 4))
    sigma, w = 0.1, 0.5
    x = inpaint(lambda v: torch.full_like(v, 1000.0), observed, known, steps=600,
                step_size=1e-3, noise_scale=0.0, init="corrupted", value_range=(0.0, 1.0),
                clip_grad=1.0, observed_std=sigma, observation_weight=w)
    unknown = ~known.expand_as(observed)
    assert torch.allclose(x[unknown], observed[unknown] + sigma**2 / w, atol=1e-4)


def test_negative_observation_weight_is_refused():
    observed = torch.rand(1, 1, 4, 4)
    with pytest.raises(UserError, match="observation_weight"):
        inpaint(lambda v: v, observed, rows_mask((1, 4, 4)), 1, 0.1, 0.0, observed_std=0.1,
                observation_weight=-1.0)


def test_additive_corruption_uses_its_noise_and_reports_per_image_statistics(digits_ebm_run,
                                                                             capsys):
    capsys.readouterr()
    assert main(["--quiet", "inpaint", str(digits_ebm_run), "--n", "30", "--steps", "3",
                 "--corruption", "even-rows-additive"]) == 0
    numbers = json.loads(capsys.readouterr().out)
    assert numbers["noise_std"] == 0.3 and numbers["corruption"] == "even-rows-additive"
    for name in ("model", "corrupted", "interpolation"):
        low, mean, high = (numbers[f"mse_{name}{k}"] for k in ("_min", "", "_max"))
        assert 0 <= low <= mean <= high and numbers[f"mse_{name}_std"] >= 0


def test_inpaint_bad_input_is_one_line(digits_ebm_run, tmp_path, capsys):
    toy = tmp_path / "runs"
    assert main(["--quiet", "train", "ebm-toy", "train.steps=2", "train.batch_size=16",
                 "model.sampler.steps=2", "--runs-dir", str(toy)]) == 0
    capsys.readouterr()
    for args in ([str(toy / "ebm-toy")], [str(digits_ebm_run), "--n", "0"],
                 [str(digits_ebm_run), "--corruption", "diagonal"]):
        assert main(["--quiet", "inpaint", *args]) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
