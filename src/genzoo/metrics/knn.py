"""Weighted k-nearest-neighbour classification of features by cosine similarity.

The kNN monitor of self-supervised methods (SimSiam's validation ``knn_acc``) and the "kNN on
raw pixels" baseline: each query is labelled by a vote of its ``k`` most similar bank items,
each neighbour's vote weighted by ``exp(sim / T)``.

References:
    Wu, Xiong, Yu & Lin, "Unsupervised Feature Learning via Non-Parametric Instance
    Discrimination", CVPR 2018, section 3.4 (weighted kNN, eq. (9) and (10), T = 0.07, k = 200).
    Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021 (the kNN monitor
    of the official code: k = 200, T = 0.1).

Example:
    >>> bank = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> knn_predict(torch.tensor([[0.9, 0.1]]), bank, torch.tensor([3, 5]), 10, k=1)
    tensor([3])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def knn_predict(query: Tensor, bank: Tensor, bank_labels: Tensor, num_classes: int,
                k: int = 200, temperature: float = 0.1, chunk_size: int = 256) -> Tensor:
    """Labels of ``query`` by a weighted vote of their ``k`` nearest bank items.

    Similarity is the cosine: both sets are L2-normalised here (normalised inputs are left
    unchanged). For query q with neighbours ``N_k(q)`` (the k largest similarities ``s_i``;
    which of equally similar items make the cut is unspecified), the score of class c is
    ``sum_{i in N_k(q), y_i = c} exp(s_i / T)`` and the prediction its arg max (the smallest
    such class on a tie).

    Args:
        query: features (Q, D).
        bank: features of labelled items (N, D), on the device of ``query``.
        bank_labels: their labels (N,) in 0..num_classes - 1.
        num_classes: number of classes C.
        k: neighbours per query (at most N are used).
        temperature: T of the vote weights.
        chunk_size: queries compared with the bank at once (memory: ``chunk_size * N`` floats).

    Returns:
        (Q,) int64 predicted labels.

    References:
        Wu et al. 2018, eq. (9)-(10).
    """
    if len(bank) == 0:
        raise ValueError("knn_predict: the bank is empty")
    k = min(k, len(bank))
    bank = F.normalize(bank.float(), dim=1)
    labels = bank_labels.to(bank.device).long()
    out = []
    for start in range(0, len(query), chunk_size):
        q = F.normalize(query[start:start + chunk_size].float(), dim=1)
        sim, index = (q @ bank.T).topk(k, dim=1)
        weights = (sim / temperature).exp()
        scores = torch.zeros(len(q), num_classes, device=q.device)
        scores.scatter_add_(1, labels[index], weights)
        out.append(scores.argmax(1))
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long, device=query.device)


def knn_accuracy(query: Tensor, query_labels: Tensor, bank: Tensor, bank_labels: Tensor,
                 num_classes: int, k: int = 200, temperature: float = 0.1,
                 chunk_size: int = 256) -> float:
    """Fraction in [0, 1] of ``query`` (Q, D) whose :func:`knn_predict` label equals
    ``query_labels`` (Q,); the other arguments as there."""
    predicted = knn_predict(query, bank, bank_labels, num_classes, k, temperature, chunk_size)
    return (predicted.cpu() == query_labels.cpu().long()).float().mean().item()
