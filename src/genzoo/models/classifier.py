"""Classifier p(y|x) trained by cross-entropy with Gaussian input noise.

The plain classifier of the JEM project (part 1), the reference "judge" of every dataset, and
the backbone JEM re-uses as an energy-based model.

References:
    Grathwohl et al., "Your Classifier is Secretly an Energy Based Model and You Should Treat
    it Like One", ICLR 2020 (the baseline classifier, input noise sigma = 0.03).

Example:
    >>> import genzoo
    >>> from genzoo.data import load_dataset
    >>> run = genzoo.train("clf-digits", ["train.epochs=1"], quiet=True)
    >>> clf = genzoo.load(run)
    >>> x_uint8 = load_dataset("digits", "test").x[:5]      # stored items, uint8 (5, 1, 8, 8)
    >>> clf(clf.prepare(x_uint8).x).shape                   # logits
    torch.Size([5, 10])
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from genzoo.config import param
from genzoo.data.augment import random_crop, random_flip
from genzoo.data.base import Dataset, DatasetInfo
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
    clamp_noisy: bool = param(False, "clamp the noisy training inputs to pixel_range. For JEM, "
                              "whose chains are clamped there: unclamped noise leaves data "
                              "pixels outside the range that no sample can have, a cue that "
                              "tells data from samples without looking at the digit")
    label_smoothing: float = param(0.0, "cross-entropy label smoothing", ge=0, lt=1)
    augment: Literal["none", "crop", "crop-flip"] = param(
        "none", "training augmentation: random translations, and left-right flips")
    crop_padding: int = param(2, "largest random translation in pixels", ge=0)
    pixel_range: tuple[float, float] = param(
        (-1.0, 1.0), "the range images are trained in: [-1, 1] (genzoo's presets) or [0, 1] "
        "(the JEM project's); chains start uniform in it and are clamped to it")

    def validate(self) -> None:
        low, high = self.pixel_range
        if not low < high:
            raise ConfigError(f"model.pixel_range: expected [low, high] with low < high, got "
                              f"{list(self.pixel_range)}")


@methods.register("classifier")
class Classifier(Method):
    """Logits f(x) (B, K) from a backbone; loss CE(f(aug(x) + sigma * eps), y)."""

    Config = ClassifierConfig
    capabilities = frozenset({"logits", "features", "figures"})
    data_range = (-1.0, 1.0)  # by default; model.pixel_range sets it per run
    name = "classifier"

    def __init__(self, cfg: ClassifierConfig, info: DatasetInfo) -> None:
        super().__init__(cfg, info)
        if not info.num_classes:
            raise ConfigError(f"method 'classifier' needs labels; dataset {info.name!r} has none")
        if cfg.augment != "none" and info.kind != "image":
            raise ConfigError(f"model.augment={cfg.augment} needs images; {info.name!r} has "
                              f"vectors")
        if info.value_range is not None:
            self.data_range = (float(cfg.pixel_range[0]), float(cfg.pixel_range[1]))
        self.net = cfg.net.build(info.shape, info.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (B, K) of inputs x (B, *shape) in ``data_range``."""
        return self.net(x)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate-layer features (B, F) of inputs in ``data_range``."""
        return self.net.features(x)

    def augment(self, x: Tensor) -> Tensor:
        """The training input: augmentation, then Gaussian noise of std ``noise_sigma``
        (clamped to ``data_range`` with ``clamp_noisy``)."""
        if self.cfg.augment != "none":
            x = random_crop(x, self.cfg.crop_padding, fill=self.data_range[0])
        if self.cfg.augment == "crop-flip":
            x = random_flip(x)
        if self.cfg.noise_sigma > 0:
            x = x + self.cfg.noise_sigma * torch.randn_like(x)
            if self.cfg.clamp_noisy:
                x = x.clamp(*self.data_range)
        return x

    def loss(self, batch: Batch) -> LossOutput:
        x = self.augment(batch.x) if self.training else batch.x
        logits = self(x)
        loss = F.cross_entropy(logits, batch.y, label_smoothing=self.cfg.label_smoothing)
        acc = (logits.argmax(1) == batch.y).float().mean().item()
        return LossOutput(loss, {"acc": acc})

    def figures(self, out_dir: Path, train: Dataset | None, test: Dataset) -> dict[str, str]:
        """Per-class training examples, misclassified test images, confusion matrix."""
        from genzoo.viz.classifier import classifier_figures

        return classifier_figures(self, out_dir, train, test)
