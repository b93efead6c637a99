"""Joint Energy-based Model (JEM): a classifier read as an energy-based model, and JEM++.

A classifier's logits f(x) (B, K) define ``p(x, y) ∝ exp(f(x)[y])``, i.e. the energies

    E(x, y) = -f(x)[y],        E(x) = -logsumexp_y f(x)[y],

while ``p(y | x) = softmax(f(x))`` stays the classifier. Training maximizes
``log p(y|x) + log p(x)``: each step adds Gaussian noise (sigma 0.03) to the batch, draws
(x', y') from a replay buffer (10000 items, 5% fresh), runs T = 20 SGLD steps on E(x) (step 1,
noise 0.01; the network in eval mode and its weights receiving no gradient), pushes the results
back under their predicted labels, and minimises

    L = CE(f(x), y) + px_weight * (mean E(x) - mean E(x'))
        [+ pxy_weight * (mean E(x, y) - mean E(x'_y, y))]  [+ energy_l2 * mean(E(x)^2 + E(x')^2)],

the optional p(x|y) term with chains whose labels stay fixed. Validation reports the
classifier's numbers (cross-entropy, accuracy) and the mean energy of the data.

JEM++ (``start: class-gaussian`` with ``sampler.inner_steps`` > 0) changes the sampler: fresh
chains (buffer fill and the 5% restarts) start from per-class Gaussians with full covariance
fitted on the training data (:class:`~genzoo.samplers.class_gaussian.ClassGaussian`), and each
of fewer outer SGLD steps is followed by clipped proximal steps through the first layer only
(:func:`~genzoo.samplers.langevin.proximal_sgld`). ``start: gmm`` starts fresh chains from a
K-component Gaussian mixture fitted to all training images instead
(:class:`~genzoo.samplers.mixture.DataMixture`); with ``init: noise`` every chain starts there
and no buffer is used (``jempp-mnist-gmm``).

References:
    Grathwohl et al., "Your Classifier is Secretly an Energy Based Model and You Should Treat
    it Like One", ICLR 2020 (algorithm 1).
    Yang & Ji, "JEM++: Improved Techniques for Training JEM", ICCV 2021.

Example:
    >>> quick = ["data.limit=64", "data.val_limit=64", "train.steps=2", "model.sampler.steps=2",
    ...          "train.num_samples=10"]          # a 2-step run; the preset trains 20 epochs
    >>> jem = genzoo.load(genzoo.train("jem-mnist", quick, quiet=True))
    >>> x = jem.sample(10, y=torch.arange(10), buffer_steps=2)   # one per class, from the buffer
    >>> x.shape
    torch.Size([10, 1, 28, 28])
    >>> jem.predict(x).shape                                     # and still a classifier
    torch.Size([10])
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
from genzoo.models.base import Batch, LossOutput
from genzoo.models.classifier import Classifier, ClassifierConfig
from genzoo.registry import methods
from genzoo.samplers.chain import (
    ChainRuntime,
    LangevinChain,
    ReplayConfig,
    SampleOptions,
    SGLDConfig,
)
from genzoo.samplers.class_gaussian import ClassGaussian
from genzoo.samplers.mixture import DataMixture
from genzoo.samplers.replay import uniform_init


def logit_energy(logits: Tensor, y: Tensor | None = None) -> Tensor:
    """JEM's energies from logits (B, K): ``-logsumexp f`` (B,), or ``-f[y]`` with labels y."""
    if y is None:
        return -torch.logsumexp(logits, dim=1)
    return -logits.gather(1, y.long().view(-1, 1)).squeeze(1)


def _jem_sampler() -> SGLDConfig:
    return SGLDConfig(steps=20, step_size=1.0, noise_scale=0.01, sample_steps=80)


