"""The dataset contract: in-memory tensors plus a :class:`DatasetInfo`.

Every loader is registered in ``registry.datasets`` as a :class:`DatasetSpec` and called through
:func:`genzoo.data.load_dataset`. Images stay ``uint8`` (N, C, H, W) until a batch is made;
vectors (2-D toys, user arrays) are ``float32`` (N, D). Labels are ``int64`` (N,) or ``None``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from genzoo.errors import ConfigError


@dataclass(frozen=True)
class DatasetInfo:
    """What a method needs to know about a dataset.

    Attributes:
        name: registry name, e.g. ``"mnist"``.
        shape: shape of one item: ``(C, H, W)`` for images, ``(D,)`` for vectors.
        num_classes: number of classes, ``None`` when unlabelled.
        value_range: range of the stored values, e.g. ``(0, 255)`` for uint8 images, ``(0, 1)``
            for binary images; ``None`` for real-valued vectors that are never rescaled.
        kind: ``"image"`` or ``"vector"``.
        class_names: optional human-readable class names.
        source: where the items came from (file paths, or the generator and its seed).
    """

    name: str
    shape: tuple[int, ...]
    num_classes: int | None
    value_range: tuple[float, float] | None
    kind: Literal["image", "vector"]
    class_names: tuple[str, ...] | None = None
    source: str = ""


@dataclass
class Dataset:
    """A split of a dataset held in memory: ``x`` (N, ...), ``y`` (N,) or ``None``."""

    x: Tensor
    y: Tensor | None
    info: DatasetInfo

    def __post_init__(self) -> None:
        if self.y is not None and len(self.y) != len(self.x):
            raise ValueError(f"{len(self.x)} items but {len(self.y)} labels")

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, index: Tensor | slice) -> Dataset:
        """The items at ``index`` (a slice or an index tensor), same info."""
        return Dataset(self.x[index], None if self.y is None else self.y[index], self.info)


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: its loader, splits and the files it needs.

    ``loader(split, root, verify, download, **options) -> Dataset``; the loader's keyword-only
    parameters after those four are its user options (e.g. ``n``, ``seed``, ``path``).
    """

    name: str
    loader: Callable[..., Dataset]
    splits: tuple[str, ...]
    description: str
    files: tuple[str, ...] = field(default=())
    #: what its items are, known without the files (``genzoo info`` builds a preset's network
    #: from it when the files are not there yet); None: read from the data
    info: DatasetInfo | None = None

    @property
    def options(self) -> dict[str, inspect.Parameter]:
        params = inspect.signature(self.loader).parameters
        fixed = {"split", "root", "verify", "download"}
        return {k: p for k, p in params.items() if k not in fixed}

    def check(self, split: str, options: dict) -> None:
        """Raise ConfigError for an unknown split or option."""
        if split not in self.splits:
            raise ConfigError(
                f"dataset {self.name!r} has no split {split!r}; valid: {', '.join(self.splits)}"
            )
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            valid = ", ".join(self.options) or "(none)"
            raise ConfigError(
                f"dataset {self.name!r} has no option {unknown[0]!r}; valid: {valid}"
            )


def labels_tensor(y) -> Tensor:
    """Labels as an int64 tensor (N,)."""
    return torch.as_tensor(y, dtype=torch.int64).reshape(-1)
