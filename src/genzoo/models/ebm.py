"""Energy-based model p(x) ∝ exp(-E(x)) trained by contrastive divergence.

The energy is a scalar network output with no activation. Each step draws negatives by SGLD
started from uniform noise (``init: noise``) or from a replay buffer of earlier negatives with 5%
fresh noise (``init: buffer``, persistent CD), and minimises

    L = mean E(x+) - mean E(x-) + alpha * mean(E(x+)^2 + E(x-)^2),

whose gradient is the maximum-likelihood gradient with model expectations replaced by the
negatives, plus an L2 penalty that keeps energies near zero (IGEBM). Written once for vectors
and images: the backbone, ranges and sampler settings come from the config.

References:
    Hinton, "Training Products of Experts by Minimizing Contrastive Divergence", 2002.
    Du & Mordatch, "Implicit Generation and Modeling with Energy-Based Models", NeurIPS 2019
    (L2 energy regularization, replay buffer, eq. 3 and section 3.3).
    Nijkamp et al., "Learning Non-Convergent Non-Persistent Short-Run MCMC Toward Energy-Based
    Model", NeurIPS 2019 (short-run chains from noise).

Example:
    >>> run = genzoo.train("ebm-toy", ["data.name=spiral"])       # doctest: +SKIP
    >>> x = genzoo.load(run).sample(500, steps=500)               # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from torch import Tensor

from genzoo.config import param
from genzoo.data.base import DatasetInfo
from genzoo.models.base import Batch, LossOutput, Method
from genzoo.nets.base import NetConfig
from genzoo.nets.mlp import MLPConfig
from genzoo.registry import methods
from genzoo.samplers.langevin import energy_score, sgld
from genzoo.samplers.replay import ReplayBuffer, uniform_init


@dataclass
class SGLDConfig:
    """SGLD in the JEM/IGEBM form ``x <- clamp(x - a * clip(dE/dx) + s * eta)``."""

    steps: int = param(60, "Langevin steps per training step", ge=0)
    step_size: float = param(0.01, "a: multiplies -dE/dx", gt=0)
    noise_scale: float = param(0.005, "s: std of the Gaussian noise per step", ge=0)
    clip_grad: float | None = param(None, "clip each gradient entry to [-c, c]", gt=0)
    sample_steps: int = param(300, "steps of the chains of sample() from noise", ge=0)


@dataclass
class EBMConfig:
    """``model:`` section of an EBM preset."""

    net: NetConfig = param(default_factory=lambda: MLPConfig(width=128, depth=3, act="silu"),
                           help="energy backbone with a scalar output")
    alpha: float = param(0.1, "weight of the L2 energy penalty", ge=0)
    init: Literal["noise", "buffer"] = param("buffer", "where Langevin chains start")
    buffer_size: int = param(10000, "replay buffer capacity", ge=1)
    p_new: float = param(0.05, "probability a buffer draw is fresh noise", ge=0, le=1)
    init_range: tuple[float, float] = param((-4.0, 4.0), "uniform-noise range for vector "
                                            "data (images use their data range)")
    sampler: SGLDConfig = field(default_factory=SGLDConfig)


@methods.register("ebm")
class EBM(Method):
    """E(x) (B,) from a backbone; contrastive divergence with SGLD negatives."""

    Config = EBMConfig
    data_range = (-1.0, 1.0)
    name = "ebm"

    def __init__(self, cfg: EBMConfig, info: DatasetInfo) -> None:
        super().__init__(cfg, info)
        self.net = cfg.net.build(info.shape, 1)
        self.box = self.data_range if info.value_range is not None else cfg.init_range
        self.buffer = ReplayBuffer(cfg.buffer_size, info.shape, uniform_init(*self.box),
                                   cfg.p_new)

    def energy(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """E(x) (B,) of inputs (B, *shape) in ``data_range``."""
        return self.net(x).squeeze(-1)

    def _clamp(self) -> tuple[float, float] | None:
        return self.box if self.info.value_range is not None else None

    def langevin(self, x: Tensor, steps: int | None = None) -> Tensor:
        """Run the configured SGLD from ``x`` (B, *shape) with the network's weights frozen
        (only ``x`` gets gradients) and in eval mode."""
        s = self.cfg.sampler
        was_training = self.training
        self.eval()
        x = sgld(energy_score(self.energy), x, s.steps if steps is None else steps, s.step_size,
                 s.noise_scale, clip_grad=s.clip_grad, clamp=self._clamp())
        self.train(was_training)
        return x

    def negatives(self, n: int) -> Tensor:
        """Negatives for one step: chains from fresh noise or from the buffer (pushed back)."""
        if self.cfg.init == "noise":
            x0 = uniform_init(*self.box)(n, self.device, self.info.shape)
            return self.langevin(x0)
        x0, _, _ = self.buffer.to(self.device).sample(n)
        x = self.langevin(x0)
        if self.training:
            self.buffer.push(x)
        return x

    def loss(self, batch: Batch) -> LossOutput:
        x_neg = self.negatives(len(batch.x))
        e_pos, e_neg = self.energy(batch.x), self.energy(x_neg)
        cd = e_pos.mean() - e_neg.mean()
        penalty = (e_pos**2 + e_neg**2).mean()
        loss = cd + self.cfg.alpha * penalty
        return LossOutput(loss, {"cd": cd.item(), "e_pos": e_pos.mean().item(),
                                 "e_neg": e_neg.mean().item(), "penalty": penalty.item()})

    def sample(self, n: int, *, y: Tensor | None = None, steps: int | None = None,
               from_buffer: bool = False) -> Tensor:
        """``n`` samples: fresh chains of ``sampler.sample_steps`` from uniform noise, or
        (``from_buffer``) draws from the replay buffer refined by ``steps`` more steps."""
        if from_buffer:
            x0 = self.buffer.sample(n)[0].to(self.device)
            return self.langevin(x0, steps or 0)
        x0 = uniform_init(*self.box)(n, self.device, self.info.shape)
        return self.langevin(x0, self.cfg.sampler.sample_steps if steps is None else steps)

    def state_for_checkpoint(self) -> dict:
        return {"buffer": self.buffer.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        if "buffer" in state:
            self.buffer.load_state_dict(state["buffer"])
