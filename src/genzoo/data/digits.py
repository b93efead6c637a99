"""scikit-learn's bundled 8x8 digits (1797 images, values 0-16); no files needed.

Items are uint8 ``(N, 1, 8, 8)`` in ``[0, 16]`` with int64 labels 0-9. Splits: a fixed random
80/20 split, ``split_indices(1797, (0.8, 0.2), seed=0)``: ``train`` 1438 items, ``test`` 359.

References:
    E. Alpaydin, C. Kaynak, "Optical Recognition of Handwritten Digits", UCI ML repository, 1998.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genzoo.data.base import Dataset, DatasetInfo, DatasetSpec, labels_tensor
from genzoo.data.splits import split_indices
from genzoo.registry import datasets

SPLIT_SEED = 0
SPLIT_FRACTIONS = (0.8, 0.2)


def load_digits(split: str, root: Path, verify: bool, download: bool) -> Dataset:
    """The 8x8 digits: uint8 ``(N, 1, 8, 8)`` in [0, 16]; 1438 train, 359 test."""
    from sklearn.datasets import load_digits as sklearn_digits  # slow import, only when used

    bunch = sklearn_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.uint8).unsqueeze(1)
    y = labels_tensor(bunch.target)
    train, test = split_indices(len(x), SPLIT_FRACTIONS, SPLIT_SEED)
    index = train if split == "train" else test
    info = DatasetInfo(
        name="digits",
        shape=(1, 8, 8),
        num_classes=10,
        value_range=(0, 16),
        kind="image",
        class_names=tuple("0123456789"),
        source=f"sklearn.datasets.load_digits(), split {split} of "
        f"split_indices(1797, {SPLIT_FRACTIONS}, seed={SPLIT_SEED})",
    )
    return Dataset(x[index], y[index], info)


datasets.register(
    "digits",
    DatasetSpec(
        "digits",
        load_digits,
        ("train", "test"),
        "scikit-learn's 8x8 handwritten digits, values 0-16 (no files)",
    ),
)
