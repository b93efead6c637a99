"""Langevin dynamics on a gradient callable, in the forms the EBM literature uses.

Every sampler takes ``grad_log_p(x) -> tensor`` (the score; for an energy E this is ``-dE/dx``,
see :func:`energy_score`) rather than a model, so one implementation serves EBMs, conditional
EBMs, JEM, JEM++ and score models. *What* to sample (the step-size schedule) is separate from
*how* to step:

- :func:`sgld` — the JEM form ``x <- x + a * grad log p(x) + s * eta`` (step size and noise
  scale set independently, as JEM and IGEBM code do);
- :func:`langevin` — the paper form ``x <- x + (eps_t^2 / 2) grad log p(x) + eps_t * eta`` with
  a constant, linear or geometric schedule of ``eps_t`` (the unadjusted Langevin algorithm,
  which samples p exactly as eps -> 0);
- the IGEBM code form is :func:`sgld` with ``clip_grad`` (per-pixel gradient clipping) and
  ``clamp`` (project back into the data range after every step);
- :func:`annealed_langevin` — noise-conditional score models (NCSN): Langevin at each of a
  decreasing sequence of noise levels with step ``eps * sigma_i^2 / sigma_L^2``;
- :func:`proximal_sgld` — JEM++'s proximal SGLD: each outer step takes one full energy
  gradient and then several cheap, clipped inner steps through the network's first layer only
  (the YOPO decomposition), so a chain needs fewer full forward-backward passes.

The trajectory variants call ``record(t, x)`` every ``every`` steps instead of returning
something different: a sampler's return type never depends on a flag.

References:
    Welling & Teh, "Bayesian Learning via Stochastic Gradient Langevin Dynamics", ICML 2011.
    Grathwohl et al., "Your Classifier is Secretly an Energy Based Model...", ICLR 2020, eq. 11.
    Du & Mordatch, "Implicit Generation and Modeling with Energy-Based Models", NeurIPS 2019.
    Song & Ermon, "Generative Modeling by Estimating Gradients of the Data Distribution",
    NeurIPS 2019, algorithm 1.
    Yang & Ji, "JEM++: Improved Techniques for Training JEM", ICCV 2021 (proximal SGLD).
    Zhang et al., "You Only Propagate Once: Accelerating Adversarial Training via Maximal
    Principle", NeurIPS 2019 (the first-layer Hamiltonian of the inner steps).

Example:
    >>> mean = torch.tensor([1.0, -1.0])               # p = N(mean, I): score -(x - mean)
    >>> x = langevin(lambda x: -(x - mean), torch.zeros(5000, 2), steps=200, eps=0.5)
    >>> x.shape
    torch.Size([5000, 2])
    >>> torch.allclose(x.mean(0), mean, atol=0.1), torch.allclose(x.std(0), torch.ones(2),
    ...                                                           atol=0.1)
    (True, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import torch
from torch import Tensor, nn

GradFn = Callable[[Tensor], Tensor]
Recorder = Callable[[int, Tensor], None]
Schedule = Literal["constant", "linear", "geometric"]


def energy_score(energy: Callable[[Tensor], Tensor]) -> GradFn:
    """``grad log p = -dE/dx`` of an energy (B, ...) -> (B,), by autograd.

    Only ``x`` receives a gradient: the energy's parameters accumulate nothing, whatever their
    ``requires_grad`` (``torch.autograd.grad`` w.r.t. ``x`` alone).
    """

    def grad(x: Tensor) -> Tensor:
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(energy(x).sum(), x)
        return -g

    return grad


@contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Inside the block no parameter of ``module`` requires a gradient (each flag is restored
    after, also on an exception).

    Sampling needs ``dE/dx`` only: with frozen weights autograd records no weight edges and
    saves nothing for weight gradients, which makes a chain's backward passes cheaper.
    """
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def step_sizes(schedule: Schedule, start: float, end: float, steps: int) -> list[float]:
    """``eps_t`` for t = 0..steps-1: constant ``start``; linear from ``start`` to ``end``; or
    geometric ``start * (end / start) ** (t / (steps - 1))`` (so both endpoints are hit)."""
    if steps <= 0:
        return []
    if schedule == "constant" or steps == 1:
        return [start] * steps
    fraction = [t / (steps - 1) for t in range(steps)]
    if schedule == "linear":
        return [start + (end - start) * f for f in fraction]
    if schedule == "geometric":
        if start <= 0 or end <= 0:
            raise ValueError("a geometric schedule needs positive endpoints")
        return [start * (end / start) ** f for f in fraction]
    raise ValueError(f"unknown schedule {schedule!r}")


Project = Callable[[Tensor], Tensor]


def _clamped(x: Tensor, clamp: tuple[float, float] | None) -> Tensor:
    return x if clamp is None else x.clamp(*clamp)


