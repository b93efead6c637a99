"""Energy-based model p(x) ∝ exp(-E(x)) trained by contrastive divergence.

The energy is a scalar network output with no activation. Each step draws negatives by SGLD
started from uniform noise (``init: noise``) or from a replay buffer of earlier negatives with 5%
fresh noise (``init: buffer``, persistent CD), and minimises

    L = mean E(x+) - mean E(x-) + alpha * mean(E(x+)^2 + E(x-)^2),

whose gradient is the maximum-likelihood gradient with model expectations replaced by the
negatives, plus an L2 penalty that keeps energies near zero (IGEBM). Written once for vectors
and images: the backbone, ranges and sampler settings come from the config.

Conditional EBMs (``conditional: true``) use a label-indexed output: the backbone has one output
per class and ``E(x, y) = net(x)[y]``. Their negatives for a batch are chains with the batch's
labels held fixed, started from buffer items of the same class (or noise), so the loss is the
contrastive divergence of p(x | y); ``E(x) = -log sum_y exp(-E(x, y))`` is the marginal energy.

The chains use :func:`genzoo.samplers.langevin.sgld` (``x <- clamp(x - a * clip(dE/dx) + s_t *
eta)``) with an optional decreasing noise schedule ``s_t`` (constant, linear or geometric from
``noise_scale`` to ``noise_end``), the network in eval mode and only x receiving gradients.

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
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from genzoo.config import param
from genzoo.data.base import Dataset, DatasetInfo
from genzoo.errors import ConfigError, UserError
from genzoo.models.base import Batch, LossOutput, Method
from genzoo.nets.base import NetConfig
from genzoo.nets.mlp import MLPConfig
from genzoo.registry import methods
from genzoo.samplers.langevin import Schedule, energy_score, sgld, step_sizes
from genzoo.samplers.replay import ReplayBuffer, uniform_init


@dataclass
class SGLDConfig:
    """SGLD in the JEM/IGEBM form ``x <- clamp(x - a * clip(dE/dx) + s * eta)``."""

    steps: int = param(60, "Langevin steps per training step", ge=0)
    step_size: float = param(0.01, "a: multiplies -dE/dx", gt=0)
    noise_scale: float = param(0.005, "s: std of the Gaussian noise per step (the first "
                               "step's under a schedule)", ge=0)
    noise_schedule: Schedule = param("constant", "noise over a chain: constant, or decreasing "
                                     "linearly or geometrically to noise_end")
    noise_end: float = param(0.001, "the last step's noise std under a schedule", gt=0)
    clip_grad: float | None = param(None, "clip each gradient entry to [-c, c]", gt=0)
    sample_steps: int = param(300, "steps of the chains of sample() from noise", ge=0)
    sample_init: Literal["noise", "buffer"] = param(
        "noise", "where sample() starts by default: fresh chains of sample_steps from noise, "
        "or replay-buffer items refined by buffer_steps")
    buffer_steps: int = param(0, "extra steps of sample() on buffer draws", ge=0)

    def noise(self, steps: int) -> list[float]:
        """``s_t`` for a chain of ``steps`` steps."""
        return step_sizes(self.noise_schedule, self.noise_scale, self.noise_end, steps)


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
    buffer_uint8: bool = param(False, "store the buffer as uint8 (images; 1/4 of the memory)")
    conditional: bool = param(False, "E(x, y) = net(x)[y], one output per class; negatives "
                              "keep the batch's labels")
    sampler: SGLDConfig = field(default_factory=SGLDConfig)


@methods.register("ebm")
class EBM(Method):
    """E(x) (B,) from a backbone; contrastive divergence with SGLD negatives."""

    Config = EBMConfig
    data_range = (-1.0, 1.0)
    name = "ebm"

    def __init__(self, cfg: EBMConfig, info: DatasetInfo) -> None:
        super().__init__(cfg, info)
        if cfg.conditional and not info.num_classes:
            raise ConfigError(f"a conditional EBM needs labels; dataset {info.name!r} has none")
        if cfg.buffer_uint8 and info.value_range is None:
            raise ConfigError("model.buffer_uint8 needs image data with a known value range")
        self.num_classes = info.num_classes if cfg.conditional else None
        self.net = cfg.net.build(info.shape, self.num_classes or 1)
        self.box = self.data_range if info.value_range is not None else cfg.init_range
        self.buffer = ReplayBuffer(cfg.buffer_size, info.shape, uniform_init(*self.box),
                                   cfg.p_new, num_classes=self.num_classes,
                                   uint8_range=self.box if cfg.buffer_uint8 else None)

    @property
    def conditional(self) -> bool:
        """Whether the energy takes labels (E(x, y))."""
        return self.num_classes is not None

    def energy(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """E(x) (B,) of inputs (B, *shape) in ``data_range``; for a conditional EBM, E(x, y)
        with labels y (B,), or the marginal ``-logsumexp_y -E(x, y)`` when y is None."""
        out = self.net(x)
        if self.num_classes is None:
            return out.squeeze(-1)
        if y is None:
            return -torch.logsumexp(-out, dim=1)
        return out.gather(1, y.long().view(-1, 1)).squeeze(1)

    def _clamp(self) -> tuple[float, float] | None:
        return self.box if self.info.value_range is not None else None

    def _check_labels(self, n: int, y: Tensor | None) -> Tensor | None:
        if y is None or self.num_classes is None:
            if y is not None:
                raise UserError("this EBM is unconditional: it takes no labels")
            return None
        y = torch.as_tensor(y, device=self.device).long().flatten()
        if len(y) != n or (y < 0).any() or (y >= self.num_classes).any():
            raise UserError(f"need {n} labels in 0..{self.num_classes - 1}")
        return y

    def langevin(self, x: Tensor, steps: int | None = None, y: Tensor | None = None) -> Tensor:
        """Run the configured SGLD from ``x`` (B, *shape), labels ``y`` held fixed, with the
        network's weights frozen (only ``x`` gets gradients) and in eval mode."""
        s = self.cfg.sampler
        steps = s.steps if steps is None else steps
        was_training = self.training
        self.eval()
        x = sgld(energy_score(lambda v: self.energy(v, y)), x, steps, s.step_size,
                 s.noise(steps), clip_grad=s.clip_grad, clamp=self._clamp())
        self.train(was_training)
        return x

    def _fresh(self, n: int) -> Tensor:
        return uniform_init(*self.box)(n, self.device, self.info.shape)

    def negatives(self, n: int, y: Tensor | None = None) -> Tensor:
        """Negatives for one step (labels ``y`` for a conditional EBM): chains from fresh
        noise, or from the buffer (same-class items) and pushed back."""
        if self.cfg.init == "noise":
            return self.langevin(self._fresh(n), y=y)
        x0, _, _ = self.buffer.to(self.device).sample(n, y)
        x = self.langevin(x0, y=y)
        if self.training:
            self.buffer.push(x, y)
        return x

    def loss(self, batch: Batch) -> LossOutput:
        y = batch.y if self.num_classes is not None else None
        x_neg = self.negatives(len(batch.x), y)
        e_pos, e_neg = self.energy(batch.x, y), self.energy(x_neg, y)
        cd = e_pos.mean() - e_neg.mean()
        penalty = (e_pos**2 + e_neg**2).mean()
        loss = cd + self.cfg.alpha * penalty
        return LossOutput(loss, {"cd": cd.item(), "e_pos": e_pos.mean().item(),
                                 "e_neg": e_neg.mean().item(), "penalty": penalty.item()})

    def sample(self, n: int, *, y: Tensor | None = None, steps: int | None = None,
               from_buffer: bool | None = None) -> Tensor:
        """``n`` samples (n, *shape): fresh chains of ``sampler.sample_steps`` (or ``steps``)
        from uniform noise, or (``from_buffer``) stored replay-buffer items (no fresh noise;
        an empty buffer or class gives noise) refined by ``sampler.buffer_steps`` (or
        ``steps``) more steps. The default start is
        ``sampler.sample_init``. Labels ``y`` (n,) fix the class of a conditional EBM's
        chains (buffer draws come from that class); without them classes are uniform."""
        s = self.cfg.sampler
        y = self._check_labels(n, y)
        if y is None and self.num_classes is not None:
            y = torch.randint(self.num_classes, (n,), device=self.device)
        if from_buffer if from_buffer is not None else s.sample_init == "buffer":
            x0 = self.buffer.to(self.device).sample(n, y, p_new=0.0)[0]
            return self.langevin(x0, s.buffer_steps if steps is None else steps, y)
        return self.langevin(self._fresh(n), s.sample_steps if steps is None else steps, y)

    def figures(self, out_dir: Path, train: Dataset | None, test: Dataset) -> dict[str, str]:
        """Image EBMs: the replay buffer and a histogram of energies of test images, buffer
        samples and noise (see :func:`genzoo.viz.energy.ebm_figures`)."""
        from genzoo.viz.energy import ebm_figures

        return ebm_figures(self, out_dir, train, test)

    def state_for_checkpoint(self) -> dict:
        return {"buffer": self.buffer.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        if "buffer" in state:
            self.buffer.load_state_dict(state["buffer"])
