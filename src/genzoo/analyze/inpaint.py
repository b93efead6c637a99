"""Inpainting: corrupt some pixels of images, restore them under a trained model, score it.

Masks and corruptions are in :mod:`genzoo.data.corruptions` (the seed corruption is Gaussian
noise on the even rows). The unknown pixels are restored by Langevin dynamics on them alone,
under the model's score (``-dE/dx`` of an EBM, or ``d log p / dx`` of a likelihood model), with
the known pixels reset to their observed values after every step, so they never change
(:func:`~genzoo.samplers.inpaint.inpaint`). With ``noise_scale = 0`` the chain is gradient
ascent on log p of the unknown pixels given the known ones (an optimization mode: a MAP-like
restoration). Two baselines frame the result: the corrupted input itself and neighbour
interpolation (the mean of the rows above and below, for the even-rows corruption).

Step size, noise and clipping default to the run's ``model.inpaint`` section (an
:class:`~genzoo.samplers.inpaint.InpaintConfig`; likelihood models such as RealNVP have one) or
else to its Langevin sampler's settings (``model.sampler``, EBMs).

``genzoo inpaint RUN`` (:func:`inpaint_run`) does this for a run on its dataset's test split
and writes before/after grids and the three mean squared errors (pixels in [0, 1]).

References:
    Du & Mordatch, "Implicit Generation and Modeling with Energy-Based Models", NeurIPS 2019,
    section 4.4 (image restoration by Langevin dynamics under an EBM).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from genzoo.data.corruptions import (
    DEFAULT_NOISE,
    OBSERVED,
    Corruption,
    corrupt,
    make_mask,
    neighbour_interpolation,
)
from genzoo.data.transforms import to_float
from genzoo.errors import UserError
from genzoo.io import atomic_write_text, merge_json
from genzoo.runs import load, load_data, read_run_config
from genzoo.samplers.inpaint import Init, inpaint
from genzoo.samplers.langevin import GradFn, energy_score
from genzoo.viz.grid import save_image_grid


def model_score(method) -> GradFn:
    """A trained method's score ``d log p / dx``: ``-dE/dx`` of its energy (EBMs; the marginal
    energy for conditional ones) or the gradient of its ``log_prob`` (likelihood models)."""
    if "energy" in method.capabilities:
        return energy_score(method.energy)
    if {"log_prob", "importance_log_prob"} & method.capabilities:
        return energy_score(lambda x: -method.log_prob(x))
    raise UserError(f"method {method.name!r} has neither an energy nor a log-likelihood to "
                    "inpaint with")


def mse(a: Tensor, b: Tensor, value_range: tuple[float, float],
        where: Tensor | None = None) -> float:
    """Mean squared error with pixels rescaled to [0, 1], over all pixels or the ``where`` ones."""
    scale = value_range[1] - value_range[0]
    err = ((a - b) / scale) ** 2
    if where is not None:
        err = err[where.expand_as(err)]
    return float(err.mean())


def per_image_mse(a: Tensor, b: Tensor, value_range: tuple[float, float]) -> Tensor:
    """Whole-image MSE of each image (B,), pixels rescaled to [0, 1]."""
    scale = value_range[1] - value_range[0]
    return (((a - b) / scale) ** 2).flatten(1).mean(1)


def inpaint_run(run: Path | str, *, n: int = 1000, split: str = "test",
                corruption: Corruption = "even-rows", noise_std: float | None = None,
                steps: int = 100,
                step_size: float | None = None, noise_scale: float | None = None,
                init: Init = "interpolate", observation_weight: float = 1.0,
                checkpoint: str = "last", seed: int = 0,
                batch_size: int = 250, progress: Callable[[int], None] | None = None) -> dict:
    """Corrupt ``n`` images of ``split``, inpaint them under the run's model, and write
    ``RUN/inpaint/{grid.png, inpaint.json}`` plus a report figure; returns the numbers.

    Step size, noise and clipping default to the run's ``model.inpaint`` section, else to its
    sampler settings (``model.sampler``). MSEs are over pixels in [0, 1], on the whole image and
    on the unknown pixels alone, for the model and the two baselines (corrupted input, neighbour
    interpolation), with the whole-image MSE's spread over the images (``*_std``, ``*_min``,
    ``*_max``: the MLP-EBM project's statistics). ``noise_std`` defaults to the corruption's
    (0.3 for ``even-rows-additive``, else 0.5); for an :data:`OBSERVED` corruption the chain
    samples the posterior given the noisy pixels, its observation term weighted by
    ``observation_weight`` (see :func:`~genzoo.samplers.inpaint.inpaint`).
    """
    if noise_std is None:
        noise_std = DEFAULT_NOISE.get(corruption, 0.5)
    if n < 1 or steps < 0 or noise_std < 0:
        raise UserError(f"inpaint: expected n >= 1, steps >= 0 and noise_std >= 0, got {n}, "
                        f"{steps}, {noise_std}")
    run_dir = Path(run)
    cfg = read_run_config(run_dir)
    method = load(run_dir, checkpoint=checkpoint)
    if method.info.kind != "image":
        raise UserError(f"inpaint needs an image model; {run_dir} models {method.info.name!r}")
    sampler = getattr(method.cfg, "inpaint", None) or getattr(method.cfg, "sampler", None)
    a = step_size if step_size is not None else getattr(sampler, "step_size", 0.01)
    s = noise_scale if noise_scale is not None else getattr(sampler, "noise_scale", 0.0)
    clip = getattr(sampler, "clip_grad", None)
    data = load_data(cfg, split, n)
    known = make_mask(corruption, method.info.shape).to(method.device)
    vr = method.data_range
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    score = model_score(method)
    observed_std = noise_std * (vr[1] - vr[0]) if corruption in OBSERVED else None
    clean, corrupted, interpolated, restored = [], [], [], []
    for start in range(0, len(data), batch_size):
        x = to_float(data.x[start:start + batch_size], data.info.value_range, vr).to(method.device)
        x_c = corrupt(x.cpu(), known.cpu(), noise_std, vr, generator).to(method.device)
        clean.append(x.cpu())
        corrupted.append(x_c.cpu())
        interpolated.append(neighbour_interpolation(x_c, known).cpu())
        restored.append(inpaint(score, x_c, known, steps, a, s, init=init, value_range=vr,
                                clip_grad=clip, observed_std=observed_std,
                                observation_weight=observation_weight).cpu())
        if progress:
            progress(min(start + batch_size, len(data)))
    x, x_c, x_i, x_r = (torch.cat(t) for t in (clean, corrupted, interpolated, restored))
    unknown = ~known.cpu()
    numbers = {"n": len(x), "split": split, "corruption": corruption, "noise_std": noise_std,
               "steps": steps, "step_size": a, "noise_scale": s, "init": init}
    if corruption in OBSERVED:
        numbers["observation_weight"] = observation_weight
    for name, value in (("model", x_r), ("corrupted", x_c), ("interpolation", x_i)):
        numbers[f"mse_{name}"] = mse(value, x, vr)
        numbers[f"mse_unknown_{name}"] = mse(value, x, vr, unknown)
        per_image = per_image_mse(value, x, vr)
        numbers.update({f"mse_{name}_std": float(per_image.std()),
                        f"mse_{name}_min": float(per_image.min()),
                        f"mse_{name}_max": float(per_image.max())})
    out = run_dir / "inpaint"
    out.mkdir(exist_ok=True)
    atomic_write_text(out / f"{corruption}.json", json.dumps(numbers, indent=2))
    shown = min(10, len(x))
    rows = torch.cat([x[:shown], x_c[:shown], x_i[:shown], x_r[:shown]])
    grid = save_image_grid(rows, out / f"{corruption}.png", nrow=shown, value_range=vr)
    figures = run_dir / "figures"
    figures.mkdir(exist_ok=True)
    (figures / f"inpaint-{corruption}.png").write_bytes(grid.read_bytes())
    merge_json(figures / "captions.json", {
        f"inpaint-{corruption}.png":
            f"Inpainting ({corruption}, {steps} Langevin steps from {init}); rows: clean, "
            f"corrupted, neighbour interpolation, model. MSE on unknown pixels: model "
            f"{numbers['mse_unknown_model']:.4f}, interpolation "
            f"{numbers['mse_unknown_interpolation']:.4f}, corrupted "
            f"{numbers['mse_unknown_corrupted']:.4f}"})
    merge_json(run_dir / "eval.json", {f"inpaint-{corruption}/{k}": v for k, v in numbers.items()
                                        if k.startswith("mse")})
    return numbers