def _noise(x: Tensor) -> Tensor:
    """Standard normal noise of x's shape drawn in the contiguous layout, whatever x's memory
    format: the same draws as ``torch.randn_like`` of a contiguous x, so a channels-last chain
    follows the same path for the same seed."""
    return torch.randn(x.shape, dtype=x.dtype, device=x.device)


def sgld_trajectory(grad_log_p: GradFn, x: Tensor, steps: int, step_size: float | Sequence[float],
                    noise_scale: float | Sequence[float], record: Recorder | None, *,
                    every: int = 1, clip_grad: float | None = None,
                    clamp: tuple[float, float] | None = None,
                    project: Project | None = None) -> Tensor:
    """:func:`sgld`, calling ``record(t, x)`` at t = 0 and every ``every`` steps after (with a
    copy: the chain itself is updated in place); ``record`` None records nothing."""
    sizes = [step_size] * steps if isinstance(step_size, (int, float)) else list(step_size)
    noises = [noise_scale] * steps if isinstance(noise_scale, (int, float)) else list(noise_scale)
    if len(sizes) != steps or len(noises) != steps:
        raise ValueError(f"need {steps} step sizes and noise scales")
    x = x.detach().clone()  # updated in place from here on; the caller's x is not touched
    if record is not None:
        record(0, x.clone())
    for t in range(steps):
        g = grad_log_p(x)
        if clip_grad is not None:
            g = g.clamp(-clip_grad, clip_grad)
        x.add_(g, alpha=sizes[t]).add_(_noise(x), alpha=noises[t])
        if clamp is not None:
            x.clamp_(*clamp)
        if project is not None:
            x = project(x).detach()
        if record is not None and ((t + 1) % every == 0 or t + 1 == steps):
            record(t + 1, x.clone())
    return x


def sgld(grad_log_p: GradFn, x: Tensor, steps: int, step_size: float | Sequence[float],
         noise_scale: float | Sequence[float], *, clip_grad: float | None = None,
         clamp: tuple[float, float] | None = None, project: Project | None = None) -> Tensor:
    """JEM / IGEBM form: ``x <- project(clamp(x + a_t * clip(grad log p(x)) + s_t * eta))``.

    Args:
        grad_log_p: score function (B, ...) -> (B, ...).
        x: starting points (B, ...); not modified.
        steps: number of updates T.
        step_size: ``a`` (a number, or T numbers).
        noise_scale: ``s`` (a number, or T numbers).
        clip_grad: clip each gradient entry to [-c, c] (IGEBM code).
        clamp: project into ``(low, high)`` after each step (IGEBM code).
        project: any other projection after each step, e.g. resetting known pixels when
            inpainting (:mod:`genzoo.analyze.inpaint`).

    Returns:
        The final points (B, ...), detached.
    """
    return sgld_trajectory(grad_log_p, x, steps, step_size, noise_scale, None,
                           clip_grad=clip_grad, clamp=clamp, project=project)


def langevin_trajectory(grad_log_p: GradFn, x: Tensor, steps: int, eps: float,
                        record: Recorder | None, *, eps_end: float | None = None,
                        schedule: Schedule = "constant", every: int = 1,
                        clamp: tuple[float, float] | None = None) -> Tensor:
    """:func:`langevin`, calling ``record(t, x)`` at t = 0 and every ``every`` steps after."""
    eps_t = step_sizes(schedule, eps, eps if eps_end is None else eps_end, steps)
    return sgld_trajectory(grad_log_p, x, steps, [e * e / 2 for e in eps_t], eps_t, record,
                           every=every, clamp=clamp)


def langevin(grad_log_p: GradFn, x: Tensor, steps: int, eps: float, *,
             eps_end: float | None = None, schedule: Schedule = "constant",
             clamp: tuple[float, float] | None = None) -> Tensor:
    """Paper form: ``x <- x + (eps_t^2 / 2) * grad log p(x) + eps_t * eta``, eta ~ N(0, I).

    Args:
        grad_log_p: score function (B, ...) -> (B, ...).
        x: starting points (B, ...).
        steps: number of updates T.
        eps: ``eps_0``; with ``schedule`` constant, every step's.
        eps_end: ``eps_{T-1}`` for the linear and geometric schedules.
        schedule: ``constant``, ``linear`` or ``geometric`` (see :func:`step_sizes`).
        clamp: optional projection into ``(low, high)`` after each step.
    """
    return langevin_trajectory(grad_log_p, x, steps, eps, None, eps_end=eps_end,
                               schedule=schedule, clamp=clamp)


def noise_levels(sigma_max: float, sigma_min: float, levels: int) -> Tensor:
    """Geometric sequence sigma_1 > ... > sigma_L from ``sigma_max`` to ``sigma_min``."""
    return torch.exp(torch.linspace(math.log(sigma_max), math.log(sigma_min), levels))


