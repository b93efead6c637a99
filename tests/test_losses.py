"""The VAE's shared likelihood pieces (genzoo.losses) against torch.distributions."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from genzoo.losses import (
    kl_gaussian_gaussian_analytic,
    kl_gaussian_gaussian_mc,
    log_likelihood_bernoulli,
    log_likelihood_bernoulli_logits,
    log_likelihood_normal,
    log_mean_exp,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _normal(mu: torch.Tensor, logvar: torch.Tensor, dims: int) -> Independent:
    return Independent(Normal(mu, (0.5 * logvar).exp().expand_as(mu)), dims)


def test_log_likelihood_normal_matches_torch():
    g = _gen()
    mu, logvar, x = (torch.randn(5, 2, 3, generator=g, dtype=torch.float64) for _ in range(3))
    torch.testing.assert_close(log_likelihood_normal(mu, logvar, x),
                               _normal(mu, logvar, 2).log_prob(x))
    shared = torch.randn(3, generator=g, dtype=torch.float64)  # broadcast over the batch
    torch.testing.assert_close(log_likelihood_normal(mu, shared, x),
                               _normal(mu, shared, 2).log_prob(x))


def test_log_likelihood_bernoulli_of_means_matches_torch_and_stays_finite():
    g = _gen()
    mu = torch.rand(6, 1, 4, 4, generator=g, dtype=torch.float64)
    x = torch.bernoulli(torch.full_like(mu, 0.5), generator=g)
    expected = Independent(Bernoulli(probs=mu), 3).log_prob(x)
    torch.testing.assert_close(log_likelihood_bernoulli(mu, x), expected)
    # saturated means: exact where they agree with x, a large finite penalty where they do not
    mu = torch.tensor([[0.0, 1.0, 0.0, 1.0]])
    agree = log_likelihood_bernoulli(mu, torch.tensor([[0.0, 1.0, 0.0, 1.0]]))
    disagree = log_likelihood_bernoulli(mu, torch.tensor([[1.0, 1.0, 0.0, 1.0]]))
    assert agree.item() == pytest.approx(0.0, abs=1e-6)
    assert torch.isfinite(disagree).all() and disagree.item() < -15


def test_log_likelihood_bernoulli_logits_matches_torch_and_is_exact_for_huge_logits():
    g = _gen()
    logits = 4 * torch.randn(6, 1, 4, 4, generator=g, dtype=torch.float64)
    x = torch.bernoulli(torch.full_like(logits, 0.5), generator=g)
    expected = Independent(Bernoulli(logits=logits), 3).log_prob(x)
    torch.testing.assert_close(log_likelihood_bernoulli_logits(logits, x), expected)
    torch.testing.assert_close(log_likelihood_bernoulli(torch.sigmoid(logits), x), expected)
    out = log_likelihood_bernoulli_logits(torch.tensor([[200.0, -200.0]]),
                                          torch.tensor([[0.0, 1.0]]))
    assert out.item() == pytest.approx(-400.0)


def test_log_mean_exp_per_row_exact_and_stable():
    y = torch.randn(7, 3, generator=_gen(), dtype=torch.float64)
    torch.testing.assert_close(log_mean_exp(y), y.exp().mean(-1).log())  # default: last dim
    torch.testing.assert_close(log_mean_exp(y, 0), y.exp().mean(0).log())
    assert log_mean_exp(y).shape == (7,) and log_mean_exp(y, dim=0).shape == (3,)
    big = torch.tensor([[1000.0, 1000.0, -1000.0], [-1000.0, -1000.0, -1000.0]])
    torch.testing.assert_close(log_mean_exp(big),
                               torch.tensor([1000.0 + math.log(2 / 3), -1000.0]))


def test_kl_analytic_matches_torch():
    g = _gen()
    mu_q, logvar_q, mu_p, logvar_p = (torch.randn(4, 5, generator=g, dtype=torch.float64)
                                      for _ in range(4))
    torch.testing.assert_close(kl_gaussian_gaussian_analytic(mu_q, logvar_q, mu_p, logvar_p),
                               kl_divergence(_normal(mu_q, logvar_q, 1),
                                             _normal(mu_p, logvar_p, 1)))
    zeros = torch.zeros(5, dtype=torch.float64)  # p = N(0, I), broadcast
    torch.testing.assert_close(kl_gaussian_gaussian_analytic(mu_q, logvar_q, zeros, zeros),
                               kl_divergence(_normal(mu_q, logvar_q, 1),
                                             _normal(zeros.expand(4, 5), zeros, 1)))


def test_kl_monte_carlo_agrees_with_analytic_within_its_standard_error():
    """The S-draw estimate is a mean of S i.i.d. single-draw estimates, so its standard error
    is their standard deviation (estimated from 2000 of them) over sqrt(S)."""
    torch.manual_seed(0)
    g = _gen(1)
    mu_q, logvar_q, mu_p, logvar_p = (0.5 * torch.randn(3, 4, generator=g, dtype=torch.float64)
                                      for _ in range(4))
    exact = kl_gaussian_gaussian_analytic(mu_q, logvar_q, mu_p, logvar_p)
    singles = torch.stack([kl_gaussian_gaussian_mc(mu_q, logvar_q, mu_p, logvar_p, 1)
                           for _ in range(2000)])
    s = 20000
    estimate = kl_gaussian_gaussian_mc(mu_q, logvar_q, mu_p, logvar_p, s)
    assert estimate.shape == exact.shape == (3,)
    stderr = singles.std(0) / math.sqrt(s)
    assert ((estimate - exact).abs() < 4 * stderr).all(), (estimate, exact, stderr)
    # the single draws themselves average to the exact KL as well
    assert ((singles.mean(0) - exact).abs() < 4 * singles.std(0) / math.sqrt(2000)).all()


def test_kl_monte_carlo_is_reparameterised():
    """Its gradient in q's mean is unbiased: for p = N(0, I) d KL / d mu_q = mu_q."""
    torch.manual_seed(0)
    mu_q = torch.tensor([[0.7, -1.2]], dtype=torch.float64, requires_grad=True)
    logvar_q = torch.tensor([[0.3, -0.4]], dtype=torch.float64)
    zeros = torch.zeros(2, dtype=torch.float64)
    s = 50000
    kl_gaussian_gaussian_mc(mu_q, logvar_q, zeros, zeros, s).sum().backward()
    # per draw the gradient is z = mu_q + sigma_q eps (log q's own dependence on mu_q cancels)
    sigma_q = (0.5 * logvar_q).exp()
    assert ((mu_q.grad - mu_q.detach()).abs() < 4 * sigma_q / math.sqrt(s)).all()
