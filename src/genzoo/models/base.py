"""The method contract every family implements (see DESIGN.md, "Core contracts").

A method wraps its networks and owns the math: ``loss(batch)``, ``sample(n)`` and, where they
exist, ``log_prob(x)`` / ``energy(x, y)``. The training loop calls ``train_step`` (one optimizer
step by default; GANs override it to step several optimizers) and never needs to know the family.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from genzoo.config import from_dict, param
from genzoo.data.base import Dataset, DatasetInfo
from genzoo.data.transforms import to_float
from genzoo.errors import UserError

if TYPE_CHECKING:
    from genzoo.training.optim import Optimizers


def class_labels(y: Tensor, n: int, num_classes: int, device: torch.device) -> Tensor:
    """Labels ``y`` as (n,) int64 class indices on ``device``; a UserError unless there are
    exactly ``n`` of them, each in 0..num_classes - 1."""
    y = torch.as_tensor(y, device=device).long().flatten()
    if len(y) != n or (y < 0).any() or (y >= num_classes).any():
        raise UserError(f"need {n} labels in 0..{num_classes - 1}")
    return y


#: What a family can do beyond ``loss``, declared in ``Method.capabilities`` and checked against
#: what it implements by the contract test. Analyses name the capabilities they need.
CAPABILITIES: dict[str, str] = {
    "sample": "draw(n, y, options) generates; sample(n, y=None, **options) validates and calls it",
    "log_prob": "log_prob(x) (B,): the exact log-likelihood (flows, CNFs)",
    "importance_log_prob": "log_prob(x, k=K) (B,): an importance-sampled estimate with K draws",
    "energy": "energy(x, y=None) (B,): an energy, E(x, y) with labels",
    "logits": "forward(x) -> class logits f(x) (B, K)",
    "features": "features(x) (B, D): a representation of inputs",
    "codes": "encode(x) (B, ...): discrete code indices (VQ-VAE)",
    "generator": "latents(n) and generate(z, y=None): a latent-variable generator (GANs)",
    "langevin": "chain: a LangevinChain on the method's energy (EBMs, JEM)",
    "figures": "figures(out_dir, train, test): the family's own figures",
    "attach": "attach(train): evaluation needs the training split itself (kNN monitors)",
}


@dataclass
class NoOptions:
    """``sample()`` of a family that takes no options."""


@dataclass
class TemperatureOptions:
    """``sample()`` options of latent-variable samplers: ``temperature`` T.

    Latents are drawn from N(0, T^2 I): T < 1 trades diversity for typical-looking samples
    (Kingma & Dhariwal, "Glow", NeurIPS 2018, section 5; the truncation of Brock et al.,
    "Large Scale GAN Training...", ICLR 2019, section 3.1, is the hard-threshold variant).
    """

    temperature: float | None = param(None, "std T of the latent Gaussian (None: "
                                      "model.temperature)", ge=0)


@dataclass
class Batch:
    """A training batch: ``x`` (B, ...) in the method's ``data_range``, ``y`` (B,) or None."""

    x: Tensor
    y: Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        return Batch(self.x.to(device, non_blocking=True),
                     None if self.y is None else self.y.to(device, non_blocking=True))


@dataclass
class LossOutput:
    """What ``Method.loss`` returns: the scalar to minimise and numbers to log."""

    loss: Tensor
    metrics: dict[str, float] = field(default_factory=dict)