def annealed_langevin(score: Callable[[Tensor, Tensor], Tensor], x: Tensor, sigmas: Tensor,
                      steps_per_level: int, eps: float, *, denoise: bool = False) -> Tensor:
    """NCSN annealed Langevin dynamics (Song & Ermon 2019, algorithm 1).

    At level i the step is ``alpha_i = eps * sigma_i^2 / sigma_L^2`` and each of
    ``steps_per_level`` updates is ``x <- x + (alpha_i / 2) s(x, sigma_i) + sqrt(alpha_i) z``.

    Args:
        score: ``s(x, sigma) ~ grad log p_sigma(x)`` with sigma a (B,) tensor.
        x: starting points (B, ...).
        sigmas: decreasing noise levels (L,).
        steps_per_level: updates per level T.
        eps: step size at the smallest level.
        denoise: finish with one noise-free step ``x + sigma_L^2 s(x, sigma_L)`` (Tweedie).
    """
    x = x.detach()
    last = float(sigmas[-1])
    for sigma in sigmas.tolist():
        alpha = eps * sigma**2 / last**2
        level = torch.full((len(x),), sigma, device=x.device, dtype=x.dtype)
        for _ in range(steps_per_level):
            x = (x + alpha / 2 * score(x, level) + math.sqrt(alpha) * torch.randn_like(x))
            x = x.detach()
    if denoise:
        level = torch.full((len(x),), last, device=x.device, dtype=x.dtype)
        x = (x + last**2 * score(x, level)).detach()
    return x


def proximal_sgld(stem: Callable[[Tensor], Tensor], head_energy: Callable[[Tensor], Tensor],
                  x: Tensor, steps: int, step_size: float, noise_scale: float | Sequence[float],
                  *, inner_steps: int, inner_step: float, inner_clip: float,
                  clip_grad: float | None = None,
                  clamp: tuple[float, float] | None = None, record: Recorder | None = None,
                  every: int = 1) -> Tensor:
    """JEM++ proximal SGLD on ``E(x) = head_energy(stem(x))`` (YOPO form).

    Each outer step t computes, in one backward pass, ``g = dE/dx`` and ``p = dE/dz`` at the
    first layer's output ``z = stem(x)``; then

        x' <- x - a * clip(g)                               (skipped when a = 0)
        repeat inner_steps: x' <- clamp(x' - b * clip(d<stem(x'), p>/dx', c))
        x  <- clamp(x' + s_t * eta)

    The inner steps descend the Hamiltonian ``<stem(x'), p>`` with ``p`` frozen: they cost a
    forward and backward of the first layer only, and each moves every entry by at most
    ``b * c`` (the proximal bound).

    Args:
        stem: the network's first layer, (B, ...) -> (B, ...).
        head_energy: the rest of the energy, ``stem(x)`` -> (B,).
        x: starting points (B, ...); not modified.
        steps: outer steps T (full forward-backward passes).
        step_size: ``a``, the outer gradient step.
        noise_scale: ``s`` (a number, or T numbers); 0 for none (JEM++'s default).
        inner_steps: proximal steps per outer step.
        inner_step: ``b``, their step size.
        inner_clip: ``c``, each entry of their gradient is clipped to [-c, c].
        clip_grad: clip each entry of the outer gradient ``g`` to [-c, c] (None: no clipping).
        clamp: project into ``(low, high)`` after every update.
        record, every: ``record(t, x)`` at t = 0 and every ``every`` outer steps after, as in
            :func:`sgld_trajectory` (None: nothing recorded).

    Returns:
        The final points (B, ...), detached. The stem and head accumulate no gradient.
    """
    noises = [noise_scale] * steps if isinstance(noise_scale, (int, float)) else list(noise_scale)
    if len(noises) != steps:
        raise ValueError(f"need {steps} noise scales")
    x = x.detach()
    if record is not None:
        record(0, x.clone())
    for t in range(steps):
        with torch.enable_grad():
            xg = x.requires_grad_(True)
            z = stem(xg)
            g, p = torch.autograd.grad(head_energy(z).sum(), (xg, z))
        if clip_grad is not None:
            g = g.clamp(-clip_grad, clip_grad)
        x = _clamped(x.detach() - step_size * g, clamp) if step_size else x.detach()
        p = p.detach()
        for _ in range(inner_steps):
            with torch.enable_grad():
                xi = x.requires_grad_(True)
                (h,) = torch.autograd.grad((stem(xi) * p).sum(), xi)
            x = _clamped(x.detach() - inner_step * h.clamp(-inner_clip, inner_clip), clamp)
        if noises[t]:
            x = _clamped(x + noises[t] * _noise(x), clamp)
        x = x.detach()
        if record is not None and ((t + 1) % every == 0 or t + 1 == steps):
            record(t + 1, x.clone())
    return x
