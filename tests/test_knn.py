"""The weighted kNN classifier (SimSiam's monitor, the raw-pixel baseline)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from genzoo.metrics.knn import knn_accuracy, knn_predict


def _at(*degrees: float, norms: tuple[float, ...] | None = None) -> torch.Tensor:
    angles = torch.tensor(degrees) * math.pi / 180
    points = torch.stack([angles.cos(), angles.sin()], 1)
    return points if norms is None else points * torch.tensor(norms)[:, None]


def test_weighted_vote_of_a_hand_made_example():
    # bank at 0 deg (class 0), 10 and 20 deg (class 1), 90 (class 0), 180 (class 2); query 0 deg.
    # k = 3 takes 0, 10, 20 deg with weights exp(cos / T):
    #   T = 0.1:  class 0 exp(10) = 22026 < class 1 exp(9.848) + exp(9.397) = 30978 -> 1
    #   T = 0.01: class 0 exp(100) > class 1 exp(98.48) + exp(93.97) -> 0
    # norms differ on purpose: only the angle (cosine) counts
    bank = _at(0, 10, 20, 90, 180, norms=(3.0, 0.5, 2.0, 1.0, 7.0))
    labels = torch.tensor([0, 1, 1, 0, 2])
    query = _at(0, norms=(0.1,))
    assert knn_predict(query, bank, labels, 3, k=3, temperature=0.1).item() == 1
    assert knn_predict(query, bank, labels, 3, k=3, temperature=0.01).item() == 0
    assert knn_predict(query, bank, labels, 3, k=1).item() == 0
    # k = 4 adds 90 deg (cos 0) for class 0: exp(10) + exp(0) still < 30978
    assert knn_predict(query, bank, labels, 3, k=4, temperature=0.1).item() == 1
    # k beyond the bank uses all of it; the query at 175 deg has 180 deg (class 2) nearest
    assert knn_predict(_at(175), bank, labels, 3, k=99, temperature=0.01).item() == 2


def test_k1_is_the_nearest_neighbour_label_and_chunks_do_not_matter():
    g = torch.Generator().manual_seed(0)
    query, bank = torch.randn(50, 5, generator=g), torch.randn(120, 5, generator=g)
    labels = torch.randint(0, 4, (120,), generator=g)
    nearest = labels[(F.normalize(query, dim=1) @ F.normalize(bank, dim=1).T).argmax(1)]
    assert torch.equal(knn_predict(query, bank, labels, 4, k=1), nearest)
    assert torch.equal(knn_predict(query, bank, labels, 4, k=1, chunk_size=7), nearest)
    full = knn_predict(query, bank, labels, 4, k=20)
    assert torch.equal(knn_predict(query, bank, labels, 4, k=20, chunk_size=3), full)
    assert knn_accuracy(query, nearest, bank, labels, 4, k=1) == 1.0
    assert knn_accuracy(bank, labels, bank, labels, 4, k=1) == 1.0  # each item finds itself
    assert knn_accuracy(query, (nearest + 1) % 4, bank, labels, 4, k=1) == 0.0
    with pytest.raises(ValueError, match="empty"):
        knn_predict(query, bank[:0], labels[:0], 4)
