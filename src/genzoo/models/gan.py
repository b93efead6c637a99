"""Generative adversarial network: a generator G(z) against a discriminator (critic) D(x).

One method for the GAN family; ``model.objective`` picks the pair of losses:

``ns``       the non-saturating GAN (Goodfellow et al. 2014, section 3): the discriminator
             minimises ``softplus(-D(x)) + softplus(D(G(z)))`` (binary cross-entropy on logits,
             eq. (1)); the generator minimises ``softplus(-D(G(z)))`` = ``-log sigmoid(D(G(z)))``,
             the "maximise log D(G(z))" variant, instead of the saturating ``log(1 - D(G(z)))``.
``wgan-gp``  Wasserstein GAN with gradient penalty (Gulrajani et al. 2017, eq. (3)): the critic
             minimises ``D(G(z)) - D(x) + lambda (||grad D(x_hat)|| - 1)^2``, the generator
             ``-D(G(z))``; the paper uses ``n_critic: 5``, lr 1e-4 and Adam betas (0, 0.9).
             Not yet tuned on the toys: 2000 steps with n_critic 5 at lr 5e-4 or 1e-3 did not
             fit pinwheel.

Further objectives (e.g. weight-clipped WGAN) are further values of ``objective``.

Each training step does ``n_critic`` discriminator steps (optimizer ``critic``, fresh z each,
the same real batch) and then one generator step (optimizer ``generator``), all through
``Optimizers.step``, so the one training loop serves GANs too.

References:
    Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014 (value function eq. (1),
    non-saturating generator loss in section 3, alternating updates in Algorithm 1).
    Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017 (critic loss with
    gradient penalty eq. (3), Algorithm 1).

Example:
    >>> import genzoo
    >>> run = genzoo.train("gan-toy")                      # doctest: +SKIP
    >>> gan = genzoo.load(run)                             # doctest: +SKIP
    >>> x = gan.sample(500)                                # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.config import param
from genzoo.data.base import DatasetInfo
from genzoo.errors import UserError
from genzoo.losses import gradient_penalty
from genzoo.models.base import Batch, LossOutput, Method
from genzoo.nets.base import NetConfig
from genzoo.nets.mlp import MLPConfig
from genzoo.registry import methods

if TYPE_CHECKING:
    from genzoo.optim import Optimizers


@dataclass
class GANConfig:
    """``model:`` section of a GAN preset."""

    generator: NetConfig = param(
        default_factory=lambda: MLPConfig(width=128, depth=3, act="relu"),
        help="backbone of G: z -> x (genzoo list nets)")
    critic: NetConfig = param(
        default_factory=lambda: MLPConfig(width=128, depth=3, act="leaky_relu"),
        help="backbone of the discriminator D: x -> logit (genzoo list nets)")
    latent_dim: int = param(8, "size of the latent z ~ N(0, I)", ge=1)
    objective: Literal["ns", "wgan-gp"] = param(
        "ns", "ns (non-saturating, Goodfellow 2014) or wgan-gp (Gulrajani 2017)")
    n_critic: int = param(1, "discriminator steps per generator step", ge=1)
    gp_weight: float = param(10.0, "wgan-gp: weight lambda of the gradient penalty", ge=0)


def discriminator_loss_ns(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """Discriminator loss ``mean softplus(-D(x)) + mean softplus(D(G(z)))`` from logits.

    Args:
        d_real: logits D(x) (B,) on data.
        d_fake: logits D(G(z)) (B',) on generated points.

    Returns:
        scalar: ``-[E log sigmoid(D(x)) + E log(1 - sigmoid(D(G(z))))]``.

    References:
        Goodfellow et al. 2014, eq. (1) (the discriminator maximises V(D, G)).
    """
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def generator_loss_ns(d_fake: Tensor) -> Tensor:
    """Non-saturating generator loss ``mean softplus(-D(G(z))) = -E log sigmoid(D(G(z)))``.

    Args:
        d_fake: logits D(G(z)) (B,).

    Returns:
        scalar loss.

    References:
        Goodfellow et al. 2014, section 3 ("maximize log D(G(z))").
    """
    return F.softplus(-d_fake).mean()


def critic_loss_wgan(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """Wasserstein critic loss ``mean D(G(z)) - mean D(x)`` (without the penalty).

    Args:
        d_real: scores D(x) (B,) on data.
        d_fake: scores D(G(z)) (B',) on generated points.

    Returns:
        scalar: minus the critic's estimate of the Wasserstein-1 distance.

    References:
        Arjovsky, Chintala & Bottou, "Wasserstein GAN", ICML 2017, eq. (3); Gulrajani et al.
        2017, eq. (3) (first two terms).
    """
    return d_fake.mean() - d_real.mean()


@methods.register("gan")
class GAN(Method):
    """GAN with generator x = G(z), z ~ N(0, I), and discriminator logits D(x).

    Data range: images are mapped to [-1, 1] and the generator ends in tanh; real-valued vectors
    with no stored range are used as they are and the generator output is unbounded.
    """

    Config = GANConfig
    data_range = (-1.0, 1.0)
    name = "gan"

    def __init__(self, cfg: GANConfig, info: DatasetInfo) -> None:
        super().__init__(cfg, info)
        self.bounded = info.value_range is not None
        self.generator = cfg.generator.build((cfg.latent_dim,), math.prod(info.shape))
        self.critic = cfg.critic.build(info.shape, 1)

    # ------------------------------------------------------------------ the two networks
    def generate(self, z: Tensor) -> Tensor:
        """G(z): points (N, *shape) in ``data_range`` for latents z (N, latent_dim)."""
        x = self.generator(z)
        if self.bounded:
            x = torch.tanh(x)
        return x.view(len(z), *self.info.shape)

    def discriminate(self, x: Tensor) -> Tensor:
        """Logits D(x) (N,) for points x (N, *shape)."""
        return self.critic(x).squeeze(-1)

    def latents(self, n: int) -> Tensor:
        """z ~ N(0, I), (n, latent_dim)."""
        return torch.randn(n, self.cfg.latent_dim, device=self.device)

    @contextmanager
    def _critic_frozen(self) -> Iterator[None]:
        """No gradients into D while the generator steps (D's own gradients stay untouched)."""
        flags = [p.requires_grad for p in self.critic.parameters()]
        self.critic.requires_grad_(False)
        try:
            yield
        finally:
            for p, flag in zip(self.critic.parameters(), flags, strict=True):
                p.requires_grad_(flag)

    # ------------------------------------------------------------------ the objective
    def critic_loss(self, x_real: Tensor) -> tuple[Tensor, dict[str, float]]:
        """Discriminator loss on a real batch (B, *shape) and fresh fakes, plus its metrics.

        Metrics: ``d_loss``; ``d_real`` / ``d_fake``: mean sigmoid(D) on real / fake points for
        ``ns``, mean critic score for ``wgan-gp`` (which also logs ``gp``).
        """
        with torch.no_grad():
            x_fake = self.generate(self.latents(len(x_real)))
        d_real, d_fake = self.discriminate(x_real), self.discriminate(x_fake)
        if self.cfg.objective == "ns":
            d_loss = discriminator_loss_ns(d_real, d_fake)
            return d_loss, {"d_loss": d_loss.item(),
                            "d_real": torch.sigmoid(d_real).mean().item(),
                            "d_fake": torch.sigmoid(d_fake).mean().item()}
        with torch.enable_grad():  # the penalty differentiates D, also under validation
            gp = gradient_penalty(self.discriminate, x_real, x_fake)
        d_loss = critic_loss_wgan(d_real, d_fake) + self.cfg.gp_weight * gp
        return d_loss, {"d_loss": d_loss.item(), "d_real": d_real.mean().item(),
                        "d_fake": d_fake.mean().item(), "gp": gp.item()}

    def generator_loss(self, n: int) -> Tensor:
        """Generator loss on ``n`` fresh fakes: ``mean softplus(-D(G(z)))`` (ns) or
        ``-mean D(G(z))`` (wgan-gp)."""
        d_fake = self.discriminate(self.generate(self.latents(n)))
        return generator_loss_ns(d_fake) if self.cfg.objective == "ns" else -d_fake.mean()

    def loss(self, batch: Batch) -> LossOutput:
        """The generator's loss (the logged ``loss``), with the discriminator's numbers."""
        _, metrics = self.critic_loss(batch.x)
        g_loss = self.generator_loss(len(batch.x))
        return LossOutput(g_loss, {**metrics, "g_loss": g_loss.item()})

    def train_step(self, batch: Batch, opt: Optimizers) -> dict[str, float]:
        """``n_critic`` discriminator steps, then one generator step (Goodfellow 2014, Alg. 1).

        Returns ``loss`` (= ``g_loss``), ``g_loss``, and the last discriminator step's
        ``d_loss``, ``d_real``, ``d_fake``.
        """
        metrics: dict[str, float] = {}
        for _ in range(self.cfg.n_critic):
            d_loss, metrics = self.critic_loss(batch.x)
            opt.step("critic", d_loss)
        with self._critic_frozen():
            g_loss = self.generator_loss(len(batch.x))
            opt.step("generator", g_loss)
        return {"loss": g_loss.item(), "g_loss": g_loss.item(), **metrics}

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Two optimizers: ``generator`` (G's parameters) and ``critic`` (D's)."""
        return {"generator": [p for p in self.generator.parameters() if p.requires_grad],
                "critic": [p for p in self.critic.parameters() if p.requires_grad]}

    @torch.no_grad()
    def sample(self, n: int, *, y: Tensor | None = None, **overrides: Any) -> Tensor:
        """``n`` samples G(z) (n, *shape), z ~ N(0, I); ``y`` is unused, no settings."""
        if overrides:
            raise UserError(f"unknown sampler setting {next(iter(overrides))!r} for method "
                            "'gan'; it has none")
        return self.generate(self.latents(n))
