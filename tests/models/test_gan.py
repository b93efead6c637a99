"""GAN family: the alternating updates, the non-saturating losses, a tiny run."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from genzoo.config import TrainConfig, build_run_config
from genzoo.data.base import DatasetInfo
from genzoo.losses import gradient_penalty
from genzoo.models.gan import (
    GAN,
    GANConfig,
    critic_loss_wgan,
    discriminator_loss_ns,
    generator_loss_ns,
)
from genzoo.nets.mlp import MLPConfig
from genzoo.optim import Optimizers
from genzoo.runs import train

VECTORS = DatasetInfo("toy", (2,), None, None, "vector")


def _gan(**kw) -> GAN:
    cfg = GANConfig(generator=MLPConfig(width=16, depth=1), critic=MLPConfig(width=16, depth=1),
                    latent_dim=3, **kw)
    torch.manual_seed(0)
    return GAN(cfg, VECTORS)


def _optimizers(gan: GAN) -> Optimizers:
    return Optimizers(gan.param_groups(), TrainConfig(steps=1, lr=1e-2),
                      torch.amp.GradScaler("cpu", enabled=False))


def test_param_groups_split_generator_and_critic():
    gan = _gan()
    groups = gan.param_groups()
    assert set(groups) == {"generator", "critic"}
    ids = {name: {id(p) for p in params} for name, params in groups.items()}
    assert ids["generator"] == {id(p) for p in gan.generator.parameters()}
    assert ids["critic"] == {id(p) for p in gan.critic.parameters()}


def test_train_step_updates_both_networks_and_leaves_gradients_everywhere():
    gan = _gan()
    before = {k: v.clone() for k, v in gan.state_dict().items()}
    metrics = gan.train_step(gan.prepare(torch.randn(16, 2)), _optimizers(gan))
    assert {"loss", "g_loss", "d_loss", "d_real", "d_fake"} <= set(metrics)
    assert metrics["loss"] == metrics["g_loss"]
    for name, p in gan.named_parameters():
        assert p.requires_grad and p.grad is not None and torch.isfinite(p.grad).all(), name
        assert not torch.equal(p.detach(), before[name]), f"{name} did not change"


@pytest.mark.parametrize("n_critic", [1, 3])
def test_n_critic_discriminator_steps_then_one_generator_step(n_critic, monkeypatch):
    gan = _gan(n_critic=n_critic)
    opt = _optimizers(gan)
    calls: list[str] = []
    step = opt.step

    def counting_step(name: str, loss: torch.Tensor) -> None:
        calls.append(name)
        step(name, loss)

    monkeypatch.setattr(opt, "step", counting_step)
    gan.train_step(gan.prepare(torch.randn(8, 2)), opt)
    assert calls == ["critic"] * n_critic + ["generator"]


def test_generator_step_leaves_the_critic_gradient_alone():
    gan = _gan()
    opt = _optimizers(gan)
    batch = gan.prepare(torch.randn(8, 2))
    torch.manual_seed(5)
    gan.train_step(batch, opt)
    grads = [p.grad.clone() for p in gan.critic.parameters()]
    # the critic's gradient is exactly that of its own loss: recompute it with the same draws
    other = _gan()
    other_opt = _optimizers(other)
    torch.manual_seed(5)
    d_loss, _ = other.critic_loss(batch.x)
    other_opt.step("critic", d_loss)
    for g, p in zip(grads, other.critic.parameters(), strict=True):
        torch.testing.assert_close(g, p.grad)


def test_non_saturating_losses_are_the_softplus_formulas():
    gan = _gan()
    torch.manual_seed(3)
    z = gan.latents(32)
    d_fake = gan.discriminate(gan.generate(z))
    expected = F.softplus(-d_fake).mean()
    torch.manual_seed(3)
    torch.testing.assert_close(gan.generator_loss(32), expected)
    torch.testing.assert_close(generator_loss_ns(d_fake), -torch.sigmoid(d_fake).log().mean())
    d_real = torch.randn(10)
    bce = (F.binary_cross_entropy_with_logits(d_real, torch.ones(10))
           + F.binary_cross_entropy_with_logits(d_fake, torch.zeros(32)))
    torch.testing.assert_close(discriminator_loss_ns(d_real, d_fake), bce)
    out = gan.loss(gan.prepare(torch.randn(8, 2)))
    assert out.loss.dim() == 0 and {"d_loss", "d_real", "d_fake", "g_loss"} <= set(out.metrics)


def test_sample_shape_and_image_range():
    gan = _gan()
    assert gan.sample(6).shape == (6, 2)
    images = DatasetInfo("img", (1, 4, 4), None, (0, 255), "image")
    cfg = GANConfig(generator=MLPConfig(width=8, depth=1), critic=MLPConfig(width=8, depth=1))
    x = GAN(cfg, images).sample(5)
    assert x.shape == (5, 1, 4, 4) and x.min() >= -1 and x.max() <= 1
    with pytest.raises(Exception, match="unknown sampler setting"):
        gan.sample(2, steps=1)


def test_tiny_training_run_moves_the_losses(tmp_path):
    raw = {"method": "gan", "name": "gan-tiny",
           "model": {"generator": {"name": "mlp", "width": 32, "depth": 2},
                     "critic": {"name": "mlp", "width": 32, "depth": 2}, "n_critic": 2},
           "data": {"name": "pinwheel", "options": {"n": 512}, "val_split": "test",
                    "val_limit": 64},
           "train": {"steps": 100, "batch_size": 128, "lr": 2e-3, "betas": [0.5, 0.999],
                     "log_every": 10, "ckpt_every": 100, "eval_every": 50, "num_samples": 16,
                     "num_threads": 1}}
    run = train(build_run_config(raw), runs_dir=tmp_path, quiet=True)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r.get("split") == "train" and "d_loss" in r]
    assert len(train_rows) >= 10
    assert all(abs(r["loss"] - r["g_loss"]) < 1e-6 for r in train_rows)
    # the discriminator learns: its loss drops below the chance value 2 log 2 at some point
    assert min(r["d_loss"] for r in train_rows) < 2 * 0.6931 - 0.05
    assert any(r.get("split") == "val" for r in rows)
    assert (run / "checkpoints" / "last.pt").is_file()


# ----------------------------------------------------------------------------- wgan-gp
def test_gradient_penalty_exact_for_linear_and_quadratic_critics():
    w = torch.tensor([3.0, 4.0], dtype=torch.float64)  # |grad| = 5 everywhere
    x_real = torch.randn(16, 2, dtype=torch.float64)
    x_fake = torch.randn(16, 2, dtype=torch.float64)
    penalty = gradient_penalty(lambda x: x @ w + 1.0, x_real, x_fake)
    assert penalty.item() == pytest.approx(16.0)
    torch.manual_seed(7)
    penalty = gradient_penalty(lambda x: 0.5 * x.square().sum(1), x_real, x_fake)
    torch.manual_seed(7)  # the same interpolation weights u
    u = torch.rand(16, 1, dtype=torch.float64)
    x_hat = u * x_real + (1 - u) * x_fake  # grad of 0.5 |x|^2 is x
    torch.testing.assert_close(penalty, (x_hat.norm(dim=1) - 1).square().mean())


def test_gradient_penalty_reaches_the_critic_parameters():
    critic = torch.nn.Linear(2, 1)
    penalty = gradient_penalty(lambda x: critic(x).squeeze(-1), torch.randn(8, 2),
                               torch.randn(8, 2))
    penalty.backward()
    norm = critic.weight.detach().norm()
    expected = 2 * (norm - 1) * critic.weight.detach() / norm  # d/dw (|w| - 1)^2
    torch.testing.assert_close(critic.weight.grad, expected)


def test_wgan_gp_losses_and_step():
    gan = _gan(objective="wgan-gp", n_critic=2)
    x = gan.prepare(torch.randn(8, 2)).x
    torch.manual_seed(4)
    d_loss, metrics = gan.critic_loss(x)
    torch.manual_seed(4)
    x_fake = gan.generate(gan.latents(8))
    gp = gradient_penalty(gan.discriminate, x, x_fake)
    expected = critic_loss_wgan(gan.discriminate(x), gan.discriminate(x_fake)) + 10.0 * gp
    torch.testing.assert_close(d_loss, expected)
    assert metrics["gp"] == pytest.approx(gp.item())
    torch.manual_seed(5)
    g_loss = gan.generator_loss(8)
    torch.manual_seed(5)
    torch.testing.assert_close(g_loss, -gan.discriminate(gan.generate(gan.latents(8))).mean())
    with torch.no_grad():  # validation runs under no_grad; the penalty still needs gradients
        out = gan.loss(gan.prepare(torch.randn(8, 2)))
    assert "gp" in out.metrics
    metrics = gan.train_step(gan.prepare(torch.randn(8, 2)), _optimizers(gan))
    assert {"loss", "d_loss", "gp"} <= set(metrics)
    for name, p in gan.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
