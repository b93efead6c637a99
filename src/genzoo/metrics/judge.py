"""Judges: each dataset's trained reference classifier, used to score generated images.

A judge answers three questions about samples: are they recognisable (mean confidence, the
accuracy on the labels they were meant to have), are they diverse (entropy of the predicted
classes: ln K when every class is equally frequent), and do they look like the data (the
Fréchet distance between judge features of samples and of test images, "judge-FID").

judge-FID is *not* Inception FID: it is computed in the penultimate layer of the dataset's
judge, so its values are comparable between models of the same dataset and judge only.
Inception FID/IS are available through :func:`inception_metrics` when ``torch-fidelity`` and its
weights are installed.

Judges are trained by a preset, seeded, and cached: see :mod:`genzoo.analyze.judges`.

References:
    Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
    Equilibrium", NeurIPS 2017 (the Fréchet distance, eq. 6).

Example:
    >>> from genzoo.analyze.judges import load_judge
    >>> from genzoo.data import load_dataset
    >>> judge = load_judge("digits", overrides=["train.epochs=1"])   # a quick, uncached judge
    >>> test = load_dataset("digits", "test")                        # uint8 in [0, 16]
    >>> samples, labels = test.x[:100] / 8 - 1, test.y[:100]         # stand-ins, in [-1, 1]
    >>> acc = judge_accuracy(judge, samples, labels, value_range=(-1.0, 1.0))
    >>> scores = sample_scores(judge, samples, test.x / 16, (-1.0, 1.0), labels)
    >>> scores["judge/accuracy"] == acc, scores["judge/class_entropy_max"] == math.log(10)
    (True, True)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genzoo.data.transforms import to_float
from genzoo.errors import UserError

Range = tuple[float, float]


class Judge:
    """A trained classifier wrapped for scoring images given in any value range.

    Args:
        classifier: a :class:`~genzoo.models.classifier.Classifier` (any backbone with
            ``features``), in eval mode.
        batch_size: images per forward pass.
    """

    def __init__(self, classifier: Any, batch_size: int = 500) -> None:
        self.model = classifier.eval()
        self.batch_size = batch_size
        self.info = classifier.info

    def _inputs(self, x: Tensor, value_range: Range) -> Tensor:
        if tuple(x.shape[1:]) != tuple(self.info.shape):
            raise UserError(f"the {self.info.name} judge takes images of shape "
                            f"{self.info.shape}, got {tuple(x.shape[1:])}")
        x = x.float().clamp(*value_range)
        return to_float(x, value_range, self.model.data_range)

    @torch.no_grad()
    def _map(self, fn: Any, x: Tensor, value_range: Range) -> Tensor:
        device = self.model.device
        out = [fn(self._inputs(x[i:i + self.batch_size], value_range).to(device)).float().cpu()
               for i in range(0, len(x), self.batch_size)]
        return torch.cat(out)

    def logits(self, x: Tensor, value_range: Range = (0.0, 1.0)) -> Tensor:
        """Logits (N, K) of images x (N, C, H, W) whose pixels lie in ``value_range``."""
        return self._map(self.model, x, value_range)

    def features(self, x: Tensor, value_range: Range = (0.0, 1.0)) -> Tensor:
        """Penultimate features (N, F) of images in ``value_range``."""
        return self._map(self.model.features, x, value_range)


# ----------------------------------------------------------------------------- scores
def judge_accuracy(judge: Judge, samples: Tensor, intended_labels: Tensor,
                   value_range: Range = (0.0, 1.0)) -> float:
    """Fraction of samples the judge assigns to the class they were generated for."""
    predicted = judge.logits(samples, value_range).argmax(1)
    return (predicted == intended_labels.cpu()).float().mean().item()


def judge_confidence(judge: Judge, samples: Tensor, value_range: Range = (0.0, 1.0)) -> float:
    """Mean over samples of the judge's largest class probability (1 = fully recognisable)."""
    return judge.logits(samples, value_range).softmax(1).max(1).values.mean().item()