@dataclass
class JEMConfig(ClassifierConfig, ReplayConfig):
    """``model:`` section of a JEM / JEM++ preset (the classifier's and the replay buffer's
    keys, plus these)."""

    px_weight: float = param(1.0, "weight of log p(x): E(x) - E(x') with chains on E(x)", ge=0)
    pxy_weight: float = param(0.0, "weight of log p(x|y): E(x, y) - E(x', y) with chains "
                              "whose labels stay fixed", ge=0)
    energy_l2: float = param(0.0, "weight of an L2 penalty on the energies of data and "
                             "samples (0 in JEM)", ge=0)
    negatives: int | None = param(None, "SGLD chains per training step for each p(x) term "
                                  "(None: the batch size); fewer make a step cheaper, the "
                                  "classifier still sees the whole batch", ge=1)
    init: Literal["noise", "buffer"] = param("buffer", "where training chains start")
    px_chains: Literal["marginal", "labelled"] = param(
        "marginal", "the chains of the p(x) term: on E(x), each result stored under its "
        "predicted class (genzoo), or on E(x', y') with the label y' drawn with each start "
        "(the stored item's; uniform for fresh starts) and stored back under y' (the JEM "
        "project's step); the loss reads E(x') = -logsumexp f(x') either way")
    start: Literal["uniform", "class-gaussian", "gmm"] = param(
        "uniform", "fresh chains: uniform noise (JEM), per-class Gaussians fitted to the "
        "training data (JEM++), or a Gaussian mixture fitted to it (gmm_*; with init: noise, "
        "every chain starts from it, without a buffer)")
    gmm_components: int = param(10, "start: gmm: mixture components K", ge=1)
    gmm_covariance: Literal["full", "diag"] = param("full", "start: gmm: covariance of each "
                                                    "component")
    gaussian_jitter: float = param(1e-4, "added to the diagonal of each class (or mixture) "
                                   "covariance", gt=0)
    sampler: SGLDConfig = field(default_factory=_jem_sampler)
    runtime: ChainRuntime = field(default_factory=ChainRuntime)


