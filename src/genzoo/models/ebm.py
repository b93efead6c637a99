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
With ``ce_weight`` > 0 the loss adds ``ce_weight * CE(softmax(-E(x+, .)), y)``, the log p(y|x)
part of the joint likelihood log p(x, y) = log p(x) + log p(y|x) (JEM's decomposition, exact
when the classes' partition functions are equal). On MNIST it is what makes the class-
conditional chains class-consistent within a CPU budget (judge accuracy 0.60 without it vs
0.87 with 0.3 after 2000 steps).

Buffer items carry an *age*, the number of chains that produced them; ``sampler.min_age``
makes ``sample()`` draw only items old enough, leaving out the ~5% of recently re-initialized
ones that still look like noise.

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
    >>> run = genzoo.train("ebm-toy", ["data.name=spiral", "train.steps=5",
    ...                                "train.num_samples=16"], quiet=True)  # a 5-step demo
    >>> print(run)
    runs/ebm-toy
    >>> ebm = genzoo.load(run)
    >>> ebm.sample(500, sample_steps=50).shape      # 50 SGLD steps from uniform noise
    torch.Size([500, 2])
    >>> ebm.sample(8, sample_init="buffer", buffer_steps=10).shape   # replay-buffer starts
    torch.Size([8, 2])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from genzoo.config import param
from genzoo.data.base import Dataset, DatasetInfo
from genzoo.errors import ConfigError
from genzoo.models.base import Batch, LossOutput, Method
from genzoo.nets.base import NetConfig
from genzoo.nets.mlp import MLPConfig
from genzoo.registry import methods
from genzoo.samplers.chain import (
    ChainRuntime,
    LangevinChain,
    ReplayConfig,
    SampleOptions,
    SGLDConfig,
)
from genzoo.samplers.replay import uniform_init


@dataclass
class EBMConfig(ReplayConfig):
    """``model:`` section of an EBM preset (the replay buffer's keys, plus these)."""

    net: NetConfig = param(default_factory=lambda: MLPConfig(width=128, depth=3, act="silu"),
                           help="energy backbone with a scalar output")
    alpha: float = param(0.1, "weight of the L2 energy penalty", ge=0)
    init: Literal["noise", "buffer"] = param("buffer", "where Langevin chains start")
    init_range: tuple[float, float] = param((-4.0, 4.0), "uniform-noise range for vector "
                                            "data (images use their data range)")
    conditional: bool = param(False, "E(x, y) = net(x)[y], one output per class; negatives "
                              "keep the batch's labels")
    ce_weight: float = param(0.0, "conditional EBMs: weight of the cross-entropy of "
                             "p(y|x) = softmax(-E(x, .)) on data (the log p(y|x) part of the "
                             "joint likelihood)", ge=0)
    sampler: SGLDConfig = field(default_factory=SGLDConfig)
    runtime: ChainRuntime = field(default_factory=ChainRuntime)


@methods.register("ebm")
class EBM(Method):
    """E(x) (B,) from a backbone; contrastive divergence with SGLD negatives."""

    Config = EBMConfig
    SampleOptions = SampleOptions
    capabilities = frozenset({"sample", "energy", "langevin", "figures"})
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
        images = info.value_range is not None
        box = self.data_range if images else cfg.init_range
        self.buffer = cfg.build_buffer(info.shape, uniform_init(*box), self.num_classes, box)
        self.chain = LangevinChain(self.net, self.energy_of_output, cfg.sampler, cfg.runtime,
                                   shape=info.shape, box=box, clamp=box if images else None,
                                   buffer=self.buffer, num_classes=self.num_classes,
                                   start=cfg.init)
        self.gap_guard = cfg.gap_guard()

    def energy_of_output(self, out: Tensor, y: Tensor | None = None) -> Tensor:
        """E(x) (B,) from the backbone's output; for a conditional EBM, E(x, y) with labels
        y (B,), or the marginal ``-logsumexp_y -E(x, y)`` when y is None."""
        if self.num_classes is None:
            return out.squeeze(-1)
        if y is None:
            return -torch.logsumexp(-out, dim=1)
        return out.gather(1, y.long().view(-1, 1)).squeeze(1)

    def loss(self, batch: Batch) -> LossOutput:
        """``E(x+) - E(x-) + alpha (E(x+)^2 + E(x-)^2)`` (means over the batch; with the
        batch's labels for a conditional EBM, plus ``ce_weight * CE(-E(x+, .), y)``); logs the
        energy gap ``cd``, both mean energies, the penalty, and for conditional EBMs the
        cross-entropy and accuracy of p(y|x)."""
        y = batch.y if self.num_classes is not None else None
        x_neg = self.chain.negatives(len(batch.x), y, training=self.training)
        metrics: dict[str, float] = {}
        if y is None:
            e_pos = self.energy(batch.x)
        else:
            all_pos = self.net(batch.x)  # E(x+, k) for every class k
            e_pos = all_pos.gather(1, y.long().view(-1, 1)).squeeze(1)
            ce = F.cross_entropy(-all_pos, y)
            metrics = {"ce": ce.item(), "acc": (all_pos.argmin(1) == y).float().mean().item()}
        e_neg = self.energy(x_neg, y)
        cd = e_pos.mean() - e_neg.mean()
        penalty = (e_pos**2 + e_neg**2).mean()
        loss = cd + self.cfg.alpha * penalty
        if y is not None and self.cfg.ce_weight > 0:
            loss = loss + self.cfg.ce_weight * ce
        return LossOutput(loss, {"cd": cd.item(), "e_pos": e_pos.mean().item(),
                                 "e_neg": e_neg.mean().item(), "penalty": penalty.item(),
                                 **metrics})

    def energy(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """E(x) (B,) of inputs (B, *shape) in ``data_range``; with labels y (B,), E(x, y)."""
        return self.energy_of_output(self.net(x), y)

    def draw(self, n: int, y: Tensor | None, options: SampleOptions) -> Tensor:
        """Langevin chains (see :meth:`LangevinChain.sample`), uniform classes when a
        conditional EBM gets no labels."""
        return self.chain.sample(n, self.labels(n, y), options)

    def figures(self, out_dir: Path, train: Dataset | None, test: Dataset) -> dict[str, str]:
        """Images: the replay buffer and a histogram of energies of test images, buffer
        samples and noise (see :func:`genzoo.viz.energy.ebm_figures`)."""
        from genzoo.viz.energy import ebm_figures

        return ebm_figures(self, out_dir, train, test)

    def divergence(self, metrics: dict[str, float]) -> str | None:
        return self.gap_guard(metrics)

    def state_for_checkpoint(self) -> dict:
        return self.chain.state_dict()

    def load_extra_state(self, state: dict) -> None:
        self.gap_guard.reset()
        self.chain.load_state_dict(state)
