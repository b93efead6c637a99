"""Latent-space studies of a trained GAN: ``genzoo analyze RUN perturb interpolate``.

Figures go to ``RUN/figures/`` (captions in ``captions.json``, where ``genzoo report`` finds
them) and numbers to ``RUN/eval.json`` under ``WHAT/...``. With a judge for the run's dataset
(and ``judge=True``) the numbers include what the judge sees; without, only pixel distances.

=============== =============================================================================
``perturb``     ``G(z + eps e_i)`` for every latent dimension i and eps in ``-eps_max .. eps_max``
                (7 values; default 3, three prior standard deviations, large enough to see):
                the grid for one base latent (row = dimension) and, over ``n`` base latents,
                each dimension's mean absolute pixel change at ``+-eps_max`` (bar chart), and
                how often the judge's label flips
``interpolate`` for pairs (z0, z1) and a = 0, 0.1, ..., 1: ``G(a z0 + (1 - a) z1)`` (latent
                space) against ``a G(z0) + (1 - a) G(z1)`` (data space), alternate rows; the
                judge's mean confidence along each path (data-space blends are double
                exposures, so their confidence dips mid-way) and the mean step between frames
=============== =============================================================================

A conditional GAN keeps one label per base latent or pair (drawn uniformly, seeded), so only z
moves.

References:
    Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep Convolutional
    Generative Adversarial Networks", ICLR 2016 (section 6.1, walking in the latent space).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from genzoo.analyze.base import Suite, run_analyses
from genzoo.analyze.judges import JUDGE_PRESETS, load_judge
from genzoo.errors import UserError
from genzoo.metrics.judge import Judge
from genzoo.runs import load
from genzoo.viz._io import atomic_write_bytes, figure_png_bytes
from genzoo.viz.grid import save_image_grid

ANALYSES = ("perturb", "interpolate")
ALPHAS = tuple(round(0.1 * i, 1) for i in range(11))


def _labels(gan, n: int) -> Tensor | None:
    return gan.labels(n, None) if gan.conditional else None


@torch.no_grad()
def perturbations(gan, z: Tensor, y: Tensor | None, eps: Sequence[float]) -> Tensor:
    """``G(z + e e_i)`` (N, D, E, *shape) for base latents z (N, D), every dimension i < D and
    every ``e`` in ``eps`` (E values); labels y (N,) for a conditional GAN."""
    n, d = z.shape
    steps = torch.as_tensor(list(eps), dtype=z.dtype, device=z.device)
    moved = z[:, None, None, :] + steps[None, None, :, None] * torch.eye(
        d, dtype=z.dtype, device=z.device)[None, :, None, :]  # (N, D, E, D)
    labels = None if y is None else y[:, None, None].expand(n, d, len(steps)).reshape(-1)
    x = gan.generate(moved.reshape(-1, d), labels)
    return x.reshape(n, d, len(steps), *x.shape[1:])


@torch.no_grad()
def interpolations(gan, z0: Tensor, z1: Tensor, y: Tensor | None,
                   alphas: Sequence[float] = ALPHAS) -> tuple[Tensor, Tensor]:
    """Latent- and data-space paths (N, A, *shape) between pairs of latents z0, z1 (N, D):
    ``G(a z0 + (1 - a) z1)`` and ``a G(z0) + (1 - a) G(z1)`` for each a in ``alphas``."""
    a = torch.as_tensor(list(alphas), dtype=z0.dtype, device=z0.device)[None, :, None]
    n, d = z0.shape
    z = a * z0[:, None] + (1 - a) * z1[:, None]  # (N, A, D)
    labels = None if y is None else y[:, None].expand(n, len(alphas)).reshape(-1)
    latent = gan.generate(z.reshape(-1, d), labels).reshape(n, len(alphas), *gan.info.shape)
    g0, g1 = gan.generate(z0, y), gan.generate(z1, y)
    shape = (1, -1) + (1,) * len(gan.info.shape)
    data = a.view(shape) * g0[:, None] + (1 - a.view(shape)) * g1[:, None]
    return latent, data


def _confidence(judge: Judge, x: Tensor, value_range) -> Tensor:
    """The judge's largest class probability and label per image, x (N, *shape)."""
    probs = torch.softmax(judge.logits(x.cpu(), value_range), 1)
    return probs.max(1)


