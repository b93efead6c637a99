"""VAE family: ELBO and importance-sampled log p(x) against known answers, conv backbones,
dynamic binarization, presets, and the ``genzoo eval --is-k`` entry point. The shared likelihood
pieces are tested in tests/test_losses.py, the conditional VAE in test_cvae.py."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch.distributions import MultivariateNormal

from genzoo import cli
from genzoo.analyze.evaluate import evaluate_run, importance_log_likelihood
from genzoo.config import build_run_config, resolve_config
from genzoo.data.base import DatasetInfo
from genzoo.errors import ConfigError, UserError
from genzoo.models.vae import VAE, VAEConfig
from genzoo.nets.conv import ConvEncoderConfig, DeconvConfig
from genzoo.nets.mlp import MLPConfig
from genzoo.registry import nets
from genzoo.runs import train

VECTORS = DatasetInfo("toy", (3,), None, None, "vector")
IMAGES = DatasetInfo("binarized-mnist", (1, 28, 28), None, (0, 1), "image")


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _vae(**kw) -> VAE:
    cfg = VAEConfig(encoder=MLPConfig(width=16, depth=1), decoder_net=MLPConfig(width=16, depth=1),
                    **kw)
    torch.manual_seed(0)
    return VAE(cfg, VECTORS)


# ----------------------------------------------------------------------------- ELBO and log p(x)
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
    stderr = (elbos.var(0) / n + k1.var(0) / n).sqrt()  # two independent means
    assert ((elbos.mean(0) - k1.mean(0)).abs() < 4 * stderr).all()
    k10 = vae.log_prob(x.repeat(2000, 1), k=10).view(2000, 4)
    k200 = vae.log_prob(x.repeat(200, 1), k=200, chunk_size=333).view(200, 4)
    # on average over the points, each step up in K gains beyond 4 standard errors
    for lower, higher in ((k1, k10), (k10, k200)):
        gain = higher.mean() - lower.mean()
        stderr = (lower.var(0) / len(lower) + higher.var(0) / len(higher)).sum().sqrt() / 4
        assert gain > 4 * stderr, (gain, stderr)


def _linear_gaussian_vae(exact_posterior: bool):
    """z ~ N(0, I_2), x|z ~ N(W z + b, s^2 I_3), so x ~ N(b, W W^T + s^2 I) exactly. The
    posterior is N(A (x - b), S) with S = (I + W^T W / s^2)^-1 and A = S W^T / s^2; W has
    orthogonal columns, so S is diagonal and an affine diagonal-Gaussian encoder can be the
    exact posterior. Returns the VAE and the marginal of x."""
    torch.manual_seed(0)
    cfg = VAEConfig(encoder=MLPConfig(depth=0), decoder_net=MLPConfig(depth=0), latent_dim=2,
                    decoder_logvar="per-dim", min_logvar=-30.0)
    vae = VAE(cfg, VECTORS).double()
    g = _gen(3)
    q, _ = torch.linalg.qr(torch.randn(3, 2, generator=g, dtype=torch.float64))
    w = q * torch.tensor([1.5, 0.8], dtype=torch.float64)
    b = torch.randn(3, generator=g, dtype=torch.float64)
    s2 = 0.5
    post_cov = torch.linalg.inv(torch.eye(2, dtype=torch.float64) + w.T @ w / s2)
    assert torch.allclose(post_cov, post_cov.diagonal().diag())
    gain = post_cov @ w.T / s2
    shrink, widen = (1.0, 1.0) if exact_posterior else (0.7, 2.0)  # a deliberately poor q
    with torch.no_grad():
        vae.decoder_net.head.weight.copy_(w)
        vae.decoder_net.head.bias.copy_(b)
        vae.logvar_x.fill_(math.log(s2))
        vae.encoder.head.weight.copy_(torch.cat([shrink * gain, torch.zeros(2, 3)]))
        vae.encoder.head.bias.copy_(torch.cat([-shrink * gain @ b,
                                               (widen * post_cov.diagonal()).log()]))
    return vae, MultivariateNormal(b, w @ w.T + s2 * torch.eye(3, dtype=torch.float64))


def test_importance_estimate_is_exact_with_the_exact_posterior_for_any_k():
    vae, marginal = _linear_gaussian_vae(exact_posterior=True)
    x = marginal.sample((6,))
    exact = marginal.log_prob(x)
    torch.manual_seed(0)
    for k in (1, 3, 50):  # every weight p(x|z) p(z) / q(z|x) equals p(x)
        torch.testing.assert_close(vae.log_prob(x, k=k), exact, atol=1e-9, rtol=0)


def test_importance_estimate_with_a_poor_proposal_converges_to_the_marginal():
    """The K-draw estimate is log of a mean of K i.i.d. weights w: its error is at most about
    4 std(w) / (mean(w) sqrt(K)) plus the bias var(w) / (2 mean(w)^2 K) (delta method), both
    measured from 20000 single weights (the K = 1 estimates)."""
    vae, marginal = _linear_gaussian_vae(exact_posterior=False)
    torch.manual_seed(0)
    x = marginal.sample((5,))
    exact = marginal.log_prob(x)
    n = 20000
    log_w = vae.log_prob(x.repeat(n, 1), k=1).view(n, 5)
    w = (log_w - log_w.max(0).values).exp()
    rel_std = w.std(0) / w.mean(0)
    assert (exact - log_w.mean(0) > 0.05).all()  # the ELBO (mean log weight) has a real gap
    k = 20000
    estimate = vae.log_prob(x, k=k)
    bound = 4 * rel_std / math.sqrt(k) + rel_std**2 / k
    assert ((estimate - exact).abs() < bound).all(), (estimate - exact, bound)
    assert (bound < 0.5 * (exact - log_w.mean(0))).all()  # sharp enough to see K matter


def test_chunking_bounds_the_decoder_batch_and_keeps_the_estimate():
    vae = _vae().double()
    x = torch.randn(13, 3, generator=_gen(), dtype=torch.float64)
    sizes: list[int] = []
    vae.decoder_net.register_forward_hook(lambda module, inputs, out: sizes.append(len(inputs[0])))
    results = {}
    for chunk in (1, 5, 64, 10**6):
        sizes.clear()
        torch.manual_seed(0)
        results[chunk] = vae.log_prob(x, k=37, chunk_size=chunk)
        assert max(sizes) <= chunk and sum(sizes) == 13 * 37
    for chunk, result in results.items():
        torch.testing.assert_close(result, results[10**6], rtol=1e-12, atol=1e-12,
                                   msg=f"chunk_size={chunk}")
    with pytest.raises(UserError, match="k must be"):
        vae.log_prob(x, k=0)


# ----------------------------------------------------------------------------- sampling, data
def test_sample_shape_noise_and_range():
    vae = _vae()
    assert vae.sample(7).shape == (7, 3)
    torch.manual_seed(0)
    a = vae.sample(5, sample_noise=False)
    torch.manual_seed(0)
    b = vae.sample(5, sample_noise=True)
    assert not torch.equal(a, b)
    with pytest.raises(UserError, match="unknown key .sampler.steps."):
        vae.sample(2, steps=3)
    with pytest.raises(UserError, match="unconditional"):
        vae.sample(2, y=torch.tensor([0, 1]))


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


def test_dynamic_binarization_draws_pixels_with_their_grey_level():
    grey = DatasetInfo("grey", (1, 4, 4), None, (0, 255), "image")
    cfg = VAEConfig(encoder=MLPConfig(width=8, depth=1), decoder_net=MLPConfig(width=8, depth=1),
                    decoder="bernoulli", binarize=True)
    vae = VAE(cfg, grey)
    torch.manual_seed(0)
    x = vae.prepare(torch.full((1000, 1, 4, 4), 64, dtype=torch.uint8)).x
    assert set(x.unique().tolist()) == {0.0, 1.0}
    p, n = 64 / 255, x.numel()
    assert abs(x.mean().item() - p) < 4 * math.sqrt(p * (1 - p) / n)
    with pytest.raises(ConfigError, match="binarize"):
        VAE(VAEConfig(binarize=True), grey)  # a Gaussian decoder


# ----------------------------------------------------------------------------- conv backbones
def test_conv_encoder_and_deconv_shapes():
    assert nets.get("conv-encoder") is ConvEncoderConfig and nets.get("deconv") is DeconvConfig
    enc = ConvEncoderConfig(width=4, stages=2, hidden=8).build((1, 28, 28), 10)
    assert enc(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert ConvEncoderConfig(width=4, stages=3).build((3, 32, 32), 6)(
        torch.rand(2, 3, 32, 32)).shape == (2, 6)
    dec = DeconvConfig(width=4, stages=2, size=28).build((6,), 784)
    assert dec(torch.randn(3, 6)).shape == (3, 784)
    assert DeconvConfig(width=4, stages=2, size=28, hidden=16).build((6,), 2 * 784)(
        torch.randn(3, 6)).shape == (3, 2 * 784)  # two output channels: a Gaussian's mu, logvar
    with pytest.raises(ConfigError, match="multiple of 8"):
        DeconvConfig(size=28, stages=3).build((6,), 784)
    with pytest.raises(ConfigError, match="size"):
        DeconvConfig(size=32).build((6,), 784)
    with pytest.raises(ConfigError, match="image inputs"):
        ConvEncoderConfig().build((3,), 4)


def test_conv_vae_on_28x28_images():
    cfg = VAEConfig(encoder=ConvEncoderConfig(width=4), decoder_net=DeconvConfig(width=4),
                    latent_dim=5, decoder="bernoulli")
    torch.manual_seed(0)
    vae = VAE(cfg, IMAGES)
    x = torch.bernoulli(torch.full((6, 1, 28, 28), 0.2))
    out = vae.loss(vae.prepare(x))
    out.loss.backward()
    assert math.isfinite(out.loss.item())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in vae.parameters())
    assert vae.sample(4).shape == (4, 1, 28, 28)
    assert vae.log_prob(x, k=3).shape == (6,)
    gaussian = VAE(VAEConfig(encoder=ConvEncoderConfig(width=4), decoder_net=DeconvConfig(width=4),
                             latent_dim=5, decoder_logvar="net"), IMAGES)
    mu_x, logvar_x = gaussian.decode(torch.randn(2, 5))
    assert mu_x.shape == logvar_x.shape == (2, 784)


@pytest.mark.parametrize("preset", ["vae-bmnist", "vae-mnist", "cvae-mnist"])
def test_presets_build_the_issue_models(preset):
    cfg = resolve_config(preset)
    m = cfg.model
    assert m.latent_dim == 100 and m.decoder == "bernoulli"
    assert (m.encoder.name, m.decoder_net.name) == ("conv-encoder", "deconv")
    assert cfg.train.optimizer == "adam"
    if preset == "vae-bmnist":
        assert cfg.data.name == "binarized-mnist" and cfg.data.val_split == "valid"
        assert cfg.train.lr == 3e-4 and cfg.train.epochs == 20
    info = IMAGES if preset == "vae-bmnist" else \
        DatasetInfo("mnist", (1, 28, 28), 10, (0, 255), "image")
    torch.manual_seed(0)
    vae = VAE(m, info)
    # sized for a 2-core CPU (vae-bmnist, 3.4M: 20 epochs in 10.4 min, benchmarks/vae_flows.py)
    assert sum(p.numel() for p in vae.parameters()) < 4_000_000
    batch = vae.prepare(torch.randint(0, 2 if preset == "vae-bmnist" else 256, (2, 1, 28, 28),
                                      dtype=torch.uint8), torch.tensor([3, 7]))
    assert math.isfinite(vae.loss(batch).loss.item())


# ----------------------------------------------------------------------------- runs and eval
def _tiny_run(tmp_path: Path, steps: int, **model: object) -> Path:
    raw = {"method": "vae", "name": "vae-tiny",
           "model": {"encoder": {"name": "mlp", "width": 32, "depth": 1},
                     "decoder_net": {"name": "mlp", "width": 32, "depth": 1}, **model},
           "data": {"name": "pinwheel", "options": {"n": 512}, "val_split": "test",
                    "val_limit": 200},
           "train": {"steps": steps, "batch_size": 128, "lr": 3e-3, "log_every": 10,
                     "ckpt_every": steps, "num_samples": 16, "num_threads": 1}}
    return train(build_run_config(raw), runs_dir=tmp_path, quiet=True)


def test_tiny_training_run_lowers_the_loss(tmp_path):
    run = _tiny_run(tmp_path, 150)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if r.get("split") == "train" and "loss" in r]
    assert len(losses) >= 10 and sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.3


def test_eval_is_k_writes_importance_estimates_to_eval_json(tmp_path):
    run = _tiny_run(tmp_path, 30)
    assert cli.main(["--quiet", "eval", str(run), "--is-k", "1,30", "--no-figures"]) == 0
    numbers = json.loads((run / "eval.json").read_text())
    for k in (1, 30):
        assert math.isfinite(numbers[f"test/log_px_k{k}"])
        assert numbers[f"test/log_px_k{k}_stderr"] > 0
    # K = 1 is the ELBO in expectation; more draws tighten the bound
    assert numbers["test/log_px_k1"] == pytest.approx(numbers["test/elbo"], abs=0.5)
    assert numbers["test/log_px_k30"] > numbers["test/log_px_k1"]
    again = evaluate_run(run, figures=False, is_k=(30,))  # seeded: the same numbers again
    assert again["test/log_px_k30"] == numbers["test/log_px_k30"]


def test_eval_is_k_rejects_bad_input(tmp_path):
    assert cli.main(["eval", str(tmp_path), "--is-k", "0,5"]) == 2
    assert cli.main(["eval", str(tmp_path), "--is-k", "ten"]) == 2

    class ExactLikelihood:
        name = "flow"
        capabilities = frozenset({"sample", "log_prob"})

        def log_prob(self, x):
            return x

    with pytest.raises(UserError, match="importance-sampled"):
        importance_log_likelihood(ExactLikelihood(), None, [1])  # type: ignore[arg-type]


def test_figures_show_reconstructions(tmp_path):
    from PIL import Image

    from genzoo.data.base import Dataset

    images = DatasetInfo("bin", (1, 8, 8), None, (0, 1), "image")
    cfg = VAEConfig(encoder=MLPConfig(width=8, depth=1), decoder_net=MLPConfig(width=8, depth=1),
                    decoder="bernoulli")
    vae = VAE(cfg, images)
    test = Dataset(torch.randint(0, 2, (60, 1, 8, 8), dtype=torch.uint8), None, images)
    captions = vae.figures(tmp_path, None, test)
    assert set(captions) == {"reconstructions.png"}
    # 5 pairs of rows (images, reconstructions) of 10 tiles of 8 px with 2 px padding
    assert Image.open(tmp_path / "reconstructions.png").size == (102, 102)
