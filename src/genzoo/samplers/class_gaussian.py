"""Per-class Gaussians fitted to training data: JEM++'s informative initialization.

Chains that start from ``N(mu_y, Sigma_y)`` of a class (full covariance, fitted on the training
images) begin near the data manifold instead of in uniform noise, so short chains suffice. The
fitted distribution serves as a replay buffer's :data:`~genzoo.samplers.replay.Init` (fresh
items for their labels, classes uniform when unlabelled).

References:
    Yang & Ji, "JEM++: Improved Techniques for Training JEM", ICCV 2021, section 3.2.

Example:
    >>> from genzoo.data import load_dataset
    >>> from genzoo.data.transforms import to_float
    >>> train = load_dataset("digits", "train")                     # uint8 in [0, 16]
    >>> x_train, y_train = to_float(train.x, train.info.value_range, (-1.0, 1.0)), train.y
    >>> g = ClassGaussian.fit(x_train, y_train, num_classes=10, jitter=1e-4, box=(-1.0, 1.0))
    >>> x0 = g.sample(torch.tensor([3, 3, 7]))     # (3, *shape), clamped to the box
    >>> x0.shape, bool(x0.abs().max() <= 1)
    (torch.Size([3, 1, 8, 8]), True)
"""

from __future__ import annotations

import torch
from torch import Tensor


class ClassGaussian:
    """``N(mu_k, Sigma_k + jitter * I)`` for each class k, sampled through Cholesky factors.

    Args:
        mean: class means (K, D).
        chol: lower Cholesky factors (K, D, D) of the jittered covariances.
        shape: item shape (prod = D).
        box: clamp samples into ``(low, high)``; None: no clamping.
    """

    def __init__(self, mean: Tensor, chol: Tensor, shape: tuple[int, ...],
                 box: tuple[float, float] | None = None) -> None:
        self.mean, self.chol, self.shape, self.box = mean, chol, tuple(shape), box

    @property
    def num_classes(self) -> int:
        return len(self.mean)

    @classmethod
    def fit(cls, x: Tensor, y: Tensor, num_classes: int, jitter: float = 1e-4,
            box: tuple[float, float] | None = None) -> ClassGaussian:
        """Maximum-likelihood mean and covariance (divided by the count) of each class of
        ``x`` (N, *shape) with labels ``y`` (N,), plus ``jitter * I``. A class without items
        raises ValueError."""
        flat = x.reshape(len(x), -1).double()
        d = flat.shape[1]
        means, chols = [], []
        for k in range(num_classes):
            xk = flat[y == k]
            if len(xk) == 0:
                raise ValueError(f"class {k} has no items to fit a Gaussian to")
            mu = xk.mean(0)
            centred = xk - mu
            cov = centred.T @ centred / len(xk) + jitter * torch.eye(d, dtype=flat.dtype)
            means.append(mu)
            chols.append(torch.linalg.cholesky(cov))
        return cls(torch.stack(means).float(), torch.stack(chols).float(), tuple(x.shape[1:]),
                   box)

    def covariance(self, k: int) -> Tensor:
        """The jittered covariance (D, D) of class k."""
        return self.chol[k] @ self.chol[k].T

    def sample(self, labels: Tensor) -> Tensor:
        """One draw (n, *shape) per label in ``labels`` (n,), on the labels' device."""
        device = labels.device
        out = torch.empty(len(labels), self.mean.shape[1], device=device)
        for k in labels.unique().tolist():
            rows = torch.nonzero(labels == k).flatten()
            eps = torch.randn(len(rows), self.mean.shape[1], device=device)
            out[rows] = self.mean[k].to(device) + eps @ self.chol[k].to(device).T
        out = out.view(len(labels), *self.shape)
        return out if self.box is None else out.clamp(*self.box)

    def init(self, n: int, device: torch.device, shape: tuple[int, ...],
             labels: Tensor | None = None) -> Tensor:
        """A replay buffer :data:`~genzoo.samplers.replay.Init`: draws for ``labels`` (uniform
        classes when None)."""
        if tuple(shape) != self.shape:
            raise ValueError(f"class Gaussians of items {self.shape} cannot fill {tuple(shape)}")
        if labels is None:
            labels = torch.randint(self.num_classes, (n,), device=device)
        return self.sample(labels.to(device))

    def state_dict(self) -> dict:
        return {"mean": self.mean.cpu(), "chol": self.chol.cpu()}

    def load_state_dict(self, state: dict) -> None:
        if state["mean"].shape != self.mean.shape or state["chol"].shape != self.chol.shape:
            raise ValueError(f"class Gaussians of shape {tuple(state['mean'].shape)} do not fit "
                             f"{tuple(self.mean.shape)}")
        self.mean, self.chol = state["mean"].float(), state["chol"].float()
