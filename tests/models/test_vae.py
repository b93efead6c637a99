"""VAE family and its shared losses: exact answers against torch.distributions and a known model."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, MultivariateNormal, Normal, kl_divergence

from genzoo.config import build_run_config
from genzoo.data.base import DatasetInfo
from genzoo.errors import ConfigError
from genzoo.losses import (
    kl_gaussian_gaussian_analytic,
    kl_gaussian_gaussian_mc,
    log_likelihood_bernoulli,
    log_likelihood_normal,
    log_mean_exp,
)
from genzoo.models.vae import VAE, VAEConfig
from genzoo.nets.mlp import MLPConfig
from genzoo.runs import train

VECTORS = DatasetInfo("toy", (3,), None, None, "vector")


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- losses.py
def test_log_likelihood_normal_matches_torch():
    g = _gen()
    mu, logvar, x = (torch.randn(5, 2, 3, generator=g, dtype=torch.float64) for _ in range(3))
    expected = Independent(Normal(mu, (0.5 * logvar).exp()), 2).log_prob(x)
    torch.testing.assert_close(log_likelihood_normal(mu, logvar, x), expected)
    shared = torch.randn(3, generator=g, dtype=torch.float64)  # broadcast over the batch
    expected = Independent(Normal(mu, (0.5 * shared).exp().expand_as(mu)), 2).log_prob(x)
    torch.testing.assert_close(log_likelihood_normal(mu, shared, x), expected)


def test_log_likelihood_bernoulli_matches_torch_and_is_stable():
    g = _gen()
    logits = 4 * torch.randn(6, 1, 4, 4, generator=g, dtype=torch.float64)
    x = torch.bernoulli(torch.full_like(logits, 0.5), generator=g)
    expected = Independent(Bernoulli(logits=logits), 3).log_prob(x)
    torch.testing.assert_close(log_likelihood_bernoulli(logits, x), expected)
    huge = torch.tensor([[200.0, -200.0]])
    out = log_likelihood_bernoulli(huge, torch.tensor([[0.0, 1.0]]))
    assert torch.isfinite(out).all() and out.item() == pytest.approx(-400.0)


def test_log_mean_exp_exact_and_stable():
    y = torch.randn(7, 3, generator=_gen(), dtype=torch.float64)
    torch.testing.assert_close(log_mean_exp(y, 0), y.exp().mean(0).log())
    big = torch.tensor([1000.0, 1000.0, -1000.0])
    assert log_mean_exp(big, 0).item() == pytest.approx(1000.0 + math.log(2 / 3))
    small = torch.tensor([-1000.0, -1000.0])
    assert log_mean_exp(small, 0).item() == pytest.approx(-1000.0)


def test_kl_analytic_matches_torch():
    g = _gen()
    mu_q, logvar_q, mu_p, logvar_p = (torch.randn(4, 5, generator=g, dtype=torch.float64)
                                      for _ in range(4))
    q = Independent(Normal(mu_q, (0.5 * logvar_q).exp()), 1)
    p = Independent(Normal(mu_p, (0.5 * logvar_p).exp()), 1)
    torch.testing.assert_close(kl_gaussian_gaussian_analytic(mu_q, logvar_q, mu_p, logvar_p),
                               kl_divergence(q, p))


def test_kl_monte_carlo_agrees_with_analytic_within_its_error():
    torch.manual_seed(0)
    g = _gen(1)
    mu_q, logvar_q, mu_p, logvar_p = (0.5 * torch.randn(3, 4, generator=g, dtype=torch.float64)
                                      for _ in range(4))
    exact = kl_gaussian_gaussian_analytic(mu_q, logvar_q, mu_p, logvar_p)
    s = 20000
    draws = torch.stack([kl_gaussian_gaussian_mc(mu_q, logvar_q, mu_p, logvar_p, 1)
                         for _ in range(200)])  # single-draw estimates give the spread
    estimate = kl_gaussian_gaussian_mc(mu_q, logvar_q, mu_p, logvar_p, s)
    stderr = draws.std(0) / math.sqrt(s)
    assert ((estimate - exact).abs() < 4 * stderr).all(), (estimate, exact, stderr)


# ----------------------------------------------------------------------------- the method
def _vae(**kw) -> VAE:
    cfg = VAEConfig(encoder=MLPConfig(width=16, depth=1), decoder_net=MLPConfig(width=16, depth=1),
                    **kw)
    torch.manual_seed(0)
    return VAE(cfg, VECTORS)


def test_loss_is_negative_elbo_and_metrics_add_up():
    vae = _vae()
    x = torch.randn(32, 3)
    torch.manual_seed(1)
    out = vae.loss(vae.prepare(x))
    m = out.metrics
    assert out.loss.item() == pytest.approx(-m["elbo"], rel=1e-6)
    assert m["elbo"] == pytest.approx(-(m["recon"] + m["kl"]), rel=1e-5)
    assert m["kl"] >= 0


def test_importance_estimate_with_k1_averages_to_the_elbo_and_grows_with_k():
    vae = _vae(decoder_logvar="global").double()
    x = torch.randn(4, 3, generator=_gen(), dtype=torch.float64)
    torch.manual_seed(0)
    n = 20000  # draws per point, all in one batch: x repeated n times
    xs = x.repeat(n, 1)
    log_px_z, kl = vae.elbo(xs)
    elbos = (log_px_z - kl).detach().view(n, 4)
    k1 = vae.log_prob(xs, k=1).view(n, 4)
    stderr = (elbos.var(0) / n + k1.var(0) / n).sqrt()
    assert ((elbos.mean(0) - k1.mean(0)).abs() < 4 * stderr).all()
    k10 = vae.log_prob(x.repeat(1000, 1), k=10).view(1000, 4).mean(0)
    k200 = vae.log_prob(x.repeat(50, 1), k=200, chunk_size=7).view(50, 4).mean(0)
    assert (k10 > k1.mean(0)).all() and (k200 > k10).all()


def test_importance_estimate_of_a_linear_gaussian_vae_reaches_the_marginal():
    """z ~ N(0, I_2), x|z ~ N(W z + b, s^2 I_3), so x ~ N(b, W W^T + s^2 I) exactly."""
    torch.manual_seed(0)
    cfg = VAEConfig(encoder=MLPConfig(depth=0), decoder_net=MLPConfig(depth=0), latent_dim=2,
                    decoder_logvar="per-dim", min_logvar=-30.0)
    vae = VAE(cfg, VECTORS).double()
    g = _gen(3)
    w = torch.randn(3, 2, generator=g, dtype=torch.float64)
    b = torch.randn(3, generator=g, dtype=torch.float64)
    s2 = 0.5
    cov_x = w @ w.T + s2 * torch.eye(3, dtype=torch.float64)
    # exact posterior q(z|x) = N(A (x - b), S): an affine encoder can represent it
    post_cov = torch.linalg.inv(torch.eye(2, dtype=torch.float64) + w.T @ w / s2)
    gain = post_cov @ w.T / s2
    with torch.no_grad():
        vae.decoder_net.head.weight.copy_(w)
        vae.decoder_net.head.bias.copy_(b)
        vae.logvar_x.fill_(math.log(s2))
        # a deliberately imperfect encoder (diagonal, shrunk mean, wider): the ELBO has a gap,
        # the importance-sampled estimate must still converge
        vae.encoder.head.weight.copy_(torch.cat([0.9 * gain, torch.zeros(2, 3)]))
        vae.encoder.head.bias.copy_(torch.cat([-0.9 * gain @ b,
                                               (1.5 * post_cov.diagonal()).log()]))
    x = MultivariateNormal(b, cov_x).sample((5,))
    exact = MultivariateNormal(b, cov_x).log_prob(x)
    log_px_z, kl = vae.elbo(x.repeat(2000, 1))
    elbo = (log_px_z - kl).detach().view(2000, 5).mean(0)
    estimate = vae.log_prob(x, k=20000)
    assert (elbo < exact - 1e-3).all()  # the imperfect q leaves a gap at K = 1
    torch.testing.assert_close(estimate, exact, atol=0.01, rtol=0)


def test_sample_shape_noise_and_range():
    vae = _vae()
    assert vae.sample(7).shape == (7, 3)
    torch.manual_seed(0)
    a = vae.sample(5, sample_noise=False)
    torch.manual_seed(0)
    b = vae.sample(5, sample_noise=True)
    assert not torch.equal(a, b)
    with pytest.raises(Exception, match="unknown sampler setting"):
        vae.sample(2, steps=3)


def test_bernoulli_decoder_on_images_and_error_on_vectors():
    images = DatasetInfo("bin", (1, 4, 4), None, (0, 1), "image")
    cfg = VAEConfig(encoder=MLPConfig(width=8, depth=1), decoder_net=MLPConfig(width=8, depth=1),
                    decoder="bernoulli")
    vae = VAE(cfg, images)
    x = vae.prepare(torch.randint(0, 2, (6, 1, 4, 4), dtype=torch.uint8)).x
    assert torch.isfinite(vae.loss(vae.prepare(x)).loss)
    s = vae.sample(3)
    assert s.shape == (3, 1, 4, 4) and set(s.unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ConfigError, match="bernoulli"):
        VAE(cfg, VECTORS)


def test_tiny_training_run_lowers_the_loss(tmp_path):
    raw = {"method": "vae", "name": "vae-tiny",
           "model": {"encoder": {"name": "mlp", "width": 32, "depth": 1},
                     "decoder_net": {"name": "mlp", "width": 32, "depth": 1}},
           "data": {"name": "pinwheel", "options": {"n": 512}},
           "train": {"steps": 150, "batch_size": 128, "lr": 3e-3, "log_every": 10,
                     "ckpt_every": 150, "num_samples": 16, "num_threads": 1}}
    run = train(build_run_config(raw), runs_dir=tmp_path, quiet=True)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if r.get("split") == "train" and "loss" in r]
    assert len(losses) >= 10 and sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.3
