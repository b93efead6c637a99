"""Classifier p(y|x) trained by cross-entropy with Gaussian input noise.

The plain classifier of the JEM project (part 1) and the reference "judge" of every dataset.

References:
    Grathwohl et al., "Your Classifier is Secretly an Energy Based Model and You Should Treat
    it Like One", ICLR 2020 (the classifier baseline and its input noise sigma = 0.03).

Example:
    >>> from genzoo.config import resolve_config
    >>> from genzoo.train import fit
    >>> cfg = resolve_config("clf-digits", ["train.epochs=1"])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from genzoo.config import param
from genzoo.data.base import DatasetInfo
from genzoo.errors import ConfigError
from genzoo.models.base import Batch, LossOutput, Method
from genzoo.nets.base import NetConfig
from genzoo.nets.conv import SmallCNNConfig
from genzoo.registry import methods


@dataclass
class ClassifierConfig:
    """``model:`` section of a classifier preset."""

    net: NetConfig = param(default_factory=SmallCNNConfig, help="backbone (genzoo list nets)")
    noise_sigma: float = param(0.03, "std of the Gaussian noise added to training inputs", ge=0)
    label_smoothing: float = param(0.0, "cross-entropy label smoothing", ge=0, lt=1)


@methods.register("classifier")
class Classifier(Method):
    """Logits f(x) (B, K) from a backbone; loss CE(f(x + sigma * eps), y)."""

    Config = ClassifierConfig
    data_range = (-1.0, 1.0)
    name = "classifier"

    def __init__(self, cfg: ClassifierConfig, info: DatasetInfo) -> None:
        super().__init__(cfg, info)
        if not info.num_classes:
            raise ConfigError(f"method 'classifier' needs labels; dataset {info.name!r} has none")
        self.net = cfg.net.build(info.shape, info.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (B, K) of inputs x (B, *shape) in ``data_range``."""
        return self.net(x)

    def loss(self, batch: Batch) -> LossOutput:
        x = batch.x
        if self.training and self.cfg.noise_sigma > 0:
            x = x + self.cfg.noise_sigma * torch.randn_like(x)
        logits = self(x)
        loss = F.cross_entropy(logits, batch.y, label_smoothing=self.cfg.label_smoothing)
        acc = (logits.argmax(1) == batch.y).float().mean().item()
        return LossOutput(loss, {"acc": acc})