def class_entropy(judge: Judge, samples: Tensor, value_range: Range = (0.0, 1.0)) -> float:
    """Entropy (nats) of the histogram of predicted classes; ln K when all K are equally
    frequent, 0 when every sample gets the same class (mode collapse)."""
    predicted = judge.logits(samples, value_range).argmax(1)
    p = torch.bincount(predicted, minlength=judge.info.num_classes).double() / len(predicted)
    p = p[p > 0]
    return float(-(p * p.log()).sum())


def gaussian_stats(features: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean (F,) and covariance (F, F) of features (N, F), in float64."""
    f = features.double().numpy()
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray,
                     cov2: np.ndarray) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu1, cov1) and N(mu2, cov2):

    ``|mu1 - mu2|^2 + tr(cov1) + tr(cov2) - 2 tr((cov1^{1/2} cov2 cov1^{1/2})^{1/2})``,

    the trace term computed from the eigenvalues of the symmetric matrix inside the root, so no
    complex square roots arise.
    """
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    cov1, cov2 = np.atleast_2d(cov1), np.atleast_2d(cov2)
    w, v = np.linalg.eigh((cov1 + cov1.T) / 2)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = root1 @ cov2 @ root1
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum()
    value = float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2 * cross)
    return max(value, 0.0)


def judge_fid(judge: Judge, samples: Tensor, reference: Tensor,
              value_range: Range = (0.0, 1.0), reference_range: Range = (0.0, 1.0)) -> float:
    """Fréchet distance between judge features of ``samples`` and of ``reference`` images.

    ``reference`` is usually the test split, e.g. ``to_float(test.x, test.info.value_range)``.
    """
    f1 = gaussian_stats(judge.features(samples, value_range))
    f2 = gaussian_stats(judge.features(reference, reference_range))
    return frechet_distance(*f1, *f2)


def sample_scores(judge: Judge, samples: Tensor, reference: Tensor,
                  value_range: Range, intended_labels: Tensor | None = None) -> dict[str, float]:
    """Every judge number of a batch of samples, keyed as they appear in ``eval.json``."""
    k = judge.info.num_classes
    out = {"judge/confidence": judge_confidence(judge, samples, value_range),
           "judge/class_entropy": class_entropy(judge, samples, value_range),
           "judge/class_entropy_max": math.log(k),
           "judge/fid": judge_fid(judge, samples, reference, value_range)}
    if intended_labels is not None:
        out["judge/accuracy"] = judge_accuracy(judge, samples, intended_labels, value_range)
    return out


# ----------------------------------------------------------------------------- Inception
def inception_metrics(samples: Tensor, reference: Tensor) -> dict[str, float]:
    """Inception FID and IS through ``torch-fidelity`` (images (N, 3, H, W) uint8).

    Raises:
        UserError: when torch-fidelity is not installed or cannot get its Inception weights
            (they are downloaded on first use, which needs the network).
    """
    try:
        import torch_fidelity
    except ImportError:
        raise UserError("Inception FID/IS need torch-fidelity (pip install torch-fidelity) and "
                        "its Inception weights; judge-FID works without them") from None

    class _Images(torch.utils.data.Dataset):
        def __init__(self, x: Tensor) -> None:
            self.x = x if x.shape[1] == 3 else x.expand(-1, 3, -1, -1)

        def __len__(self) -> int:
            return len(self.x)

        def __getitem__(self, i: int) -> Tensor:
            return self.x[i]

    try:
        result = torch_fidelity.calculate_metrics(
            input1=_Images(samples), input2=_Images(reference), fid=True, isc=True,
            verbose=False, cuda=torch.cuda.is_available())
    except Exception as e:  # weights missing offline, or a download failure
        raise UserError(f"Inception FID/IS failed (are its weights available offline?): "
                        f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    return {"inception/fid": float(result["frechet_inception_distance"]),
            "inception/is": float(result["inception_score_mean"])}
