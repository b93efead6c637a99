"""Score models: a network s(x) ~ grad log p(x), trained without the normalising constant.

- ``sm``: exact (Hyvärinen) score matching, ``J = E[tr(ds/dx) + |s(x)|^2 / 2]``, with the trace
  computed exactly by one backward pass per input dimension (cheap in 2-D; use DSM for images).
  Sampled by Langevin dynamics on s.
- ``dsm``: denoising score matching at L noise levels sigma_1 > ... > sigma_L (geometric), the
  NCSN objective ``sum_i sigma_i^2 E|s(x + sigma_i z, sigma_i) + z / sigma_i|^2 / 2`` with one
  random level per example; ``s(x, sigma) = net([x, log sigma]) / sigma``. Sampled by annealed
  Langevin dynamics. For Gaussian data N(m, v I) the optimal ``s(x, sigma)`` is
  ``-(x - m) / (v + sigma^2)`` (:func:`dsm_loss` is minimised there; tested).

References:
    Hyvärinen, "Estimation of Non-Normalized Statistical Models by Score Matching", JMLR 2005,
    eq. 4.
    Vincent, "A Connection Between Score Matching and Denoising Autoencoders", Neural
    Computation 2011.
    Song & Ermon, "Generative Modeling by Estimating Gradients of the Data Distribution",
    NeurIPS 2019, eqs. 5-6 and algorithm 1; "Improved Techniques for Training Score-Based
    Generative Models", NeurIPS 2020 (s(x, sigma) = s(x) / sigma).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from genzoo.config import param
from genzoo.data.base import DatasetInfo
from genzoo.errors import ConfigError
from genzoo.models.base import Batch, LossOutput, Method
from genzoo.nets.base import NetConfig
from genzoo.nets.mlp import MLPConfig
from genzoo.registry import methods
from genzoo.samplers.langevin import annealed_langevin, langevin, noise_levels


def exact_sm_loss(score: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Hyvärinen's objective per example (B,): ``tr(ds/dx) + |s(x)|^2 / 2`` for x (B, D).

    The trace takes one backward pass per dimension D, with ``create_graph`` so the loss can be
    differentiated again for training.
    """
    x = x.detach().requires_grad_(True)
    s = score(x)
    trace = torch.zeros(len(x), device=x.device)
    for d in range(x.shape[1]):
        (g,) = torch.autograd.grad(s[:, d].sum(), x, create_graph=True)
        trace = trace + g[:, d]
    return trace + 0.5 * (s**2).sum(1)


def dsm_loss(score: Callable[[Tensor, Tensor], Tensor], x: Tensor, sigma: Tensor) -> Tensor:
    """NCSN denoising score matching per example (B,), weighted by sigma^2:

    ``sigma^2 / 2 * |s(x + sigma z, sigma) + z / sigma|^2 = |sigma s(x~, sigma) + z|^2 / 2``.

    Args:
        score: ``s(x, sigma)`` with sigma (B,).
        x: clean data (B, ...).
        sigma: each example's noise level (B,).
    """
    z = torch.randn_like(x)
    scale = sigma.view(-1, *([1] * (x.dim() - 1)))
    residual = scale * score(x + scale * z, sigma) + z
    return 0.5 * residual.flatten(1).pow(2).sum(1)


@dataclass
class SMConfig:
    """``model:`` section of an exact score-matching preset (vectors only)."""

    net: NetConfig = param(default_factory=lambda: MLPConfig(width=128, depth=3, act="softplus"),
                           help="score network (smooth activations: the loss differentiates it)")
    sample_steps: int = param(1000, "Langevin steps of sample()", ge=1)
    eps: float = param(0.05, "Langevin step size eps (update (eps^2/2) s + eps z)", gt=0)
    init_range: tuple[float, float] = param((-4.0, 4.0), "uniform start of the chains")


@dataclass
class SMSampleOptions:
    """``sample()`` options of score matching."""

    sample_steps: int | None = param(None, "Langevin steps (None: model.sample_steps)", ge=1)


