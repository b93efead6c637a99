"""Out-of-distribution detection scores: AUROC of a score that is higher in distribution.

For an EBM the score is log p(x) up to a constant, ``-E(x)`` (for JEM ``logsumexp f(x)``);
the plain classifier's usual baseline is the maximum softmax probability.

References:
    Hendrycks & Gimpel, "A Baseline for Detecting Misclassified and Out-of-Distribution
    Examples in Neural Networks", ICLR 2017.
    Grathwohl et al., ICLR 2020, table 3 (JEM's log p(x) AUROC).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def auroc(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """Probability that an in-distribution item scores above an out-of-distribution one (ties
    count half): the area under the ROC curve of separating the two by the score."""
    in_scores, out_scores = np.asarray(in_scores, float), np.asarray(out_scores, float)
    if len(in_scores) == 0 or len(out_scores) == 0:
        raise ValueError("AUROC needs scores of both groups")
    labels = np.concatenate([np.ones(len(in_scores)), np.zeros(len(out_scores))])
    return float(roc_auc_score(labels, np.concatenate([in_scores, out_scores])))
