"""Calibration of a classifier: expected calibration error and the reliability table.

The test predictions are sorted into ``bins`` equal-width bins of confidence
(max softmax probability); ECE is the bin-size-weighted mean of |accuracy - confidence|.

References:
    Guo et al., "On Calibration of Modern Neural Networks", ICML 2017 (ECE with 15 bins).
    Grathwohl et al., ICLR 2020, section 5.2 (JEM improves calibration).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Reliability:
    """Per-bin numbers: ``edges`` (bins + 1,), and per bin the ``count``, mean
    ``confidence`` and ``accuracy`` (NaN for empty bins); ``ece`` over all items."""

    edges: Tensor
    count: Tensor
    confidence: Tensor
    accuracy: Tensor
    ece: float


def reliability(probs: Tensor, labels: Tensor, bins: int = 15) -> Reliability:
    """Reliability table and ECE of class probabilities ``probs`` (N, K) for ``labels`` (N,)."""
    if bins < 1:
        raise ValueError(f"need at least one bin, got {bins}")
    conf, pred = probs.float().max(1)
    correct = (pred == labels.to(pred.device)).float()
    edges = torch.linspace(0, 1, bins + 1)
    # bin i holds confidences in (edges[i], edges[i + 1]]; confidence 0 goes to the first
    which = (torch.bucketize(conf.cpu(), edges[1:-1], right=False)).clamp(0, bins - 1)
    count = torch.bincount(which, minlength=bins).float()
    conf_sum = torch.bincount(which, weights=conf.cpu(), minlength=bins)
    acc_sum = torch.bincount(which, weights=correct.cpu(), minlength=bins)
    safe = count.clamp(min=1)
    confidence = torch.where(count > 0, conf_sum / safe, torch.nan)
    accuracy = torch.where(count > 0, acc_sum / safe, torch.nan)
    ece = float(((acc_sum - conf_sum).abs()).sum() / max(len(conf), 1))
    return Reliability(edges, count, confidence, accuracy, ece)


def expected_calibration_error(probs: Tensor, labels: Tensor, bins: int = 15) -> float:
    """ECE = sum_b |B_b| / N * |acc(B_b) - conf(B_b)|."""
    return reliability(probs, labels, bins).ece
