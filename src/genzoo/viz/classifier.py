"""Figures of a classifier run: examples per class, misclassified images, confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from genzoo.data.base import Dataset
from genzoo.data.transforms import to_float
from genzoo.metrics.classification import confusion_matrix, predict_logits
from genzoo.viz.confusion import plot_confusion
from genzoo.viz.grid import save_image_grid


def _names(info) -> list[str]:
    return list(info.class_names or [str(k) for k in range(info.num_classes)])


def class_examples(data: Dataset, path: Path, per_class: int = 4) -> Path:
    """Grid with one row per class: the first ``per_class`` items, captioned with the label."""
    names = _names(data.info)
    index = torch.cat([torch.nonzero(data.y == k).flatten()[:per_class]
                       for k in range(data.info.num_classes)])
    x = to_float(data.x[index], data.info.value_range)
    return save_image_grid(x, path, nrow=per_class,
                           captions=[names[int(k)] for k in data.y[index]])


def misclassified(data: Dataset, logits: torch.Tensor, path: Path, limit: int = 48) -> Path | None:
    """Gallery of misclassified items captioned ``predicted / true``; None when all correct."""
    names = _names(data.info)
    predicted = logits.argmax(1)
    wrong = torch.nonzero(predicted != data.y).flatten()[:limit]
    if len(wrong) == 0:
        return None
    x = to_float(data.x[wrong], data.info.value_range)
    captions = [f"{names[int(predicted[i])]} / {names[int(data.y[i])]}" for i in wrong]
    return save_image_grid(x, path, nrow=8, captions=captions)


def classifier_figures(model: Any, out_dir: Path, train: Dataset | None,
                       test: Dataset) -> dict[str, str]:
    """Write the figures of a classifier into ``out_dir``; returns ``{file name: caption}``."""
    out: dict[str, str] = {}
    if test.info.kind != "image":
        return out
    if train is not None:
        class_examples(train, out_dir / "class-examples.png")
        out["class-examples.png"] = "training examples, one row per class"
    logits = predict_logits(model, test)
    wrong = misclassified(test, logits, out_dir / "misclassified.png")
    errors = int((logits.argmax(1) != test.y).sum())
    if wrong is not None:
        out["misclassified.png"] = (f"misclassified test images (predicted / true): "
                                    f"{errors} of {len(test)}, first {min(errors, 48)} shown")
    matrix = confusion_matrix(logits.argmax(1), test.y, test.info.num_classes)
    plot_confusion(matrix.numpy(), _names(test.info), out_dir / "confusion.png")
    out["confusion.png"] = "confusion matrix on the evaluation split (rows: true class)"
    return out