class Method(nn.Module):
    """Base class of every family.

    Subclasses set ``Config`` (their config dataclass) and ``data_range`` (the range the method
    trains in; batches are mapped there from the dataset's stored range; for datasets without
    a stored range, e.g. 2-D toys, it becomes (-inf, inf) on the instance), build their
    networks in ``__init__(cfg, info)``, and implement ``loss``.
    """

    Config: ClassVar[type]
    data_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    name: ClassVar[str] = ""
    #: the names of :data:`CAPABILITIES` this family implements
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: the dataclass of ``sample()``'s options (validated by the config system; a field left
    #: None means the run's own setting); None for families that do not sample
    SampleOptions: ClassVar[type | None] = None
    #: classes the method is conditioned on (None: unconditional)
    num_classes: int | None = None
    #: other families whose checkpoints ``train.init_from`` may start this one from (their
    #: weights are this family's, e.g. a classifier's network for JEM)
    init_from_methods: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: Any, info: DatasetInfo) -> None:
        super().__init__()
        self.cfg = cfg
        self.info = info
        if info.value_range is None:  # real-valued vectors are never rescaled or clamped
            self.data_range = (-math.inf, math.inf)

    # -------------------------------------------------------------- what families implement
    def loss(self, batch: Batch) -> LossOutput:
        raise NotImplementedError

    def sample(self, n: int, *, y: Tensor | None = None, **options: Any) -> Tensor:
        """``n`` samples (n, *info.shape) in ``data_range``.

        Args:
            n: number of samples (>= 1).
            y: labels (n,) of a conditional method (uniform classes when None); an
                unconditional method takes none (see :meth:`labels`).
            options: the family's :attr:`SampleOptions` keys; an unknown key or a bad value is
                a UserError naming the valid keys or what was expected.
        """
        opts = self.sample_options(**options)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise UserError(f"expected a positive number of samples, got {n!r}", param="n")
        if y is not None:
            self.labels(n, y)  # bad labels fail before anything is drawn
        return self.draw(n, y, opts)

    def sample_options(self, **options: Any) -> Any:
        """``options`` as a :attr:`SampleOptions` instance, validated like a config section."""
        if self.SampleOptions is None:
            raise UserError(f"method {self.name!r} does not generate samples")
        return from_dict(self.SampleOptions, options, "sampler")

    def draw(self, n: int, y: Tensor | None, options: Any) -> Tensor:
        """The family's sampler, called by :meth:`sample` with validated ``options``; labels
        ``y`` are the caller's (None or valid), turned into classes by :meth:`labels`."""
        raise NotImplementedError

    @property
    def conditional(self) -> bool:
        """Whether samples (and the loss) are conditioned on class labels."""
        return self.num_classes is not None

    def labels(self, n: int, y: Tensor | None = None, *, required: bool = False
               ) -> Tensor | None:
        """The one label rule of every family: ``y`` as (n,) int64 classes on the device.

        A conditional method draws uniform classes when ``y`` is None (a UserError instead
        with ``required``, e.g. a training batch without labels); an unconditional one returns
        None and refuses labels (UserError); labels must be ``n`` classes in range.
        """
        if self.num_classes is None:
            if y is not None:
                raise UserError(f"method {self.name!r} is unconditional: it takes no labels")
            return None
        if y is None:
            if required:
                raise UserError(f"the conditional {self.name!r} needs labels y (it trains on "
                                "labelled data)")
            return torch.randint(self.num_classes, (n,), device=self.device)
        return class_labels(y, n, self.num_classes, self.device)

    # -------------------------------------------------------------- training hooks
    def setup(self, train: Dataset) -> None:
        """Called once with the training split before training from scratch (not on resume:
        whatever it computes must travel in :meth:`state_for_checkpoint`), e.g. statistics of
        the data that initialize samplers (JEM++'s class Gaussians)."""

    def attach(self, train: Dataset) -> None:
        """Called with the training split at the start of every ``fit`` (from scratch and on
        resume), for methods whose evaluation needs the training data itself, e.g. SimSiam's
        kNN monitor, which classifies validation images by their neighbours in the training
        set. Keep a reference, not a copy: nothing here is checkpointed."""

    def train_step(self, batch: Batch, opt: Optimizers) -> dict[str, float]:
        """One training step; returns the numbers to log (must include ``loss``)."""
        out = self.loss(batch)
        opt.step("main", out.loss)
        return {"loss": out.loss.item(), **out.metrics}

    def param_groups(self) -> dict[str, list]:
        """Parameters of each optimizer, by name; one optimizer ``main`` by default.

        Each value is a list of parameters or of torch param-group dicts; a group with
        ``fixed_lr: True`` keeps its learning rate through the schedule
        (:meth:`genzoo.training.optim.Optimizers.set_lr_factor`)."""
        return {"main": [p for p in self.parameters() if p.requires_grad]}

    @torch.no_grad()
    def evaluate(self, batches: Iterable[Batch]) -> dict[str, float]:
        """Validation numbers: the loss metrics averaged over the batches (weighted by size)."""
        totals: dict[str, float] = {}
        count = 0
        for batch in batches:
            out = self.loss(batch)
            b = len(batch.x)
            for key, value in {"loss": out.loss.item(), **out.metrics}.items():
                totals[key] = totals.get(key, 0.0) + value * b
            count += b
        return {k: v / max(count, 1) for k, v in totals.items()}

    def figures(self, out_dir: Path, train: Dataset | None, test: Dataset) -> dict[str, str]:
        """Write the family's own figures into ``out_dir``; returns ``{file name: caption}``.

        Called by ``genzoo eval`` with the training split and the evaluated split.
        """
        return {}

    def divergence(self, metrics: dict[str, float]) -> str | None:
        """Called by the training loop after each step with its metrics: why the method's own
        state counts as diverged (the guard then rolls back, see ``train.guard``), or None.
        The loop itself already watches for non-finite and exploding losses."""
        return None

    def state_for_checkpoint(self) -> dict:
        """Extra state to checkpoint beside the weights (e.g. replay buffers)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        """Restore what ``state_for_checkpoint`` returned."""

    # -------------------------------------------------------------- data
    def prepare(self, x: Tensor, y: Tensor | None = None) -> Batch:
        """Stored items (uint8 images / float vectors) as a batch in ``data_range``."""
        return Batch(to_float(x, self.info.value_range, self.data_range), y)

    @property
    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        return torch.device("cpu")
