"""Denoising diffusion probabilistic model (DDPM): epsilon prediction, ancestral sampling.

Forward process (Ho et al. 2020, eqs. 2 and 4), with ``alpha_t = 1 - beta_t`` and
``abar_t = prod_{s <= t} alpha_s``::

    q(x_t | x_0) = N(x_t; sqrt(abar_t) x_0, (1 - abar_t) I)

The network ``eps_theta(x_t, t)`` is trained by the simplified loss (eq. 14)
``E_{t, x_0, eps} || eps - eps_theta(sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t) ||^2`` with t
uniform, and samples are drawn by ancestral sampling (algorithm 2)::

    x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps_theta(x_t, t)) / sqrt(alpha_t) + sigma_t z

with ``sigma_t^2 = beta_t`` by default (``variance: beta``, the upper bound of section 3.2) or the
posterior variance ``beta~_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t`` (``variance: posterior``,
eq. 7, the lower bound); the paper reports similar results for both. With few steps the two
differ visibly: for data N(m, 0.5^2 I), T = 100 and the exact noise predictor, the sample std is
+1.5 % (beta) and -6.4 % (posterior) off (tests/models/test_ddpm.py).

Indexing: the paper's steps t = 1..T are stored at indices 0..T-1 here, and the network receives
the index (a float in 0..T-1) through its sinusoidal embedding.

Data: images train in [-1, 1] (``data_range``), as in the paper, and final samples are clipped
there. Vector datasets without a declared range (the 2-D toys) are not rescaled: the method trains
on the raw values and ``data_range`` is unbounded for them. Nothing here assumes vectors except the
default net: an image net only has to map ``(x_t (B, C, H, W), t (B,))`` to ``(B, C, H, W)``
(or ``(B, C*H*W)``).

References:
    Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020, eqs. 2, 4, 7,
    14 and algorithms 1-2.
    Nichol & Dhariwal, "Improved Denoising Diffusion Probabilistic Models", ICML 2021, eq. 17
    (cosine schedule).

Example:
    >>> import genzoo
    >>> run = genzoo.train("ddpm-toy", ["train.steps=20"], quiet=True)   # 20 of 3000 steps
    >>> m = genzoo.load(run)
    >>> m.sample(1000).shape                                  # T = 100 ancestral steps
    torch.Size([1000, 2])
    >>> m.sample(10, variance="posterior").shape              # sigma_t^2 = beta~_t
    torch.Size([10, 2])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from genzoo.config import param
from genzoo.data.base import DatasetInfo
from genzoo.errors import ConfigError
from genzoo.models.base import Batch, LossOutput, Method
from genzoo.nets.base import NetConfig
from genzoo.nets.cond_mlp import CondMLPConfig
from genzoo.registry import methods


def beta_schedule(kind: Literal["linear", "cosine"], timesteps: int, beta_start: float = 1e-3,
                  beta_end: float = 0.2, s: float = 0.008) -> Tensor:
    """Noise variances beta_t (T,) in float64.

    ``linear``: evenly spaced from ``beta_start`` to ``beta_end`` (Ho et al. 2020, section 4, use
    1e-4..0.02 for T = 1000; fewer steps need proportionally larger betas). ``cosine``:
    ``abar(t) = f(t) / f(0)``, ``f(t) = cos^2((t / T + s) / (1 + s) * pi / 2)`` and
    ``beta_t = 1 - abar_t / abar_{t-1}`` clipped to 0.999 (Nichol & Dhariwal 2021, eq. 17).
    """
    if kind == "linear":
        return torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64)
    if kind == "cosine":
        steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
        f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
        abar = f / f[0]
        return (1 - abar[1:] / abar[:-1]).clamp(max=0.999)
    raise ValueError(f"unknown beta schedule {kind!r}")


@dataclass
class DDPMConfig:
    """``model:`` section of a DDPM preset."""

    net: NetConfig = param(default_factory=lambda: CondMLPConfig(width=128, depth=3),
                           help="noise predictor eps(x_t, t) (genzoo list nets)")
    timesteps: int = param(100, "diffusion steps T", ge=1)
    beta_schedule: Literal["linear", "cosine"] = param("linear", "schedule of beta_t")
    beta_start: float = param(1e-3, "beta_1 of the linear schedule", gt=0, lt=1)
    beta_end: float = param(0.2, "beta_T of the linear schedule", gt=0, lt=1)
    variance: Literal["beta", "posterior"] = param(
        "beta", "sampling variance sigma_t^2: beta_t, or the posterior beta~_t")

    def validate(self) -> None:
        if self.beta_schedule == "linear" and self.beta_end < self.beta_start:
            raise ConfigError(f"model.beta_end={self.beta_end} is below model.beta_start="
                              f"{self.beta_start}")


@dataclass
class DDPMSampleOptions:
    """``sample()`` options of DDPM."""

    variance: Literal["beta", "posterior"] | None = param(
        None, "reverse-step variance sigma_t^2: beta_t or the posterior's (None: model.variance)")


@methods.register("ddpm")
class DDPM(Method):
    """Epsilon-prediction diffusion model; ``loss`` is eq. 14, ``sample`` is algorithm 2."""

    Config = DDPMConfig
    data_range = (-1.0, 1.0)
    capabilities = frozenset({"sample"})
    SampleOptions = DDPMSampleOptions
    name = "ddpm"

    def __init__(self, cfg: DDPMConfig, info: DatasetInfo) -> None:
        super().__init__(cfg, info)
        self.net = cfg.net.build(info.shape, math.prod(info.shape))
        betas = beta_schedule(cfg.beta_schedule, cfg.timesteps, cfg.beta_start, cfg.beta_end)
        abar = torch.cumprod(1 - betas, 0)
        abar_prev = torch.cat([abar.new_ones(1), abar[:-1]])
        # derived from the config, so kept out of checkpoints
        for key, value in {"betas": betas, "alphas": 1 - betas, "abar": abar,
                           "posterior_var": betas * (1 - abar_prev) / (1 - abar)}.items():
            self.register_buffer(key, value.float(), persistent=False)

    # ------------------------------------------------------------------ forward process
    def _at(self, values: Tensor, t: Tensor, x: Tensor) -> Tensor:
        """values[t] (B,) reshaped to broadcast against x (B, ...)."""
        return values[t].view(-1, *([1] * (x.dim() - 1)))

    def q_mean_var(self, x0: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Moments of q(x_t | x_0) (Ho et al. 2020, eq. 4).

        Args:
            x0: clean data (B, ...).
            t: step indices (B,) in 0..T-1 (paper step t + 1).

        Returns:
            mean ``sqrt(abar_t) x0`` (B, ...) and variance ``1 - abar_t`` broadcastable (B, 1...).
        """
        abar = self._at(self.abar, t, x0)
        return abar.sqrt() * x0, 1 - abar

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor | None = None) -> Tensor:
        """A draw x_t (B, ...) of q(x_t | x_0): ``sqrt(abar_t) x0 + sqrt(1 - abar_t) noise``.

        Args:
            x0: clean data (B, ...).
            t: step indices (B,) in 0..T-1.
            noise: standard normal (B, ...); drawn when None.
        """
        noise = torch.randn_like(x0) if noise is None else noise
        mean, var = self.q_mean_var(x0, t)
        return mean + var.sqrt() * noise

    # ------------------------------------------------------------------ model
    def forward(self, x_t: Tensor, t: Tensor) -> Tensor:
        """Predicted noise eps_theta(x_t, t) (B, ...) for x_t (B, ...) and step indices t (B,)."""
        return self.net(x_t, t.to(x_t.dtype)).view_as(x_t)

    def loss(self, batch: Batch) -> LossOutput:
        """Simplified objective (Ho et al. 2020, eq. 14): MSE of the noise at uniform t."""
        x0 = batch.x
        t = torch.randint(0, self.cfg.timesteps, (len(x0),), device=x0.device)
        noise = torch.randn_like(x0)
        loss = F.mse_loss(self(self.q_sample(x0, t, noise), t), noise)
        return LossOutput(loss)

    @torch.no_grad()
    def draw(self, n: int, y: Tensor | None, options: DDPMSampleOptions) -> Tensor:
        """``n`` samples (n, *info.shape) by ancestral sampling (Ho et al. 2020, algorithm 2);
        ``options.variance`` replaces ``model.variance``."""
        variance = options.variance or self.cfg.variance
        sigma2 = self.betas if variance == "beta" else self.posterior_var
        x = torch.randn(n, *self.info.shape, device=self.device)
        for i in reversed(range(self.cfg.timesteps)):
            t = torch.full((n,), i, device=x.device, dtype=torch.long)
            eps = self(x, t)
            x = (x - self.betas[i] / (1 - self.abar[i]).sqrt() * eps) / self.alphas[i].sqrt()
            if i > 0:
                x = x + sigma2[i].sqrt() * torch.randn_like(x)
        return x.clamp(*self.data_range)