@methods.register("jem")
class JEM(Classifier):
    """Classifier logits f(x) (B, K) with ``E(x, y) = -f(x)[y]`` and ``E(x) = -logsumexp f``."""

    Config = JEMConfig
    SampleOptions = SampleOptions
    capabilities = Classifier.capabilities | {"sample", "energy", "langevin"}
    init_from_methods = ("classifier",)  # classifier-to-JEM: the same network's weights
    name = "jem"

    def __init__(self, cfg: JEMConfig, info: DatasetInfo) -> None:
        super().__init__(cfg, info)
        if info.value_range is None:
            raise ConfigError(f"method 'jem' needs data in a known range (images); "
                              f"{info.name!r} has real-valued vectors")
        if cfg.px_weight == 0 and cfg.pxy_weight == 0:
            raise ConfigError("jem needs px_weight > 0 or pxy_weight > 0 (else train a "
                              "classifier)")
        self.num_classes = info.num_classes
        box = self.data_range
        self.gaussian: ClassGaussian | None = None
        self.mixture: DataMixture | None = None
        init = {"class-gaussian": self._gaussian_init, "gmm": self._mixture_init}.get(
            cfg.start, uniform_init(*box))
        self.buffer = cfg.build_buffer(info.shape, init, self.num_classes, box)
        self.chain = LangevinChain(self.net, self.energy_of_output, cfg.sampler, cfg.runtime,
                                   shape=info.shape, box=box, clamp=box, buffer=self.buffer,
                                   num_classes=self.num_classes, start=cfg.init)
        self.gap_guard = cfg.gap_guard()

    def energy_of_output(self, out: Tensor, y: Tensor | None = None) -> Tensor:
        """``-logsumexp f(x)`` (B,) from logits ``out`` (B, K), or ``-f(x)[y]`` with labels."""
        return logit_energy(out, y)

    # ------------------------------------------------------------------ JEM++ initialization
    def setup(self, train: Dataset) -> None:
        """Fit the class Gaussians of ``start: class-gaussian`` (or the mixture of ``start:
        gmm``) on the training images."""
        if self.cfg.start == "class-gaussian":
            x = self.prepare(train.x).x
            self.gaussian = ClassGaussian.fit(x, train.y, self.num_classes,
                                              self.cfg.gaussian_jitter, self.data_range)
        elif self.cfg.start == "gmm":
            self.mixture = DataMixture.fit(self.prepare(train.x).x, self.cfg.gmm_components,
                                           self.cfg.gmm_covariance, self.cfg.gaussian_jitter,
                                           box=self.data_range)

    def _mixture_init(self, n: int, device: torch.device, shape: tuple[int, ...],
                      labels: Tensor | None = None) -> Tensor:
        if self.mixture is None:
            raise ConfigError("start: gmm needs the fitted mixture: train the model (setup "
                              "fits it on the training data) or load a checkpoint that has it")
        return self.mixture.init(n, device, shape, labels)

    def _gaussian_init(self, n: int, device: torch.device, shape: tuple[int, ...],
                       labels: Tensor | None = None) -> Tensor:
        if self.gaussian is None:
            raise ConfigError("start: class-gaussian needs the class Gaussians: train the "
                              "model (setup fits them on the training data) or load a "
                              "checkpoint that has them")
        return self.gaussian.init(n, device, shape, labels)

    # ------------------------------------------------------------------ training
    def loss(self, batch: Batch) -> LossOutput:
        """Cross-entropy plus the contrastive terms of log p(x) (and log p(x|y)) in training;
        the classifier's cross-entropy, accuracy and mean data energy in evaluation."""
        x = self.augment(batch.x) if self.training else batch.x
        logits = self(x)
        ce = F.cross_entropy(logits, batch.y, label_smoothing=self.cfg.label_smoothing)
        e_pos = self.energy_of_output(logits)
        metrics = {"ce": ce.item(), "acc": (logits.argmax(1) == batch.y).float().mean().item(),
                   "e_pos": e_pos.mean().item()}
        if not self.training:
            return LossOutput(ce, metrics)
        loss = ce
        m = min(len(x), self.cfg.negatives or len(x))
        if self.cfg.px_weight > 0:
            labelled = self.cfg.px_chains == "labelled"
            e_neg = self.energy(self.chain.negatives(m, training=True, labelled=labelled))
            loss = loss + self.cfg.px_weight * (e_pos.mean() - e_neg.mean())
            loss = loss + self.cfg.energy_l2 * ((e_pos**2).mean() + (e_neg**2).mean())
            metrics.update(cd=(e_pos.mean() - e_neg.mean()).item(), e_neg=e_neg.mean().item())
        if self.cfg.pxy_weight > 0:
            e_pos_y = self.energy_of_output(logits, batch.y)
            e_neg_y = self.energy(self.chain.negatives(m, batch.y[:m], training=True),
                                  batch.y[:m])
            loss = loss + self.cfg.pxy_weight * (e_pos_y.mean() - e_neg_y.mean())
            loss = loss + self.cfg.energy_l2 * ((e_pos_y**2).mean() + (e_neg_y**2).mean())
            metrics.update(cd_y=(e_pos_y.mean() - e_neg_y.mean()).item(),
                           e_neg_y=e_neg_y.mean().item())
        entropy = self.buffer.label_entropy()  # ~1 healthy; falls as chains collapse to a class
        if entropy is not None:
            metrics["buffer_label_entropy"] = entropy
        return LossOutput(loss, metrics)

    # ------------------------------------------------------------------ outputs
    def energy(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """E(x) (B,) of inputs (B, *shape) in ``data_range``; with labels y (B,), E(x, y)."""
        return self.energy_of_output(self.net(x), y)

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """The most likely class ``argmax_k f(x)[k]`` (B,)."""
        return self.chain.predict(x)

    def draw(self, n: int, y: Tensor | None, options: SampleOptions) -> Tensor:
        """Langevin chains on E(x, y) (see :meth:`LangevinChain.sample`); uniform classes
        when no labels are given."""
        return self.chain.sample(n, self.labels(n, y), options)

    def figures(self, out_dir: Path, train: Dataset | None, test: Dataset) -> dict[str, str]:
        """The classifier's figures and the energy views (buffer, energy histogram)."""
        from genzoo.viz.energy import ebm_figures

        return {**super().figures(out_dir, train, test), **ebm_figures(self, out_dir, train,
                                                                         test)}

    def divergence(self, metrics: dict[str, float]) -> str | None:
        return self.gap_guard(metrics)

    def state_for_checkpoint(self) -> dict:
        state = self.chain.state_dict()
        if self.gaussian is not None:
            state["class_gaussian"] = self.gaussian.state_dict()
        if self.mixture is not None:
            state["mixture"] = self.mixture.state_dict()
        return state

    def load_extra_state(self, state: dict) -> None:
        self.gap_guard.reset()
        self.chain.load_state_dict(state)
        if "class_gaussian" in state:
            g = state["class_gaussian"]
            self.gaussian = ClassGaussian(g["mean"].float(), g["chol"].float(), self.info.shape,
                                          self.data_range)
        if "mixture" in state:
            self.mixture = DataMixture.from_state(state["mixture"], self.info.shape,
                                                  self.data_range)