def analyse_perturb(gan, out: Path, n: int, eps_max: float, judge: Judge | None
                    ) -> tuple[dict, dict]:
    d = gan.cfg.latent_dim
    eps = np.linspace(-eps_max, eps_max, 7).tolist()
    z = gan.latents(n)
    y = _labels(gan, n)
    x = perturbations(gan, z, y, eps).cpu()  # (n, D, 7, *shape)
    rows = min(d, 32)
    save_image_grid(x[0, :rows].flatten(0, 1), out / "gan-perturb.png", nrow=len(eps),
                    value_range=gan.data_range)
    base = x[:, :, 3]  # eps = 0
    change = (x[:, :, [0, -1]] - base[:, :, None]).abs().flatten(3).mean(-1)  # (n, D, 2)
    per_dim = change.mean((0, 2))  # (D,)
    fig = Figure(figsize=(max(4.0, 0.12 * d + 2), 3))
    ax = fig.add_subplot()
    ax.bar(range(d), per_dim.numpy(), color="tab:blue")
    ax.set_xlabel("latent dimension i")
    ax.set_ylabel(f"mean |G(z +- {eps_max:g} e_i) - G(z)|")
    ax.set_title(f"sensitivity of G to each latent dimension ({n} base latents)")
    atomic_write_bytes(out / "gan-perturb-sensitivity.png", figure_png_bytes(fig))
    order = per_dim.argsort(descending=True)
    numbers = {"eps_max": eps_max, "mean_pixel_change": float(per_dim.mean()),
               "max_pixel_change": float(per_dim.max()), "min_pixel_change": float(per_dim.min()),
               "top_dims": str(order[:5].tolist())}
    if judge is not None:
        _, label0 = _confidence(judge, base[:, 0], gan.data_range)
        flips = [(_confidence(judge, x[:, :, j].flatten(0, 1), gan.data_range)[1]
                  != label0.repeat_interleave(d)).float().mean() for j in (0, len(eps) - 1)]
        numbers["judge_label_flip_rate"] = float(sum(flips) / 2)
    shown = f"the first {rows} of {d}" if rows < d else f"all {d}"
    figures = {
        "gan-perturb.png": f"G(z + eps e_i) for one base latent: one row per latent dimension "
                           f"({shown}), eps = {', '.join(f'{e:g}' for e in eps)} across",
        "gan-perturb-sensitivity.png": f"mean absolute pixel change when each latent dimension "
                                       f"moves by +-{eps_max:g}, over {n} base latents"}
    return figures, numbers


def analyse_interpolate(gan, out: Path, n: int, judge: Judge | None) -> tuple[dict, dict]:
    pairs = max(1, min(n, 8))
    z0, z1 = gan.latents(pairs), gan.latents(pairs)
    y = _labels(gan, pairs)
    latent, data = (p.cpu() for p in interpolations(gan, z0, z1, y))
    rows = torch.stack([latent, data], 1).flatten(0, 2)  # pair-major, latent row then data row
    save_image_grid(rows, out / "gan-interpolate.png", nrow=len(ALPHAS),
                    value_range=gan.data_range)
    numbers: dict[str, float] = {}
    for name, path in (("latent", latent), ("data", data)):
        step = (path[:, 1:] - path[:, :-1]).flatten(2).norm(dim=2)  # (pairs, A - 1)
        numbers[f"{name}/mean_step"] = float(step.mean())
        numbers[f"{name}/max_step"] = float(step.max())
        if judge is not None:
            conf, _ = _confidence(judge, path.flatten(0, 1), gan.data_range)
            conf = conf.view(pairs, len(ALPHAS))
            numbers[f"{name}/judge_confidence"] = float(conf.mean())
            numbers[f"{name}/judge_confidence_midway"] = float(conf[:, len(ALPHAS) // 2].mean())
    figures = {"gan-interpolate.png": f"{pairs} pairs of latents: for each, G(a z0 + (1 - a) z1) "
                                      f"(latent space, upper row) and a G(z0) + (1 - a) G(z1) "
                                      f"(data space, lower row); columns a = 0, 0.1, ..., 1 "
                                      f"(a = 0: G(z1), a = 1: G(z0))"}
    return figures, numbers


def analyze_gan_run(run: Path | str, what: Sequence[str], *, n: int = 100, eps: float = 3.0,
                    checkpoint: str = "last", seed: int = 0, judge: bool = True
                    ) -> dict[str, float]:
    """Run the analyses ``what`` (names from :data:`ANALYSES`, or ``all``) on a GAN run;
    figures go to ``RUN/figures/`` and numbers to ``RUN/eval.json``; returns the numbers.

    Args:
        run: the run directory.
        what: analysis names.
        n: base latents for ``perturb`` (pairs for ``interpolate``: at most 8).
        eps: ``perturb``'s largest shift of one latent coordinate.
        checkpoint: ``last``, ``best`` or a path.
        seed: seeds the latents.
        judge: score the images with the dataset's judge when one exists (may train it).
    """
    what = list(ANALYSES) if "all" in what else list(what)
    unknown = [w for w in what if w not in ANALYSES]
    if unknown:
        raise UserError(f"unknown GAN analysis {unknown[0]!r}; choose from "
                        f"{', '.join(ANALYSES)}, all")
    if n < 1 or not eps > 0:
        raise UserError(f"expected positive numbers, got n={n}, eps={eps}", param="n, eps")
    run_dir = Path(run)
    gan = load(run_dir, checkpoint=checkpoint)
    if "generator" not in gan.capabilities:
        raise UserError(f"{run_dir} is a {gan.name!r} run; these analyses need a GAN")
    if gan.info.kind != "image":
        raise UserError(f"the GAN analyses draw images; {run_dir} was trained on "
                        f"{gan.info.name!r} ({gan.info.kind} data)")
    name = gan.info.name
    use_judge = judge and gan.info.kind == "image" and name in JUDGE_PRESETS
    the_judge = load_judge(name, quiet=False) if use_judge else None
    torch.manual_seed(seed)
    out = run_dir / "figures"
    out.mkdir(exist_ok=True)
    jobs: dict[str, Callable[[], tuple[dict, dict]]] = {
        "perturb": lambda: analyse_perturb(gan, out, n, eps, the_judge),
        "interpolate": lambda: analyse_interpolate(gan, out, n, the_judge),
    }
    return run_analyses(jobs, what, run_dir)


Suite(ANALYSES, "generator", analyze_gan_run,
      ("n", "eps", "checkpoint", "seed", "judge")).register()
