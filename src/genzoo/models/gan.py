"""Generative adversarial network: a generator G(z) against a discriminator (critic) D(x).

One method for the GAN family; ``model.objective`` picks the pair of losses:

``ns``       the non-saturating GAN (Goodfellow et al. 2014, section 3): the discriminator
             minimises ``softplus(-D(x)) + softplus(D(G(z)))`` (binary cross-entropy on logits,
             eq. (1)); the generator minimises ``softplus(-D(G(z)))`` = ``-log sigmoid(D(G(z)))``,
             the "maximise log D(G(z))" variant, instead of the saturating ``log(1 - D(G(z)))``.
``wgan``     Wasserstein GAN with weight clipping (Arjovsky et al. 2017, Algorithm 1): the critic
             minimises ``D(G(z)) - D(x)`` (minus :func:`vf_wasserstein_distance`) and every
             critic weight is clipped to ``[-clip, clip]`` after each critic step; the generator
             minimises ``-D(G(z))``. The paper: RMSprop (``train.optimizer: rmsprop``) at 5e-5,
             ``n_critic: 5``, clip 0.01.
``wgan-gp``  the critic loss plus ``lambda E(||grad D(x_hat)|| - 1)^2`` at random interpolates
             (Gulrajani et al. 2017, eq. (3)); the paper uses ``n_critic: 5``, lr 1e-4 and Adam
             betas (0, 0.9). Not yet tuned on the toys: 2000 steps with n_critic 5 at lr 5e-4
             or 1e-3 did not fit pinwheel.
``wgan-lp``  the one-sided ``lambda E max(0, ||grad D(x_hat)|| - 1)^2`` instead (:func:`lp_reg`,
             Petzka et al. 2018), which leaves every 1-Lipschitz critic unpenalised.

With ``gp_every: k`` the penalty is lazy (Karras et al. 2020, section 3.1, there for R1): it
enters only every k-th critic step, weighted ``k * lambda`` so that its expected gradient is
unchanged, and the other steps skip the double backpropagation, about half of a critic
step's cost.

``model.conditional`` makes both networks class-conditional (Mirza & Osindero 2014): G gets a
learned label embedding appended to z; the critic either projects (``critic_cond:
projection``, Miyato & Koyama 2018: ``D(x, y) = w . phi(x) + b + e(y) . phi(x)`` with
``phi`` the backbone's output after a leaky ReLU) or reads the label one-hot as extra input
channels (images) or features (vectors) (``concat``).

Each training step does ``n_critic`` discriminator steps (optimizer ``critic``, fresh z each,
the same real batch) and then one generator step (optimizer ``generator``), all through
``Optimizers.step``, so the one training loop serves GANs too. Logged per step besides the
losses: ``w_dist`` (the Wasserstein objectives' critic estimate), ``lipschitz`` (mean
``||grad_x D||`` at the interpolates, with a penalty), ``d_grad_norm`` / ``g_grad_norm`` (the
parameter gradient norms of the last critic and the generator step).

References:
    Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014 (value function eq. (1),
    non-saturating generator loss in section 3, alternating updates in Algorithm 1).
    Arjovsky, Chintala & Bottou, "Wasserstein GAN", ICML 2017 (Algorithm 1).
    Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017 (critic loss with
    gradient penalty eq. (3), Algorithm 1).
    Petzka, Fischer & Lukovnikov, "On the regularization of Wasserstein GANs", ICLR 2018.
    Mirza & Osindero, "Conditional Generative Adversarial Nets", arXiv:1411.1784, 2014.
    Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018 (eq. (3)).
    Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020 (lazy
    regularization, section 3.1).

Example:
    >>> import genzoo
    >>> run = genzoo.train("gan-toy", ["train.steps=20"], quiet=True)
    >>> gan = genzoo.load(run)
    >>> gan.sample(500, temperature=0.8).shape
    torch.Size([500, 2])
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.config import param
from genzoo.data.base import DatasetInfo
from genzoo.errors import ConfigError
from genzoo.losses import interpolate_grad_norm, norm_penalty, vf_wasserstein_distance
from genzoo.models.base import Batch, LossOutput, Method, TemperatureOptions
from genzoo.nets.base import NetConfig
from genzoo.nets.conditional import ConcatCritic, LabelledGenerator, ProjectionCritic
from genzoo.nets.mlp import MLPConfig
from genzoo.registry import methods

if TYPE_CHECKING:
    from genzoo.training.optim import Optimizers


Objective = Literal["ns", "wgan", "wgan-gp", "wgan-lp"]
CriticConditioning = Literal["projection", "concat"]


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
    objective: Objective = param(
        "ns", "ns (non-saturating, Goodfellow 2014), wgan (weight clipping, Arjovsky 2017), "
        "wgan-gp (Gulrajani 2017) or wgan-lp (one-sided penalty, Petzka 2018)")
    n_critic: int = param(1, "discriminator steps per generator step", ge=1)
    gp_weight: float = param(10.0, "wgan-gp / wgan-lp: weight lambda of the penalty", ge=0)
    gp_every: int = param(1, "wgan-gp / wgan-lp: lazy penalty, on every k-th critic step only, "
                          "weighted k * lambda (Karras et al. 2020)", ge=1)
    clip: float = param(0.01, "wgan: critic weights are clipped to [-clip, clip] after each "
                        "critic step", gt=0)
    conditional: bool = param(False, "class-conditional G(z, y) and D(x, y) (labelled data)")
    label_dim: int = param(16, "conditional: size of the label embedding appended to z", ge=1)
    critic_cond: CriticConditioning = param(
        "projection", "conditional critic: projection (Miyato & Koyama 2018) or concat (the "
        "label one-hot as extra input channels / features)")
    critic_features: int = param(256, "projection: size of the critic features phi(x)", ge=1)
    temperature: float = param(1.0, "std T of the latents when sampling, z ~ N(0, T^2 I) "
                               "(override: sampler.temperature); T < 1 trades diversity for "
                               "typical samples", ge=0)


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
    return -vf_wasserstein_distance(d_real, d_fake)


def grad_norm(params: Iterable[nn.Parameter]) -> float:
    """The L2 norm of the gradients held by ``params`` (0 where none)."""
    squares = [p.grad.detach().square().sum() for p in params if p.grad is not None]
    return math.sqrt(float(torch.stack(squares).sum())) if squares else 0.0


@methods.register("gan")
class GAN(Method):
    """GAN with generator x = G(z), z ~ N(0, I), and discriminator logits D(x) (or, with
    ``conditional``, G(z, y) and D(x, y)).

    Data range: images are mapped to [-1, 1] and the generator ends in tanh; real-valued vectors
    with no stored range are used as they are and the generator output is unbounded.
    """

    Config = GANConfig
    data_range = (-1.0, 1.0)
    capabilities = frozenset({"sample", "generator"})
    SampleOptions = TemperatureOptions
    name = "gan"

    def __init__(self, cfg: GANConfig, info: DatasetInfo) -> None:
        super().__init__(cfg, info)
        self.bounded = info.value_range is not None
        self._critic_steps = 0  # counts critic steps for the lazy penalty (gp_every)
        self._penalty_metrics: dict[str, float] = {}  # of the latest penalised critic step
        out = math.prod(info.shape)
        self.num_classes: int | None = None
        if not cfg.conditional:
            self.generator = cfg.generator.build((cfg.latent_dim,), out)
            self.critic = cfg.critic.build(info.shape, 1)
            return
        if not info.num_classes:
            raise ConfigError(f"a conditional GAN needs labels; dataset {info.name!r} has none")
        k = self.num_classes = info.num_classes
        self.generator = LabelledGenerator(
            cfg.generator.build((cfg.latent_dim + cfg.label_dim,), out), k, cfg.label_dim)
        if cfg.critic_cond == "projection":
            self.critic = ProjectionCritic(cfg.critic.build(info.shape, cfg.critic_features),
                                           cfg.critic_features, k)
        else:
            shape = (info.shape[0] + k, *info.shape[1:])
            self.critic = ConcatCritic(cfg.critic.build(shape, 1), k)

    # ------------------------------------------------------------------ the two networks
    def generate(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """G(z) (or G(z, y)): points (N, *shape) in ``data_range`` for latents z (N,
        latent_dim) and, conditional, labels y (N,)."""
        x = self.generator(z) if y is None else self.generator(z, y)
        if self.bounded:
            x = torch.tanh(x)
        return x.reshape(len(z), *self.info.shape)

    def discriminate(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Logits / critic scores D(x) (or D(x, y)) (N,) for points x (N, *shape)."""
        return self.critic(x).squeeze(-1) if y is None else self.critic(x, y)

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
    def critic_loss(self, x_real: Tensor, y: Tensor | None = None, penalty_scale: float = 1.0
                    ) -> tuple[Tensor, dict[str, float]]:
        """Discriminator loss on a real batch (B, *shape) (labels y (B,) for a conditional GAN;
        the fakes get the same labels) and fresh fakes, plus its metrics. ``penalty_scale``
        multiplies the penalty's weight lambda; 0 leaves the penalty out (lazy steps).

        Metrics: ``d_loss``; ``d_real`` / ``d_fake``: mean sigmoid(D) on real / fake points for
        ``ns``, mean critic score for the Wasserstein objectives, which also log ``w_dist``
        and, with a penalty, ``gp`` or ``lp`` and ``lipschitz`` (mean gradient norm).
        """
        with torch.no_grad():
            x_fake = self.generate(self.latents(len(x_real)), y)
        d_real, d_fake = self.discriminate(x_real, y), self.discriminate(x_fake, y)
        objective = self.cfg.objective
        if objective == "ns":
            d_loss = discriminator_loss_ns(d_real, d_fake)
            return d_loss, {"d_loss": d_loss.item(),
                            "d_real": torch.sigmoid(d_real).mean().item(),
                            "d_fake": torch.sigmoid(d_fake).mean().item()}
        d_loss = critic_loss_wgan(d_real, d_fake)
        metrics = {"d_real": d_real.mean().item(), "d_fake": d_fake.mean().item(),
                   "w_dist": vf_wasserstein_distance(d_real, d_fake).item()}
        if objective != "wgan" and penalty_scale > 0:
            with torch.enable_grad():  # the penalty differentiates D, also under validation
                norms = interpolate_grad_norm(lambda x: self.discriminate(x, y), x_real, x_fake)
            name = "gp" if objective == "wgan-gp" else "lp"
            penalty = norm_penalty(norms, one_sided=name == "lp")
            d_loss = d_loss + penalty_scale * self.cfg.gp_weight * penalty
            metrics.update({name: penalty.item(), "lipschitz": norms.mean().item()})
        return d_loss, {"d_loss": d_loss.item(), **metrics}

    def generator_loss(self, n: int, y: Tensor | None = None) -> Tensor:
        """Generator loss on ``n`` fresh fakes (labels y (n,) if conditional):
        ``mean softplus(-D(G(z)))`` (ns) or ``-mean D(G(z))`` (Wasserstein objectives)."""
        d_fake = self.discriminate(self.generate(self.latents(n), y), y)
        return generator_loss_ns(d_fake) if self.cfg.objective == "ns" else -d_fake.mean()

    def loss(self, batch: Batch) -> LossOutput:
        """The generator's loss (the logged ``loss``), with the discriminator's numbers."""
        y = self._batch_labels(batch)
        _, metrics = self.critic_loss(batch.x, y)
        g_loss = self.generator_loss(len(batch.x), y)
        return LossOutput(g_loss, {**metrics, "g_loss": g_loss.item()})

    def _batch_labels(self, batch: Batch) -> Tensor | None:
        return self.labels(len(batch.x), batch.y if self.conditional else None, required=True)

    @torch.no_grad()
    def clip_critic(self) -> None:
        """WGAN's weight clipping: every critic parameter into ``[-clip, clip]``."""
        for p in self.critic.parameters():
            p.clamp_(-self.cfg.clip, self.cfg.clip)

    def train_step(self, batch: Batch, opt: Optimizers) -> dict[str, float]:
        """``n_critic`` discriminator steps (each followed by weight clipping for ``wgan``),
        then one generator step (Goodfellow 2014, Alg. 1; Arjovsky 2017, Alg. 1).

        With ``gp_every`` k > 1, critic steps number ``j`` = 0, 1, ... over the run (the count
        restarts at 0 on resume) and only those with ``j % k == 0`` carry the penalty, weighted
        k lambda.

        Returns ``loss`` (= ``g_loss``), ``g_loss``, the last discriminator step's metrics
        (:meth:`critic_loss`; on a lazy step ``d_loss`` leaves the penalty out and the penalty
        metrics are those of the latest penalised step) and the gradient norms
        ``d_grad_norm`` / ``g_grad_norm``.
        """
        y = self._batch_labels(batch)
        metrics: dict[str, float] = {}
        every = self.cfg.gp_every
        for _ in range(self.cfg.n_critic):
            scale = float(every) if self._critic_steps % every == 0 else 0.0
            self._critic_steps += 1
            d_loss, metrics = self.critic_loss(batch.x, y, scale)
            if scale:
                self._penalty_metrics = {k: metrics[k] for k in ("gp", "lp", "lipschitz")
                                         if k in metrics}
            opt.step("critic", d_loss)
            if self.cfg.objective == "wgan":
                self.clip_critic()
        metrics.update(self._penalty_metrics)
        d_norm = grad_norm(self.critic.parameters())
        with self._critic_frozen():
            g_loss = self.generator_loss(len(batch.x), y)
            opt.step("generator", g_loss)
        return {"loss": g_loss.item(), "g_loss": g_loss.item(), **metrics,
                "d_grad_norm": d_norm, "g_grad_norm": grad_norm(self.generator.parameters())}

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Two optimizers: ``generator`` (G's parameters) and ``critic`` (D's)."""
        return {"generator": [p for p in self.generator.parameters() if p.requires_grad],
                "critic": [p for p in self.critic.parameters() if p.requires_grad]}

    @torch.no_grad()
    def draw(self, n: int, y: Tensor | None, options: TemperatureOptions) -> Tensor:
        """``n`` samples G(z) (n, *shape), z ~ N(0, T^2 I); a conditional GAN takes labels
        ``y`` (n,) (uniform when None). ``options.temperature`` T overrides
        ``model.temperature`` (1: the latent distribution G was trained on)."""
        temperature = self.cfg.temperature if options.temperature is None else \
            options.temperature
        return self.generate(temperature * self.latents(n), self.labels(n, y))
