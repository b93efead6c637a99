"""Classifier numbers: predictions over a dataset, accuracy, confusion matrix.

Example:
    >>> from genzoo.data import load_dataset
    >>> clf = genzoo.load(genzoo.train("clf-digits", ["train.epochs=1"], quiet=True))
    >>> test = load_dataset("digits", "test")
    >>> acc = evaluate_accuracy(clf, test)                      # top-1 accuracy in [0, 1]
    >>> predicted = predict_logits(clf, test).argmax(1)
    >>> table = confusion_matrix(predicted, test.y, num_classes=10)
    >>> table.shape, table.sum().item()                         # all 359 test items
    (torch.Size([10, 10]), 359)
    >>> round(acc * 359) == table.trace().item()               # the correct ones: the diagonal
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from genzoo.data.base import Dataset


@torch.no_grad()
def apply_in_batches(model: Any, data: Dataset, fn: Callable[[Tensor], Tensor],
                     batch_size: int = 512) -> Tensor:
    """``fn`` over the stored items of ``data``, ``batch_size`` at a time: each batch mapped to
    the model's input range (``model.prepare``) on its device, in eval mode (the mode is
    restored after); the outputs concatenated on the CPU (an empty tensor for no items)."""
    was_training = model.training
    model.eval()
    device = model.device
    out = []
    for start in range(0, len(data), batch_size):
        batch = model.prepare(data.x[start:start + batch_size].to(device))
        out.append(fn(batch.x).cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 0)


def predict_logits(model: Any, data: Dataset, batch_size: int = 512) -> Tensor:
    """Logits (N, K) of a classifier-like method over ``data`` (in eval mode, on its device).

    ``model`` needs ``prepare(x, y)`` (stored items to its input range) and ``__call__`` giving
    logits, as :class:`genzoo.models.classifier.Classifier` has.
    """
    return apply_in_batches(model, data, lambda x: model(x).float(), batch_size)


def evaluate_accuracy(model: Any, data: Dataset, batch_size: int = 512) -> float:
    """Top-1 accuracy of ``model`` on a labelled dataset, in [0, 1]."""
    if data.y is None:
        raise ValueError(f"dataset {data.info.name!r} has no labels")
    return (predict_logits(model, data, batch_size).argmax(1) == data.y).float().mean().item()


def confusion_matrix(predicted: Tensor, true: Tensor, num_classes: int) -> Tensor:
    """Counts (K, K): row = true class, column = predicted class."""
    index = true.long() * num_classes + predicted.long()
    return torch.bincount(index, minlength=num_classes**2).view(num_classes, num_classes)
