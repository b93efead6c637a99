"""Confusion-matrix heat map."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from genzoo.viz._io import atomic_write_bytes, figure_png_bytes


def plot_confusion(matrix: np.ndarray, class_names: Sequence[str],
                   path: str | os.PathLike[str], title: str | None = None) -> Path:
    """Heat map of a (K, K) count matrix (rows: true, columns: predicted), row-normalised
    colours, raw counts written in the cells; saved as PNG."""
    matrix = np.asarray(matrix)
    k = len(matrix)
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.45 * k + 1.5)
    fig = Figure(figsize=(size, size), layout="constrained")
    ax = fig.subplots()
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), [str(c) for c in class_names], rotation=90, fontsize=7)
    ax.set_yticks(range(k), [str(c) for c in class_names], fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(k):
        for j in range(k):
            if matrix[i, j]:
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=6,
                        color="white" if rates[i, j] > 0.5 else "black")
    if title:
        ax.set_title(title, fontsize=10)
    return atomic_write_bytes(path, figure_png_bytes(fig))
