"""Figures of ``genzoo cluster``: silhouette and accuracy against K, the cluster-by-class
table, and a t-SNE map coloured by true and by pseudo labels.

Example:
    >>> table = 90 * np.eye(10, dtype=np.int64) + 1      # (K, C) counts: 10 clusters, 10 classes
    >>> print(plot_cluster_table(table, [str(c) for c in range(10)], Path("table.png")))
    table.png
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from genzoo.viz._io import atomic_write_bytes, figure_png_bytes


def plot_k_sweep(ks: Sequence[int], curves: dict[str, dict[str, Sequence[float]]],
                 path: Path) -> Path:
    """Two panels against K: silhouette score and Hungarian accuracy, one line per feature
    kind. ``curves[kind] = {"silhouette": [...], "accuracy": [...]}``, aligned with ``ks``."""
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    axes = fig.subplots(1, 2)
    for kind, values in curves.items():
        for ax, key in zip(axes, ("silhouette", "accuracy"), strict=True):
            ax.plot(ks, values[key], marker="o", label=kind)
    for ax, label in zip(axes, ("silhouette score", "Hungarian accuracy"), strict=True):
        ax.set_xlabel("K (clusters)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return atomic_write_bytes(path, figure_png_bytes(fig))


def plot_cluster_table(table: np.ndarray, class_names: Sequence[str], path: Path,
                       order: np.ndarray | None = None, title: str | None = None) -> Path:
    """Heat map of a (K, C) cluster-by-class count table: colour = the share of the cluster's
    items in each class (each row sums to 1), the share written as a percentage in the cell,
    the cluster's size in its row label. ``order`` permutes the rows (e.g. by matched class)."""
    order = np.arange(len(table)) if order is None else np.asarray(order)
    table = np.asarray(table)[order]
    k, c = table.shape
    share = table / np.maximum(table.sum(1, keepdims=True), 1)
    fig = Figure(figsize=(max(4.0, 0.5 * c + 2), max(3.0, 0.38 * k + 1.5)),
                 layout="constrained")
    ax = fig.subplots()
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(c), [str(n) for n in class_names], rotation=90, fontsize=7)
    ax.set_yticks(range(k), [f"{i} (n={int(n)})" for i, n in zip(order, table.sum(1),
                                                                 strict=True)], fontsize=7)
    ax.set_xlabel("true class")
    ax.set_ylabel("cluster")
    for i in range(k):
        for j in range(c):
            if share[i, j] >= 0.005:
                ax.text(j, i, f"{100 * share[i, j]:.0f}", ha="center", va="center",
                        fontsize=6, color="white" if share[i, j] > 0.5 else "black")
    if title:
        ax.set_title(title, fontsize=10)
    return atomic_write_bytes(path, figure_png_bytes(fig))


def plot_tsne(points: np.ndarray, true: np.ndarray, pseudo: np.ndarray, path: Path) -> Path:
    """Two scatter panels of 2-D t-SNE ``points`` (N, 2), coloured by the true labels and by
    the pseudo-labels."""
    fig = Figure(figsize=(10, 4.6), layout="constrained")
    for ax, labels, name in zip(fig.subplots(1, 2), (true, pseudo),
                                ("true labels", "pseudo-labels (clusters)"), strict=True):
        cmap = "tab10" if labels.max() < 10 else "tab20"
        ax.scatter(points[:, 0], points[:, 1], c=labels, cmap=cmap, s=3, linewidths=0)
        for value in np.unique(labels):
            centre = np.median(points[labels == value], axis=0)
            ax.text(*centre, str(value), fontsize=9, weight="bold", ha="center", va="center")
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    return atomic_write_bytes(path, figure_png_bytes(fig))
