"""Variational autoencoder: amortised inference q(z|x), decoder p(x|z), prior N(0, I).

Trained by maximising the evidence lower bound (ELBO) with the reparameterisation trick; the
marginal likelihood is estimated by importance sampling with q as proposal (the IWAE bound).
Generic over backbones: the encoder and decoder are any registered nets (MLP by default; for
28x28 images ``conv-encoder`` and ``deconv``).

Decoders (``model.decoder``):
    ``gaussian``  N(x; mu(z), diag exp(logvar)), the log-variance either a function of z
                  (``decoder_logvar: net``), one per data dimension (``per-dim``) or one number
                  (``global``); for real-valued data such as the 2-D toys.
    ``bernoulli`` Bernoulli(x; sigmoid(logits(z))); for binary images in [0, 1] (or grey
                  levels with ``binarize: true``, drawn as x ~ Bernoulli(grey) at every batch).

Conditional VAE (``model.conditional: true``): q(z|x, y) and p(x|z, y) with the label's one-hot
appended to the encoder's features (before its linear head) and to z (the decoder's input),
prior N(0, I) independent of y; ``sample(n, y=labels)`` draws digits of the given classes.
``gsnn_weight`` adds Sohn et al.'s GSNN term, the decoder's likelihood under prior draws of z,
so that the label rather than z decides the class of samples.

References:
    Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014 (ELBO eq. (3), estimator
    eq. (10), Gaussian KL appendix B, decoders appendix C).
    Rezende, Mohamed & Wierstra, "Stochastic Backpropagation and Approximate Inference in Deep
    Generative Models", ICML 2014.
    Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016 (the K-sample
    estimate of log p(x), eq. (8)).
    Sohn, Lee & Yan, "Learning Structured Output Representation using Deep Conditional
    Generative Models", NeurIPS 2015 (the conditional VAE and its ELBO, here with the prior
    p(z|y) = N(0, I) as in Kingma et al. 2014's M2 model; the GSNN objective and the hybrid
    objective alpha ELBO + (1 - alpha) GSNN).
    Kingma, Rezende, Mohamed & Welling, "Semi-Supervised Learning with Deep Generative Models",
    NeurIPS 2014 (M2: p(x|y, z) with independent priors on y and z).

Example:
    >>> import genzoo
    >>> run = genzoo.train("vae-toy", ["train.steps=20"], quiet=True)   # 20 of 5000 steps
    >>> vae = genzoo.load(run)
    >>> x = vae.sample(500)                                # x ~ p(x|z), z ~ N(0, I)
    >>> vae.sample(500, sample_noise=False).shape          # the decoder means E[x|z]
    torch.Size([500, 2])
    >>> vae.log_prob(x, k=100).shape                       # IWAE estimates, K = 100
    torch.Size([500])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.config import param
from genzoo.data.base import Dataset, DatasetInfo
from genzoo.errors import ConfigError, UserError
from genzoo.losses import (
    kl_gaussian_gaussian_analytic,
    log_likelihood_bernoulli_logits,
    log_likelihood_normal,
    log_mean_exp,
)
from genzoo.models.base import Batch, LossOutput, Method
from genzoo.nets.base import NetConfig
from genzoo.nets.mlp import MLPConfig
from genzoo.registry import methods

#: Decoder inputs (points x importance draws) that ``log_prob`` evaluates at once by default:
#: on a CPU a 28x28 conv decoder is fastest on a few hundred (measured: 256 gives 1.5-2x the
#: throughput of 4096); GPUs want more. Either way memory stays bounded for any K and batch.
CHUNK_SIZE = {"cpu": 256, "accelerator": 8192}
LOG_2PI = math.log(2 * math.pi)


@dataclass
class VAEConfig:
    """``model:`` section of a VAE preset."""

    encoder: NetConfig = param(default_factory=lambda: MLPConfig(width=128, depth=2),
                               help="backbone of q(z|x): x -> (mu, logvar) (genzoo list nets)")
    decoder_net: NetConfig = param(default_factory=lambda: MLPConfig(width=128, depth=2),
                                   help="backbone of p(x|z): z -> decoder parameters")
    latent_dim: int = param(2, "size L of the latent z", ge=1)
    decoder: Literal["gaussian", "bernoulli"] = param(
        "gaussian", "p(x|z): Gaussian (real-valued data) or Bernoulli (binary images)")
    decoder_logvar: Literal["net", "per-dim", "global"] = param(
        "per-dim", "Gaussian decoder log-variance: output by the decoder net (depends on z), "
        "one learned number per data dimension, or one learned number")
    init_logvar: float = param(0.0, "initial Gaussian decoder log-variance (per-dim / global)")
    min_logvar: float = param(-9.0, "lower bound of the Gaussian decoder log-variance")
    sample_noise: bool = param(
        True, "sample() draws x ~ p(x|z) (the model's own samples); false: the decoder mean")
    binarize: bool = param(
        False, "dynamic binarization: every batch (training and evaluation) is drawn as "
        "x ~ Bernoulli(x) from grey levels in [0, 1]; needs the Bernoulli decoder")
    conditional: bool = param(
        False, "conditional VAE q(z|x, y), p(x|z, y): the label one-hot is appended to the "
        "encoder's features and to z; needs a labelled dataset")
    gsnn_weight: float = param(
        0.0, "conditional VAE: weight 1 - alpha of the GSNN term E_{z ~ N(0, I)} log p(x|z, y) "
        "in Sohn et al.'s hybrid objective; it trains the decoder on prior draws of z, as "
        "sample() uses it, so that the label decides the class", ge=0, le=1)


@dataclass
class VAESampleOptions:
    """``sample()`` options of a VAE."""

    sample_noise: bool | None = param(None, "draw x ~ p(x|z) (true) or take its mean (false); "
                                      "None: model.sample_noise")


@methods.register("vae")
class VAE(Method):
    """VAE with q(z|x) = N(mu(x), diag exp(logvar(x))), p(z) = N(0, I) and p(x|z) as configured.

    ``loss`` is the negative ELBO averaged over the batch, with the KL term in closed form
    (Kingma & Welling 2014, eq. (10)); ``log_prob`` the importance-sampled log p(x) (Burda et
    al. 2016, eq. (8)). With ``conditional``, every distribution also takes the labels y (B,).

    Data range: images (and any data with a stored range) are mapped to [0, 1]; real-valued
    vectors with no stored range are used as they are, so their range is unbounded.
    """

    Config = VAEConfig
    data_range = (0.0, 1.0)
    capabilities = frozenset({"sample", "importance_log_prob", "figures"})
    SampleOptions = VAESampleOptions
    name = "vae"

    def __init__(self, cfg: VAEConfig, info: DatasetInfo) -> None:
        super().__init__(cfg, info)
        if info.value_range is None and cfg.decoder == "bernoulli":
            raise ConfigError(f"model.decoder=bernoulli needs data in [0, 1]; dataset "
                              f"{info.name!r} is real-valued (use decoder: gaussian)")
        if cfg.binarize and cfg.decoder != "bernoulli":
            raise ConfigError("model.binarize=true makes binary images: use decoder: bernoulli")
        if cfg.conditional and not info.num_classes:
            raise ConfigError(f"a conditional VAE needs labels; dataset {info.name!r} has none")
        if cfg.gsnn_weight > 0 and not cfg.conditional:
            raise ConfigError("model.gsnn_weight is a term of the conditional VAE: set "
                              "model.conditional=true")
        self.num_classes: int | None = info.num_classes if cfg.conditional else None
        self.dim = math.prod(info.shape)
        labels = self.num_classes or 0
        heads = 2 if cfg.decoder == "gaussian" and cfg.decoder_logvar == "net" else 1
        self.encoder = cfg.encoder.build(info.shape, 2 * cfg.latent_dim)
        # every registered net ends in a linear head, so adding U onehot(y) to its output is
        # appending onehot(y) to the head's input features
        self.label_to_q = nn.Linear(labels, 2 * cfg.latent_dim, bias=False) if labels else None
        self.decoder_net = cfg.decoder_net.build((cfg.latent_dim + labels,), heads * self.dim)
        self.logvar_x: nn.Parameter | None = None
        if cfg.decoder == "gaussian" and cfg.decoder_logvar != "net":
            size = (self.dim,) if cfg.decoder_logvar == "per-dim" else ()
            self.logvar_x = nn.Parameter(torch.full(size, cfg.init_logvar))

    def _one_hot(self, y: Tensor | None, like: Tensor) -> Tensor:
        if y is None or self.num_classes is None:
            raise UserError("the conditional VAE needs labels y")
        return F.one_hot(y, self.num_classes).to(like.dtype)

    # ------------------------------------------------------------------ the two distributions
    def encode(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of q(z|x) (or q(z|x, y)), each (B, L), for x (B, *shape) and,
        for a conditional VAE, labels y (B,)."""
        out = self.encoder(x)
        if self.label_to_q is not None:
            out = out + self.label_to_q(self._one_hot(y, out))
        mu_z, logvar_z = out.chunk(2, dim=1)
        return mu_z, logvar_z

    def decode(self, z: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Parameters of p(x|z) (or p(x|z, y)) for z (N, L) and labels y (N,), flattened to
        (N, D).

        Returns:
            Gaussian: the mean (N, D) and the log-variance, (N, D) with ``decoder_logvar: net``
            else (D,) shared by the batch. Bernoulli: the logits (N, D) and None.
        """
        if self.num_classes is not None:
            z = torch.cat([z, self._one_hot(y, z)], dim=1)
        out = self.decoder_net(z)
        if self.cfg.decoder == "bernoulli":
            return out, None
        if self.logvar_x is None:
            mu_x, logvar_x = out.chunk(2, dim=1)
        else:
            mu_x, logvar_x = out, self.logvar_x.expand(self.dim)
        # a soft floor keeps the likelihood from diverging on (near-)degenerate data
        floor = self.cfg.min_logvar
        return mu_x, floor + nn.functional.softplus(logvar_x - floor)

    def log_likelihood(self, x: Tensor, z: Tensor, y: Tensor | None = None) -> Tensor:
        """``log p(x|z)`` (N,) of x (N, *shape) given z (N, L) (and labels y (N,))."""
        params, logvar_x = self.decode(z, y)
        x = x.flatten(1)
        if logvar_x is None:
            return log_likelihood_bernoulli_logits(params, x)
        return log_likelihood_normal(params, logvar_x, x)

    def decoder_mean(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """E[x|z] (N, *shape): the Gaussian mean or the Bernoulli probabilities."""
        params, logvar_x = self.decode(z, y)
        mean = torch.sigmoid(params) if logvar_x is None else params
        return mean.view(len(z), *self.info.shape)

    @staticmethod
    def reparameterize(mu_z: Tensor, logvar_z: Tensor) -> Tensor:
        """``z = mu + exp(logvar / 2) * eps``, eps ~ N(0, I); same shape as ``mu_z``.

        References:
            Kingma & Welling 2014, section 2.4 and eq. (10).
        """
        return mu_z + torch.exp(0.5 * logvar_z) * torch.randn_like(mu_z)

    # ------------------------------------------------------------------ the contract
    def elbo(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One-sample ELBO terms per example: ``log p(x|z)`` (B,) and ``KL(q(z|x) || p(z))`` (B,).

        ELBO = E_q[log p(x|z)] - KL (Kingma & Welling 2014, eq. (3), estimated as in eq. (10));
        for a conditional VAE every term is conditioned on the labels y (B,) (Sohn et al. 2015,
        the conditional ELBO).
        """
        mu_z, logvar_z = self.encode(x, y)
        z = self.reparameterize(mu_z, logvar_z)
        zeros = torch.zeros_like(mu_z)
        return self.log_likelihood(x, z, y), kl_gaussian_gaussian_analytic(mu_z, logvar_z,
                                                                           zeros, zeros)

    def gsnn(self, x: Tensor, y: Tensor) -> Tensor:
        """``log p(x|z, y)`` with z ~ N(0, I) (B,), for x (B, *shape) and labels y (B,): a
        one-draw estimate of the Gaussian stochastic neural network's objective
        ``E_{p(z)}[log p(x|z, y)]``, z drawn as ``sample()`` draws it (no encoder).

        References:
            Sohn, Lee & Yan 2015, the GSNN (their y given x is our x given y, with the prior
            network p(z|x) replaced by N(0, I)).
        """
        z = torch.randn(len(x), self.cfg.latent_dim, dtype=x.dtype, device=x.device)
        return self.log_likelihood(x, z, y)

    def loss(self, batch: Batch) -> LossOutput:
        """Negative ELBO, mean over the batch; metrics ``elbo``, ``recon`` (mean -log p(x|z)),
        ``kl`` (mean KL(q(z|x) || N(0, I))), all in nats per example. A conditional VAE uses
        the batch's labels (a plain one ignores them); with ``gsnn_weight`` w > 0 it minimises
        Sohn et al.'s hybrid objective ``-((1 - w) ELBO + w GSNN)`` and logs ``gsnn`` too."""
        y = self.labels(len(batch.x), batch.y, required=True) if self.conditional else None
        log_px_z, kl = self.elbo(batch.x, y)
        elbo = log_px_z - kl
        metrics = {"elbo": elbo.mean().item(), "recon": -log_px_z.mean().item(),
                   "kl": kl.mean().item()}
        objective = elbo
        w = self.cfg.gsnn_weight
        if w > 0 and y is not None:
            gsnn = self.gsnn(batch.x, y)
            objective = (1 - w) * elbo + w * gsnn
            metrics["gsnn"] = gsnn.mean().item()
        return LossOutput(-objective.mean(), metrics)

    def prepare(self, x: Tensor, y: Tensor | None = None) -> Batch:
        """Stored items as a batch in [0, 1]; with ``binarize``, each pixel then drawn as
        ``Bernoulli(x)`` (a fresh binarization every time)."""
        batch = super().prepare(x, y)
        if self.cfg.binarize:
            batch.x = torch.bernoulli(batch.x.clamp(0, 1))
        return batch

    @torch.no_grad()
    def log_prob(self, x: Tensor, k: int = 1000, chunk_size: int | None = None, *,
                 y: Tensor | None = None) -> Tensor:
        """Importance-sampled ``log p(x) ~ log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)``.

        A stochastic lower bound of log p(x) in expectation that tightens as K grows (K = 1 is
        the ELBO in expectation) and is consistent as K -> infinity. Memory is bounded for any
        K and any number of points: the decoder sees at most ``chunk_size`` inputs at once, and
        the noise is drawn one importance draw of every point at a time, so the estimate does
        not depend on ``chunk_size`` for a fixed seed.

        Args:
            x: points (B, *shape) in ``data_range``.
            k: K, the number of importance samples per point.
            chunk_size: decoder inputs (points x draws) evaluated at once; default
                ``CHUNK_SIZE`` (256 on a CPU, 8192 on a GPU).
            y: conditional VAE: labels (B,), giving ``log p(x|y)``; None gives the marginal
                ``log p(x) = log (1/C) sum_y p(x|y)`` under uniform labels (C times the work).
                A plain VAE takes no labels.

        Returns:
            (B,) log-likelihood estimates in nats.

        References:
            Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016,
            eq. (8); Rezende et al. 2014, eq. (21).
        """
        if k < 1:
            raise UserError(f"log_prob: k must be a positive number of samples, got {k}")
        if chunk_size is not None and chunk_size < 1:
            raise UserError(f"log_prob: chunk_size must be positive, got {chunk_size}")
        chunk = chunk_size or CHUNK_SIZE["cpu" if x.device.type == "cpu" else "accelerator"]
        if self.num_classes is not None and y is None:
            per_class = [self._importance_estimate(x, torch.full((len(x),), c, device=x.device),
                                                   k, chunk)
                         for c in range(self.num_classes)]
            return log_mean_exp(torch.stack(per_class, 1))
        return self._importance_estimate(x, self.labels(len(x), y), k, chunk)

    def _importance_estimate(self, x: Tensor, y: Tensor | None, k: int, chunk: int) -> Tensor:
        b = len(x)
        blocks = [slice(s, s + chunk) for s in range(0, b, chunk)]
        encoded = [self.encode(x[i], None if y is None else y[i]) for i in blocks]
        mu_z = torch.cat([m for m, _ in encoded])
        logvar_z = torch.cat([v for _, v in encoded])
        std_z = torch.exp(0.5 * logvar_z)
        x_flat = x.flatten(1)
        draws = max(1, chunk // b)  # importance draws per chunk; points per chunk: see blocks
        log_sum = torch.full((b,), -math.inf, dtype=mu_z.dtype, device=mu_z.device)
        for start in range(0, k, draws):
            c = min(draws, k - start)
            eps = torch.stack([torch.randn_like(mu_z) for _ in range(c)])  # (c, B, L)
            z = mu_z + std_z * eps
            log_q = -0.5 * (LOG_2PI + logvar_z + eps.square()).sum(-1)  # log N(z; mu, std^2)
            log_pz = -0.5 * (LOG_2PI + z.square()).sum(-1)
            for i in blocks:
                n = len(x_flat[i])
                log_px_z = self.log_likelihood(
                    x_flat[i].repeat(c, 1), z[:, i].flatten(0, 1),
                    None if y is None else y[i].repeat(c)).view(c, n)
                log_w = log_px_z + log_pz[:, i] - log_q[:, i]
                log_sum[i] = torch.logaddexp(log_sum[i], torch.logsumexp(log_w, 0))
        return log_sum - math.log(k)

    @torch.no_grad()
    def draw(self, n: int, y: Tensor | None, options: VAESampleOptions) -> Tensor:
        """``n`` samples (n, *shape): z ~ N(0, I), then x ~ p(x|z), or its mean.

        Args:
            n: number of samples.
            y: conditional VAE: the class of each sample (n,); None draws uniform labels.
            options: ``sample_noise`` overrides ``model.sample_noise``. With noise the draws are
                the model's own distribution (for the toys, the honest sample); without, the
                decoder means (Gaussian mu, Bernoulli probabilities), smoother pictures.
        """
        noise = self.cfg.sample_noise if options.sample_noise is None else options.sample_noise
        y = self.labels(n, y)
        z = torch.randn(n, self.cfg.latent_dim, device=self.device)
        params, logvar_x = self.decode(z, y)
        if logvar_x is None:
            probs = torch.sigmoid(params)
            x = torch.bernoulli(probs) if noise else probs
        else:
            x = params + torch.exp(0.5 * logvar_x) * torch.randn_like(params) if noise else params
        return x.view(n, *self.info.shape).clamp(*self.data_range)

    def figures(self, out_dir: Path, train: Dataset | None, test: Dataset) -> dict[str, str]:
        """Images: test images beside their reconstructions, and for a conditional VAE a 10x10
        grid of samples with one class per column (see :func:`genzoo.viz.vae.vae_figures`)."""
        from genzoo.viz.vae import vae_figures

        return vae_figures(self, out_dir, test)
