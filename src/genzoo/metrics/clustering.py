"""Scoring clusters against true labels: the contingency table, the Hungarian matching of
clusters to classes and the accuracy it gives.

A clustering's "accuracy" is the fraction of items whose cluster is matched to their class by
the one-to-one assignment of clusters to classes that maximises the number of such items (the
Hungarian algorithm on the contingency table). With more clusters than classes the unmatched
clusters count as wrong; :func:`cluster_to_class` also gives them their majority class, which
is how pseudo-labels become class labels for a classifier.

References:
    Kuhn, "The Hungarian Method for the Assignment Problem", Naval Research Logistics
    Quarterly 2(1-2), 1955.
    Xie, Girshick & Farhadi, "Unsupervised Deep Embedding for Clustering Analysis", ICML 2016,
    section 4.2 (unsupervised clustering accuracy with the best one-to-one mapping).

Example:
    >>> hungarian_accuracy(np.array([1, 1, 0, 0, 2]), np.array([0, 0, 1, 1, 1]), 3, 2)
    0.8
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def contingency(clusters: np.ndarray, labels: np.ndarray, k: int, c: int) -> np.ndarray:
    """(k, c) int64 counts: entry (i, j) = items in cluster i with true class j."""
    table = np.zeros((k, c), dtype=np.int64)
    np.add.at(table, (np.asarray(clusters), np.asarray(labels)), 1)
    return table


def hungarian_match(table: np.ndarray) -> np.ndarray:
    """(k,) class matched to each cluster by the maximum-weight one-to-one assignment on the
    (k, c) contingency ``table``; -1 for clusters left unmatched (when k > c)."""
    rows, cols = linear_sum_assignment(table, maximize=True)
    match = np.full(len(table), -1, dtype=np.int64)
    match[rows] = cols
    return match


def hungarian_accuracy(clusters: np.ndarray, labels: np.ndarray, k: int, c: int) -> float:
    """Fraction of items whose cluster is matched to their class one-to-one (see module)."""
    table = contingency(clusters, labels, k, c)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / max(table.sum(), 1))


def cluster_to_class(table: np.ndarray) -> np.ndarray:
    """(k,) a class for every cluster: its Hungarian match, or for unmatched clusters (k > c)
    the class most of its items belong to."""
    match = hungarian_match(table)
    unmatched = match < 0
    match[unmatched] = table[unmatched].argmax(1)
    return match
