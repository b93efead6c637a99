"""The method contract every family implements (see DESIGN.md, "Core contracts").

A method wraps its networks and owns the math: ``loss(batch)``, ``sample(n)`` and, where they
exist, ``log_prob(x)`` / ``energy(x, y)``. The training loop calls ``train_step`` (one optimizer
step by default; GANs override it to step several optimizers) and never needs to know the family.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from genzoo.data.base import Dataset, DatasetInfo
from genzoo.data.transforms import to_float
from genzoo.errors import UserError

if TYPE_CHECKING:
    from genzoo.training.optim import Optimizers


def sampling_temperature(overrides: dict[str, Any], default: float, method: str) -> float:
    """The latent temperature T >= 0 of a ``sample`` call: ``overrides["temperature"]`` or
    ``default``; a UserError for any other override key or a value that is not a number >= 0.

    Latents are drawn from N(0, T^2 I): T < 1 trades diversity for typical-looking samples
    (Kingma & Dhariwal, "Glow", NeurIPS 2018, section 5; the truncation of Brock et al.,
    "Large Scale GAN Training...", ICLR 2019, section 3.1, is the hard-threshold variant).
    """
    unknown = [key for key in overrides if key != "temperature"]
    if unknown:
        raise UserError(f"unknown sampler setting {unknown[0]!r} for method {method!r}; "
                        "valid: temperature")
    value = overrides.get("temperature", default)
    try:
        temperature = float(value)
    except (TypeError, ValueError):
        temperature = -1.0
    if not temperature >= 0:
        raise UserError(f"sampler.temperature: expected a number >= 0, got {value!r}")
    return temperature


def class_labels(y: Tensor, n: int, num_classes: int, device: torch.device) -> Tensor:
    """Labels ``y`` as (n,) int64 class indices on ``device``; a UserError unless there are
    exactly ``n`` of them, each in 0..num_classes - 1."""
    y = torch.as_tensor(y, device=device).long().flatten()
    if len(y) != n or (y < 0).any() or (y >= num_classes).any():
        raise UserError(f"need {n} labels in 0..{num_classes - 1}")
    return y


def importance_sampled(method: object) -> bool:
    """Whether ``method.log_prob`` is an importance-sampled estimate taking ``k`` draws (VAEs)."""
    log_prob = getattr(method, "log_prob", None)
    return log_prob is not None and "k" in inspect.signature(log_prob).parameters


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

    def __init__(self, cfg: Any, info: DatasetInfo) -> None:
        super().__init__()
        self.cfg = cfg
        self.info = info
        if info.value_range is None:  # real-valued vectors are never rescaled or clamped
            self.data_range = (-math.inf, math.inf)

    # -------------------------------------------------------------- what families implement
    def loss(self, batch: Batch) -> LossOutput:
        raise NotImplementedError

    def sample(self, n: int, *, y: Tensor | None = None, **overrides: Any) -> Tensor:
        """``n`` samples (n, *info.shape) in ``data_range``; ``y`` for conditional methods."""
        raise UserError(f"method {self.name!r} does not generate samples")

    @property
    def can_sample(self) -> bool:
        return type(self).sample is not Method.sample

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
