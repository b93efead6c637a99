"""Your own arrays from a ``.npy``, ``.npz`` or ``.csv`` file (option ``path``); split ``all``.

Accepted ``x`` (``N`` items):

* ``(N, D)``: vectors, stored as float32, ``value_range`` from the option (default ``None``);
* ``(N, H, W)``: grey images, stored as ``(N, 1, H, W)``;
* ``(N, C, H, W)``: images; ``(N, H, W, C)`` is accepted and transposed when ``C`` (the last
  dimension) is 1 or 3 and the second dimension is not.

Images of integer type (values in 0..255) or bool are stored as uint8 with range (0, 255) or
(0, 1); float images stay float32 with the range from option ``value_range``, or (0, 1) when all
values lie inside it. ``.npz`` files need key ``x`` and may hold integer labels ``y`` of shape
``(N,)`` or ``(N, 1)``; ``.npy`` holds ``x`` only; ``.csv`` holds numeric rows (vectors; one
non-numeric header line is skipped).

Example::

    ds = load_dataset("arrays", "all", path="points.npz")
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genzoo.data.base import Dataset, DatasetInfo, DatasetSpec, labels_tensor
from genzoo.data.checks import as_path, as_range
from genzoo.errors import DataError
from genzoo.registry import datasets

ACCEPTED = "(N, D) vectors, (N, H, W) or (N, C, H, W) / (N, H, W, C) images with C in {1, 3}"


def read_arrays(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """``x`` and optional ``y`` as stored in ``path`` (.npy, .npz or .csv)."""
    if not path.is_file():
        raise DataError(f"array file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False), None
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                if "x" not in z.files:
                    found = ", ".join(z.files) or "none"
                    raise DataError(
                        f"{path} has no array 'x' (found: {found}); "
                        "save it with np.savez(path, x=x, y=y)"
                    )
                return z["x"], z["y"] if "y" in z.files else None
        if suffix == ".csv":
            return _read_csv(path), None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"cannot read {path} as a {suffix} array file ({e})") from e
    raise DataError(f"{path}: unknown array file type {suffix!r}; expected .npy, .npz or .csv")


def _read_csv(path: Path) -> np.ndarray:
    try:
        return np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64)
    except ValueError:
        try:
            return np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64, skiprows=1)
        except ValueError as e:
            raise DataError(
                f"{path} must hold numeric comma-separated rows of equal length ({e})"
            ) from e


def _images(
    x: np.ndarray, path: Path, value_range: tuple[float, float] | None
) -> tuple[Tensor, tuple[float, float]]:
    """``(x, value_range)`` for an image array already in ``(N, C, H, W)``."""
    if x.dtype == np.bool_:
        return torch.from_numpy(x.astype(np.uint8)), value_range or (0, 1)
    if np.issubdtype(x.dtype, np.integer):
        if x.size and (x.min() < 0 or x.max() > 255):
            raise DataError(
                f"{path}: integer images must lie in 0..255, found {x.min()}..{x.max()}"
            )
        return torch.from_numpy(x.astype(np.uint8)), value_range or (0, 255)
    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"{path}: images of dtype {x.dtype}; expected integers, bool or floats")
    if not np.isfinite(x).all():
        raise DataError(f"{path}: images hold NaN or infinite values")
    if value_range is None:
        if x.size and (x.min() < 0 or x.max() > 1):
            raise DataError(
                f"{path}: float images in {x.min():g}..{x.max():g}, outside (0, 1); "
                "give option value_range=[low, high]"
            )
        value_range = (0, 1)
    return torch.from_numpy(x.astype(np.float32)), value_range


def to_dataset(
    x: np.ndarray, y: np.ndarray | None, path: Path, value_range: tuple[float, float] | None = None
) -> Dataset:
    """Check shapes and types of user arrays and wrap them as a :class:`Dataset`."""
    if x.ndim not in (2, 3, 4):
        raise DataError(f"{path}: x has shape {x.shape}; accepted: {ACCEPTED}")
    if x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)  # NHWC -> NCHW
    if x.ndim == 4 and x.shape[1] not in (1, 3):
        raise DataError(f"{path}: x has shape {x.shape}; accepted: {ACCEPTED}")
    if y is not None:
        y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(
                f"{path}: y has shape {y.shape} but x has {len(x)} items; "
                f"expected y of shape ({len(x)},)"
            )
        if not np.issubdtype(y.dtype, np.integer) or (y.size and y.min() < 0):
            raise DataError(f"{path}: y must hold integer class labels >= 0, found dtype {y.dtype}")
    if x.ndim == 2:
        if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x).all():
            raise DataError(f"{path}: x must hold finite numbers, found dtype {x.dtype}")
        kind, tensor = "vector", torch.from_numpy(x.astype(np.float32))
    else:
        kind = "image"
        tensor, value_range = _images(x[:, None] if x.ndim == 3 else x, path, value_range)
    info = DatasetInfo(
        name="arrays",
        shape=tuple(tensor.shape[1:]),
        num_classes=None if y is None else (int(y.max()) + 1 if y.size else 0),
        value_range=value_range,
        kind=kind,
        source=str(path),
    )
    return Dataset(tensor.contiguous(), None if y is None else labels_tensor(y), info)


def load_arrays(
    split: str,
    root: Path,
    verify: bool,
    download: bool,
    *,
    path: str,
    value_range: tuple[float, float] | None = None,
) -> Dataset:
    """Arrays from ``path``: float32 vectors ``(N, D)`` or images ``(N, C, H, W)``."""
    file = as_path("path", path)
    if value_range is not None:
        value_range = as_range("value_range", value_range)
    x, y = read_arrays(file)
    return to_dataset(x, y, file, value_range)


datasets.register(
    "arrays",
    DatasetSpec(
        "arrays",
        load_arrays,
        ("all",),
        "your arrays from .npy / .npz (x, y) / .csv (option path; value_range)",
    ),
)
