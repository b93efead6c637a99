"""Datasets: in-memory tensors plus a :class:`DatasetInfo`, loaded by name.

Files are found under the data root (``$GENZOO_DATA``, default ``~/.cache/genzoo/data``) in the
layout ``<dataset>/<file>`` (e.g. ``mnist/train-images-idx3-ubyte.gz``), checked against their
published checksums and downloaded when missing (see :mod:`genzoo.data.files`).

Example::

    from genzoo.data import load_dataset
    ds = load_dataset("mnist", "test")              # ds.x: (10000, 1, 28, 28) uint8
    toy = load_dataset("pinwheel", n=512, seed=1)   # toy.x: (512, 2) float32
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

from genzoo.data import (  # noqa: F401  (imported so that they register their datasets)
    arrays,
    binarized_mnist,
    cifar,
    digits,
    folder,
    hoda,
    mnist,
    svhn,
    toy2d,
)
from genzoo.data.base import Dataset, DatasetInfo, DatasetSpec
from genzoo.data.splits import split_indices
from genzoo.data.toy2d import sample_toy
from genzoo.errors import ConfigError
from genzoo.registry import datasets

__all__ = [
    "Dataset",
    "DatasetInfo",
    "DatasetSpec",
    "data_root",
    "load_dataset",
    "sample_toy",
    "split_indices",
]

DEFAULT_ROOT = "~/.cache/genzoo/data"


def data_root(root: Path | str | None = None) -> Path:
    """The data root: ``root`` if given, else ``$GENZOO_DATA``, else ``~/.cache/genzoo/data``."""
    if root is None or str(root) == "":
        root = os.environ.get("GENZOO_DATA") or DEFAULT_ROOT
    return Path(root).expanduser()


def load_dataset(
    name: str,
    split: str | None = None,
    *,
    root: Path | str | None = None,
    verify: bool = True,
    download: bool = True,
    **options: object,
) -> Dataset:
    """Load one split of a registered dataset into memory.

    Args:
        name: registry name, e.g. ``"mnist"``, ``"pinwheel"``, ``"folder"``.
        split: e.g. ``"train"``, ``"test"``; ``None`` for the dataset's first split (``"train"``,
            or ``"all"`` for ``folder`` and ``arrays``).
        root: data root; ``None`` for :func:`data_root`'s default.
        verify: check files against their published checksums.
        download: download missing files (also off when ``$GENZOO_OFFLINE=1``).
        **options: the dataset's own options, e.g. ``n=2000, seed=0`` for 2-D toys.

    Returns:
        :class:`Dataset` with ``x`` (N, ...), ``y`` (N,) or ``None``, and ``info``.

    Raises:
        ConfigError: unknown name, split or option, or a missing required option.
        DataError: a missing, corrupt or malformed file.
    """
    for flag, value in (("verify", verify), ("download", download)):
        if not isinstance(value, bool):
            raise ConfigError(f"{flag} must be true or false, got {value!r}")
    spec: DatasetSpec = datasets.get(name)
    split = spec.splits[0] if split is None else split
    spec.check(split, options)
    required = [
        k
        for k, p in spec.options.items()
        if p.default is inspect.Parameter.empty and p.kind is p.KEYWORD_ONLY and k not in options
    ]
    if required:
        raise ConfigError(f"dataset {name!r} needs option {required[0]!r}")
    return spec.loader(
        split=split, root=data_root(root), verify=verify, download=download, **options
    )
