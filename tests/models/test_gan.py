"""GAN family: the alternating updates, the non-saturating and Wasserstein losses, their
penalties and weight clipping, the conditional networks, a tiny run."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from genzoo.config import TrainConfig, build_run_config
from genzoo.data.base import DatasetInfo
from genzoo.errors import ConfigError, UserError
from genzoo.losses import gradient_penalty, lp_reg, vf_wasserstein_distance
from genzoo.models.gan import (
    GAN,
    GANConfig,
    critic_loss_wgan,
    discriminator_loss_ns,
    generator_loss_ns,
)
from genzoo.nets.conv import ConvEncoderConfig, DeconvConfig
from genzoo.nets.mlp import MLPConfig
from genzoo.runs import train
from genzoo.training.optim import Optimizers

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
    with pytest.raises(Exception, match="unknown key .sampler.steps."):
        gan.sample(2, steps=1)


def test_temperature_scales_the_latents():
    gan = _gan()
    z = torch.randn(7, gan.cfg.latent_dim)
    gan.latents = lambda n: z[:n]  # the same draws for every T
    for t in (0.0, 0.5, 1.0):
        torch.testing.assert_close(gan.sample(7, temperature=t), gan.generate(t * z))
    torch.testing.assert_close(gan.sample(7), gan.generate(z))  # model.temperature: 1
    with pytest.raises(UserError, match="temperature"):
        gan.sample(2, temperature=-0.5)
    with pytest.raises(UserError, match="temperature"):
        gan.sample(2, temperature="warm")


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


# ----------------------------------------------------------------------------- wgan, wgan-lp
def test_lp_reg_is_zero_for_unit_norm_linear_critics_and_hand_computed_otherwise():
    x_real = torch.randn(16, 3, dtype=torch.float64)
    x_fake = torch.randn(16, 3, dtype=torch.float64)
    for w in ([0.6, 0.8, 0.0], [0.0, 0.0, 1.0], [0.3, 0.4, 0.0]):  # |w| = 1, 1, 0.5
        w = torch.tensor(w, dtype=torch.float64)
        assert lp_reg(lambda x, w=w: x @ w - 2.0, x_real, x_fake).item() == 0.0
    w = torch.tensor([1.2, 1.6, 0.0], dtype=torch.float64)  # |w| = 2: (2 - 1)^2
    assert lp_reg(lambda x: x @ w, x_real, x_fake).item() == pytest.approx(1.0)
    torch.manual_seed(2)
    penalty = lp_reg(lambda x: 0.5 * x.square().sum(1), x_real, x_fake)
    torch.manual_seed(2)
    u = torch.rand(16, 1, dtype=torch.float64)
    norms = (u * x_real + (1 - u) * x_fake).norm(dim=1)  # grad of 0.5 |x|^2 is x
    torch.testing.assert_close(penalty, F.relu(norms - 1).square().mean())
    assert (norms < 1).any() and (norms > 1).any()  # both sides of the hinge are exercised


def test_vf_wasserstein_distance_is_the_difference_of_mean_scores():
    real, fake = torch.tensor([1.0, 2.0, 6.0]), torch.tensor([-1.0, 1.0])
    assert vf_wasserstein_distance(real, fake).item() == pytest.approx(3.0)
    assert critic_loss_wgan(real, fake).item() == pytest.approx(-3.0)


def test_wgan_lp_critic_loss_is_the_wasserstein_loss_plus_lambda_lp():
    gan = _gan(objective="wgan-lp", gp_weight=5.0)
    x = gan.prepare(torch.randn(8, 2) * 3).x
    torch.manual_seed(4)
    d_loss, metrics = gan.critic_loss(x)
    torch.manual_seed(4)
    x_fake = gan.generate(gan.latents(8))
    lp = lp_reg(gan.discriminate, x, x_fake)
    d_real, d_fake = gan.discriminate(x), gan.discriminate(x_fake)
    torch.testing.assert_close(d_loss, critic_loss_wgan(d_real, d_fake) + 5.0 * lp)
    assert metrics["lp"] == pytest.approx(lp.item())
    assert metrics["w_dist"] == pytest.approx(vf_wasserstein_distance(d_real, d_fake).item())
    assert "gp" not in metrics and metrics["lipschitz"] > 0


def test_penalty_scale_multiplies_lambda_and_zero_leaves_the_penalty_out():
    gan = _gan(objective="wgan-gp", gp_weight=5.0)  # two-sided: a penalty > 0 here
    x = gan.prepare(torch.randn(8, 2) * 3).x
    losses = {}
    for scale in (0.0, 1.0, 3.0):
        torch.manual_seed(4)
        losses[scale], metrics = gan.critic_loss(x, penalty_scale=scale)
        assert ("gp" in metrics) == (scale > 0)
    torch.testing.assert_close(losses[3.0] - losses[0.0], 3 * (losses[1.0] - losses[0.0]))
    assert (losses[1.0] - losses[0.0]).item() > 0


@pytest.mark.parametrize("objective", ["wgan-lp", "wgan-gp"])
def test_lazy_penalty_on_every_kth_critic_step_weighted_k(objective, monkeypatch):
    gan = _gan(objective=objective, n_critic=2, gp_every=3)
    scales: list[float] = []
    critic_loss = gan.critic_loss

    def recording(x, y=None, penalty_scale=1.0):
        scales.append(penalty_scale)
        return critic_loss(x, y, penalty_scale)

    monkeypatch.setattr(gan, "critic_loss", recording)
    opt = _optimizers(gan)
    batch = gan.prepare(torch.randn(8, 2))
    logged = [gan.train_step(batch, opt) for _ in range(4)]
    assert scales == [3.0, 0.0, 0.0, 3.0, 0.0, 0.0, 3.0, 0.0]
    name = "lp" if objective == "wgan-lp" else "gp"
    # every step logs the latest penalised step's numbers, so the logged keys never vary
    assert all({name, "lipschitz"} <= set(m) for m in logged)
    assert logged[2][name] == logged[1][name]  # call 2 had no penalised critic step


def test_weight_clipping_keeps_every_critic_weight_in_range():
    gan = _gan(objective="wgan", clip=0.05, n_critic=3)
    with torch.no_grad():
        for p in gan.critic.parameters():
            p.mul_(100)  # start far outside the box
    assert max(p.abs().max().item() for p in gan.critic.parameters()) > 0.05
    gen_before = [p.clone() for p in gan.generator.parameters()]
    metrics = gan.train_step(gan.prepare(torch.randn(16, 2)), _optimizers(gan))
    bound = torch.tensor(0.05)  # in float32, like the weights
    for name, p in gan.critic.named_parameters():
        assert (p.abs() <= bound).all(), name
    assert any((p.abs() == bound).any() for p in gan.critic.parameters())  # clipping was active
    # the generator is not clipped
    assert any(not torch.equal(a, b) for a, b in zip(gen_before, gan.generator.parameters(),
                                                     strict=True))
    assert {"w_dist", "d_grad_norm", "g_grad_norm"} <= set(metrics) and "gp" not in metrics


def test_gradient_norms_are_logged_from_the_held_gradients():
    gan = _gan()
    metrics = gan.train_step(gan.prepare(torch.randn(16, 2)), _optimizers(gan))
    g = torch.cat([p.grad.flatten() for p in gan.generator.parameters()])
    assert metrics["g_grad_norm"] == pytest.approx(g.norm().item(), rel=1e-5)
    assert metrics["d_grad_norm"] > 0


def test_rmsprop_is_an_optimizer_choice():
    gan = _gan()
    opt = Optimizers(gan.param_groups(), TrainConfig(steps=1, lr=1e-3, optimizer="rmsprop"),
                     torch.amp.GradScaler("cpu", enabled=False))
    assert all(isinstance(o, torch.optim.RMSprop) for o in opt.optimizers.values())


# ----------------------------------------------------------------------------- conditional
IMAGES = DatasetInfo("img", (1, 8, 8), 10, (0, 255), "image")


def _cgan(critic_cond: str) -> GAN:
    cfg = GANConfig(generator=DeconvConfig(size=8, width=8, stages=2, act="relu", norm="batch"),
                    critic=ConvEncoderConfig(width=4, stages=2, act="leaky_relu"),
                    latent_dim=4, conditional=True, label_dim=3, critic_cond=critic_cond,
                    critic_features=6)
    torch.manual_seed(0)
    return GAN(cfg, IMAGES)


@pytest.mark.numerics
def test_projection_critic_is_linear_head_plus_label_embedding_inner_product():
    gan = _cgan("projection")
    x, y = torch.rand(5, 1, 8, 8) * 2 - 1, torch.tensor([0, 3, 3, 9, 1])
    phi = F.leaky_relu(gan.critic.backbone(x), 0.2)
    by_hand = torch.stack([gan.critic.head.weight[0] @ phi[i] + gan.critic.head.bias[0]
                           + gan.critic.embed.weight[y[i]] @ phi[i] for i in range(5)])
    torch.testing.assert_close(gan.discriminate(x, y), by_hand)
    # the label changes the score only through the embedding term
    other = gan.discriminate(x, (y + 1) % 10) - gan.discriminate(x, y)
    e = gan.critic.embed.weight
    torch.testing.assert_close(other, ((e[(y + 1) % 10] - e[y]) * phi).sum(1))


def test_concat_critic_reads_the_label_as_constant_channels():
    gan = _cgan("concat")
    x, y = torch.rand(4, 1, 8, 8), torch.tensor([2, 2, 7, 0])
    planes = F.one_hot(y, 10).float()[:, :, None, None].expand(-1, -1, 8, 8)
    by_hand = gan.critic.backbone(torch.cat([x, planes], 1)).squeeze(-1)
    torch.testing.assert_close(gan.discriminate(x, y), by_hand)


@pytest.mark.parametrize("critic_cond", ["projection", "concat"])
def test_conditional_gan_samples_given_classes_and_steps(critic_cond):
    gan = _cgan(critic_cond)
    gan.eval()
    y = torch.tensor([1, 4, 4])
    torch.manual_seed(1)
    x = gan.sample(3, y=y)
    assert x.shape == (3, 1, 8, 8) and x.abs().max() <= 1
    torch.manual_seed(1)  # the same z with other labels gives other images
    assert not torch.allclose(x, gan.sample(3, y=torch.tensor([0, 0, 0])))
    assert gan.sample(6).shape == (6, 1, 8, 8)  # uniform labels when none are given
    with pytest.raises(UserError, match="labels"):
        gan.sample(2, y=torch.tensor([10, 0]))
    gan.train()
    batch = gan.prepare(torch.randint(0, 256, (8, 1, 8, 8)), torch.arange(8))
    metrics = gan.train_step(batch, _optimizers(gan))
    assert torch.isfinite(torch.tensor(metrics["d_loss"]))
    for name, p in gan.named_parameters():
        assert p.grad is not None, name  # both embeddings are trained
    with pytest.raises(UserError, match="labelled"):
        gan.train_step(gan.prepare(torch.randint(0, 256, (8, 1, 8, 8))), _optimizers(gan))


def test_conditional_gan_needs_labels_and_plain_gan_refuses_them():
    with pytest.raises(ConfigError, match="needs labels"):
        GAN(GANConfig(conditional=True), VECTORS)
    with pytest.raises(UserError, match="unconditional"):
        _gan().sample(2, y=torch.tensor([0, 1]))


# ----------------------------------------------------------------------------- presets
@pytest.mark.parametrize("preset", ["cgan-mnist", "gan-hoda", "wgan-hoda", "wgan-lp-mnist"])
def test_gan_presets_take_steps_on_real_data(tmp_path, real_data_root, preset):
    from genzoo.cli import main
    from genzoo.runs import load

    runs = tmp_path / "runs"
    assert main(["--quiet", "train", preset, f"data.root={real_data_root}", "data.limit=64",
                 "data.val_limit=16", "train.epochs=null", "train.steps=2",
                 "train.batch_size=8", "train.num_samples=10", "--runs-dir", str(runs)]) == 0
    gan = load(runs / preset)
    assert gan.info.shape == (1, 28, 28) and gan.info.name in ("mnist", "hoda-split")
    assert gan.conditional == (preset == "cgan-mnist")
    x = gan.sample(10, y=torch.arange(10) if gan.conditional else None)
    assert x.shape == (10, 1, 28, 28) and x.abs().max() <= 1


def test_wgan_lp_svhn_preset_runs_on_a_synthetic_file(tmp_path, monkeypatch):
    import dataclasses

    from genzoo.cli import main
    from genzoo.data import svhn
    from genzoo.runs import load

    from fakes import write_fake_svhn

    fake = write_fake_svhn(tmp_path / "data", n_per_split=16)
    for split in ("train", "test"):
        name = f"{split}_32x32.mat"
        monkeypatch.setitem(svhn.FILES, name, dataclasses.replace(
            svhn.FILES[name], md5=fake[split].md5[name]))
    runs = tmp_path / "runs"
    assert main(["--quiet", "train", "wgan-lp-svhn", f"data.root={tmp_path / 'data'}",
                 "model.generator.width=8", "model.critic.width=8", "train.epochs=null",
                 "train.steps=2", "train.batch_size=8", "train.num_samples=4",
                 "--runs-dir", str(runs)]) == 0
    x = load(runs / "wgan-lp-svhn").sample(3)
    assert x.shape == (3, 3, 32, 32) and x.abs().max() <= 1
