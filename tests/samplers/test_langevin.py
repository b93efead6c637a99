"""Langevin samplers recover known distributions."""

from __future__ import annotations

import math

import pytest
import torch

from genzoo.samplers.langevin import (
    annealed_langevin,
    energy_score,
    langevin,
    langevin_trajectory,
    noise_levels,
    sgld,
    step_sizes,
)

MEAN = torch.tensor([1.0, -2.0])
COV = torch.tensor([[1.0, 0.6], [0.6, 0.5]])
PREC = torch.linalg.inv(COV)


def gaussian_energy(x: torch.Tensor) -> torch.Tensor:
    d = x - MEAN
    return 0.5 * ((d @ PREC) * d).sum(1)


def moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x.mean(0), torch.cov(x.T)


def test_paper_form_recovers_gaussian_moments():
    torch.manual_seed(0)
    x = langevin(energy_score(gaussian_energy), torch.zeros(4000, 2), steps=2000, eps=0.1)
    mean, cov = moments(x)
    assert torch.allclose(mean, MEAN, atol=0.05)
    assert torch.allclose(cov, COV, atol=0.06)


def test_jem_form_with_matched_step_and_noise_is_the_same_chain():
    torch.manual_seed(0)
    s = 0.1
    x = sgld(energy_score(gaussian_energy), torch.zeros(4000, 2), steps=2000,
             step_size=s * s / 2, noise_scale=s)
    mean, cov = moments(x)
    assert torch.allclose(mean, MEAN, atol=0.05) and torch.allclose(cov, COV, atol=0.06)
    torch.manual_seed(1)
    a = sgld(energy_score(gaussian_energy), torch.zeros(7, 2), 5, s * s / 2, s)
    torch.manual_seed(1)
    b = langevin(energy_score(gaussian_energy), torch.zeros(7, 2), 5, eps=s)
    assert torch.allclose(a, b)


def test_igebm_form_clips_gradients_and_clamps():
    torch.manual_seed(0)
    x0 = torch.zeros(100, 2)
    big = sgld(lambda x: torch.full_like(x, 1e6), x0, steps=1, step_size=1.0, noise_scale=0.0,
               clip_grad=0.01)
    assert torch.allclose(big, torch.full_like(x0, 0.01))
    boxed = sgld(energy_score(gaussian_energy), torch.zeros(500, 2), steps=50, step_size=0.5,
                 noise_scale=1.0, clamp=(-1.0, 1.0))
    assert boxed.min() >= -1 and boxed.max() <= 1


def test_schedules_hit_their_endpoints():
    geo = step_sizes("geometric", 1.0, 0.01, 5)
    assert geo[0] == 1.0 and geo[-1] == pytest.approx(0.01)
    assert geo[2] == pytest.approx(0.1)  # eps_t = eps_0 (eps_T / eps_0)^(t / T)
    lin = step_sizes("linear", 1.0, 0.5, 3)
    assert lin == [1.0, 0.75, 0.5]
    assert step_sizes("constant", 0.3, 0.1, 4) == [0.3] * 4
    levels = noise_levels(10.0, 0.01, 4)
    assert levels[0] == pytest.approx(10.0) and levels[-1] == pytest.approx(0.01)


def test_trajectory_records_thinned_steps():
    seen = []
    langevin_trajectory(lambda x: -x, torch.zeros(3, 2), steps=10, eps=0.1,
                        record=lambda t, x: seen.append(t), every=4)
    assert seen == [0, 4, 8, 10]


def test_energy_score_does_not_touch_parameters():
    net = torch.nn.Linear(2, 1)
    grad = energy_score(lambda x: net(x).squeeze(-1))(torch.randn(5, 2))
    assert torch.allclose(grad, -net.weight.expand(5, 2))
    assert all(p.grad is None for p in net.parameters())


def test_annealed_langevin_recovers_mixture_weights():
    """Plain Langevin mixes badly between separated modes; annealing gets the weights right."""
    torch.manual_seed(0)
    weights = torch.tensor([0.8, 0.2])
    centres = torch.tensor([[-4.0, 0.0], [4.0, 0.0]])
    s2 = 0.25

    def score(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        var = s2 + sigma[:, None] ** 2  # p_sigma = sum_k w_k N(mu_k, (s^2 + sigma^2) I)
        d2 = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
        logits = weights.log()[None] - d2 / (2 * var) - math.log(2 * math.pi) - var.log()
        r = logits.softmax(1)
        return -(r[:, :, None] * (x[:, None, :] - centres[None])).sum(1) / var

    x0 = 10.0 * torch.randn(4000, 2)
    # enough steps per level for the chains to mix across modes while sigma is still large
    x = annealed_langevin(score, x0, noise_levels(10.0, 0.05, 10), steps_per_level=400,
                          eps=2e-4)
    left = (x[:, 0] < 0).float().mean().item()
    assert left == pytest.approx(0.8, abs=0.03)
    assert torch.cov(x[x[:, 0] < 0].T).diag().mean().item() == pytest.approx(s2, rel=0.2)