@methods.register("sm")
class ScoreMatching(Method):
    """s(x) (B, D) trained by exact score matching; sampled by Langevin dynamics."""

    Config = SMConfig
    capabilities = frozenset({"sample"})
    SampleOptions = SMSampleOptions
    name = "sm"

    def __init__(self, cfg: SMConfig, info: DatasetInfo) -> None:
        super().__init__(cfg, info)
        if info.kind != "vector" or len(info.shape) != 1 or info.shape[0] > 16:
            raise ConfigError("method 'sm' computes the exact trace: use it on low-dimensional "
                              "vectors (2-D toys); use 'dsm' for images")
        self.net = cfg.net.build(info.shape, info.shape[0])

    def score(self, x: Tensor) -> Tensor:
        return self.net(x)

    def loss(self, batch: Batch) -> LossOutput:
        with torch.enable_grad():
            loss = exact_sm_loss(self.score, batch.x).mean()
        return LossOutput(loss)

    def draw(self, n: int, y: Tensor | None, options: SMSampleOptions) -> Tensor:
        """``n`` samples (n, D) by Langevin dynamics on the learned score from uniform noise."""
        low, high = self.cfg.init_range
        x0 = torch.rand(n, *self.info.shape, device=self.device) * (high - low) + low
        with torch.no_grad():
            return langevin(self.score, x0, options.sample_steps or self.cfg.sample_steps,
                            self.cfg.eps)


@dataclass
class DSMConfig:
    """``model:`` section of a denoising score-matching preset."""

    net: NetConfig = param(default_factory=lambda: MLPConfig(width=128, depth=3, act="silu"),
                           help="network on [x, log sigma] (vectors)")
    sigma_max: float = param(3.0, "largest noise level (about the data's diameter)", gt=0)
    sigma_min: float = param(0.01, "smallest noise level", gt=0)
    levels: int = param(10, "number of noise levels L", ge=1)
    steps_per_level: int = param(100, "annealed Langevin steps per level", ge=1)
    eps: float = param(5e-5, "annealed Langevin step at the smallest level", gt=0)
    denoise: bool = param(True, "finish sampling with one noise-free (Tweedie) step")

    def validate(self) -> None:
        if self.sigma_min >= self.sigma_max:
            raise ConfigError("model.sigma_min must be smaller than model.sigma_max")


@dataclass
class DSMSampleOptions:
    """``sample()`` options of denoising score matching."""

    steps_per_level: int | None = param(None, "annealed Langevin steps per noise level "
                                        "(None: model.steps_per_level)", ge=1)


@methods.register("dsm")
class DenoisingScoreMatching(Method):
    """Noise-conditional s(x, sigma) trained by DSM; sampled by annealed Langevin dynamics."""

    Config = DSMConfig
    capabilities = frozenset({"sample"})
    SampleOptions = DSMSampleOptions
    name = "dsm"

    def __init__(self, cfg: DSMConfig, info: DatasetInfo) -> None:
        super().__init__(cfg, info)
        if len(info.shape) != 1:
            raise ConfigError("method 'dsm' takes vectors for now (image score networks "
                              "arrive with the diffusion issue)")
        self.net = cfg.net.build((info.shape[0] + 1,), info.shape[0])
        self.register_buffer("sigmas", noise_levels(cfg.sigma_max, cfg.sigma_min, cfg.levels))

    def score(self, x: Tensor, sigma: Tensor) -> Tensor:
        """s(x, sigma) (B, D) = net([x, log sigma]) / sigma."""
        h = torch.cat([x, sigma.log().unsqueeze(1)], dim=1)
        return self.net(h) / sigma.unsqueeze(1)

    def loss(self, batch: Batch) -> LossOutput:
        level = torch.randint(len(self.sigmas), (len(batch.x),), device=batch.x.device)
        loss = dsm_loss(self.score, batch.x, self.sigmas[level]).mean()
        return LossOutput(loss)

    def draw(self, n: int, y: Tensor | None, options: DSMSampleOptions) -> Tensor:
        """``n`` samples (n, D) by annealed Langevin dynamics from N(0, sigma_max^2 I)."""
        x0 = self.cfg.sigma_max * torch.randn(n, *self.info.shape, device=self.device)
        with torch.no_grad():
            return annealed_langevin(self.score, x0, self.sigmas,
                                     options.steps_per_level or self.cfg.steps_per_level,
                                     self.cfg.eps, denoise=self.cfg.denoise)
