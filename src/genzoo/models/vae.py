"""Variational autoencoder: amortised inference q(z|x), decoder p(x|z), prior N(0, I).

Trained by maximising the evidence lower bound (ELBO) with the reparameterisation trick; the
marginal likelihood is estimated by importance sampling with q as proposal (the IWAE bound).
Generic over backbones: the encoder and decoder are any registered nets (MLP by default).

Decoders (``model.decoder``):
    ``gaussian``  N(x; mu(z), diag exp(logvar)), the log-variance either a function of z
                  (``decoder_logvar: net``), one per data dimension (``per-dim``) or one number
                  (``global``); for real-valued data such as the 2-D toys.
    ``bernoulli`` Bernoulli(x; sigmoid(logits(z))); for binary images in [0, 1].

References:
    Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014 (ELBO eq. (3), estimator
    eq. (10), Gaussian KL appendix B, decoders appendix C).
    Rezende, Mohamed & Wierstra, "Stochastic Backpropagation and Approximate Inference in Deep
    Generative Models", ICML 2014.
    Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016 (the K-sample
    estimate of log p(x), eq. (8)).

Example:
    >>> import genzoo
    >>> run = genzoo.train("vae-toy")                      # doctest: +SKIP
    >>> vae = genzoo.load(run)                             # doctest: +SKIP
    >>> x = vae.sample(500)                                # doctest: +SKIP
    >>> vae.log_prob(x, k=1000).mean()                     # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from genzoo.config import param
from genzoo.data.base import DatasetInfo
from genzoo.errors import ConfigError, UserError
from genzoo.losses import (
    kl_gaussian_gaussian_analytic,
    log_likelihood_bernoulli,
    log_likelihood_normal,
)
from genzoo.models.base import Batch, LossOutput, Method
from genzoo.nets.base import NetConfig
from genzoo.nets.mlp import MLPConfig
from genzoo.registry import methods


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


@methods.register("vae")
class VAE(Method):
    """VAE with q(z|x) = N(mu(x), diag exp(logvar(x))), p(z) = N(0, I) and p(x|z) as configured.

    ``loss`` is the negative ELBO averaged over the batch, with the KL term in closed form
    (Kingma & Welling 2014, eq. (10)); ``log_prob`` the importance-sampled log p(x) (Burda et
    al. 2016, eq. (8)).

    Data range: images (and any data with a stored range) are mapped to [0, 1]; real-valued
    vectors with no stored range are used as they are, so their range is unbounded.
    """

    Config = VAEConfig
    data_range = (0.0, 1.0)
    name = "vae"

    def __init__(self, cfg: VAEConfig, info: DatasetInfo) -> None:
        super().__init__(cfg, info)
        if info.value_range is None and cfg.decoder == "bernoulli":
            raise ConfigError(f"model.decoder=bernoulli needs data in [0, 1]; dataset "
                              f"{info.name!r} is real-valued (use decoder: gaussian)")
        self.dim = math.prod(info.shape)
        heads = 2 if cfg.decoder == "gaussian" and cfg.decoder_logvar == "net" else 1
        self.encoder = cfg.encoder.build(info.shape, 2 * cfg.latent_dim)
        self.decoder_net = cfg.decoder_net.build((cfg.latent_dim,), heads * self.dim)
        self.logvar_x: nn.Parameter | None = None
        if cfg.decoder == "gaussian" and cfg.decoder_logvar != "net":
            size = (self.dim,) if cfg.decoder_logvar == "per-dim" else ()
            self.logvar_x = nn.Parameter(torch.full(size, cfg.init_logvar))

    # ------------------------------------------------------------------ the two distributions
    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of q(z|x), each (B, L), for x (B, *shape)."""
        mu_z, logvar_z = self.encoder(x).chunk(2, dim=1)
        return mu_z, logvar_z

    def decode(self, z: Tensor) -> tuple[Tensor, Tensor | None]:
        """Parameters of p(x|z) for z (N, L), flattened to (N, D).

        Returns:
            Gaussian: the mean (N, D) and the log-variance, (N, D) with ``decoder_logvar: net``
            else (D,) shared by the batch. Bernoulli: the logits (N, D) and None.
        """
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

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """``log p(x|z)`` (N,) of x (N, *shape) given z (N, L)."""
        params, logvar_x = self.decode(z)
        x = x.flatten(1)
        if logvar_x is None:
            return log_likelihood_bernoulli(params, x)
        return log_likelihood_normal(params, logvar_x, x)

    @staticmethod
    def reparameterize(mu_z: Tensor, logvar_z: Tensor) -> Tensor:
        """``z = mu + exp(logvar / 2) * eps``, eps ~ N(0, I); same shape as ``mu_z``.

        References:
            Kingma & Welling 2014, section 2.4 and eq. (10).
        """
        return mu_z + torch.exp(0.5 * logvar_z) * torch.randn_like(mu_z)

    # ------------------------------------------------------------------ the contract
    def elbo(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """One-sample ELBO terms per example: ``log p(x|z)`` (B,) and ``KL(q(z|x) || p(z))`` (B,).

        ELBO = E_q[log p(x|z)] - KL (Kingma & Welling 2014, eq. (3), estimated as in eq. (10)).
        """
        mu_z, logvar_z = self.encode(x)
        z = self.reparameterize(mu_z, logvar_z)
        zeros = torch.zeros_like(mu_z)
        return self.log_likelihood(x, z), kl_gaussian_gaussian_analytic(mu_z, logvar_z, zeros,
                                                                        zeros)

    def loss(self, batch: Batch) -> LossOutput:
        """Negative ELBO, mean over the batch; metrics ``elbo``, ``recon`` (mean -log p(x|z)),
        ``kl`` (mean KL(q(z|x) || N(0, I))), all in nats per example."""
        log_px_z, kl = self.elbo(batch.x)
        elbo = log_px_z - kl
        loss = -elbo.mean()
        return LossOutput(loss, {"elbo": elbo.mean().item(), "recon": -log_px_z.mean().item(),
                                 "kl": kl.mean().item()})

    @torch.no_grad()
    def log_prob(self, x: Tensor, k: int = 1000, chunk_size: int | None = None) -> Tensor:
        """Importance-sampled ``log p(x) ~ log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)``.

        A stochastic lower bound of log p(x) in expectation that tightens as K grows (K = 1 is
        the ELBO in expectation) and is consistent as K -> infinity.

        Args:
            x: points (B, *shape) in ``data_range``.
            k: K, the number of importance samples per point.
            chunk_size: draws evaluated at once; default so that one chunk holds about 2^16
                decoder inputs, so memory is bounded for any K.

        Returns:
            (B,) log-likelihood estimates in nats.

        References:
            Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016,
            eq. (8); Rezende et al. 2014, eq. (21).
        """
        if k < 1:
            raise UserError(f"log_prob: k must be a positive number of samples, got {k}")
        b = len(x)
        chunk = chunk_size or max(1, 2**16 // max(b, 1))
        mu_z, logvar_z = self.encode(x)
        zeros = torch.zeros_like(mu_z)
        x_flat = x.flatten(1)
        chunks: list[Tensor] = []  # logsumexp of each chunk's log weights, (B,) each
        for start in range(0, k, chunk):
            c = min(chunk, k - start)
            eps = torch.randn((c, *mu_z.shape), dtype=mu_z.dtype, device=mu_z.device)
            z = (mu_z + torch.exp(0.5 * logvar_z) * eps).flatten(0, 1)  # (c * B, L)
            log_q = log_likelihood_normal(mu_z.repeat(c, 1), logvar_z.repeat(c, 1), z)
            log_pz = log_likelihood_normal(zeros.repeat(c, 1), zeros.repeat(c, 1), z)
            log_px_z = self.log_likelihood(x_flat.repeat(c, 1), z)
            log_w = (log_px_z + log_pz - log_q).view(c, b)
            chunks.append(torch.logsumexp(log_w, 0))
        return torch.logsumexp(torch.stack(chunks), 0) - math.log(k)

    @torch.no_grad()
    def sample(self, n: int, *, y: Tensor | None = None, **overrides: Any) -> Tensor:
        """``n`` samples (n, *shape): z ~ N(0, I), then x ~ p(x|z), or its mean.

        Args:
            n: number of samples.
            y: unused (the VAE is unconditional).
            overrides: ``sample_noise`` (bool), overriding ``model.sample_noise``. With noise the
                draws are the model's own distribution (for the toys, the honest sample); without,
                the decoder means (Gaussian mu, Bernoulli probabilities), smoother pictures.
        """
        unknown = [key for key in overrides if key != "sample_noise"]
        if unknown:
            raise UserError(f"unknown sampler setting {unknown[0]!r} for method 'vae'; valid: "
                            "sample_noise")
        noise = bool(overrides.get("sample_noise", self.cfg.sample_noise))
        z = torch.randn(n, self.cfg.latent_dim, device=self.device)
        params, logvar_x = self.decode(z)
        if logvar_x is None:
            probs = torch.sigmoid(params)
            x = torch.bernoulli(probs) if noise else probs
        else:
            x = params + torch.exp(0.5 * logvar_x) * torch.randn_like(params) if noise else params
        return x.view(n, *self.info.shape).clamp(*self.data_range)

