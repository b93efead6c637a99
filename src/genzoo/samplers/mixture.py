"""A Gaussian mixture fitted to the training data: chain starts for JEM++ without a buffer.

Instead of uniform noise (JEM) or a replay buffer, every chain starts from a draw of a
``K``-component Gaussian mixture fitted to the training images by EM (scikit-learn's
``GaussianMixture``, full or diagonal covariances), so short chains begin near the data. The
mixture is unconditional: a chain's class (when it has one) does not choose the component.
The fitted parameters travel with the checkpoint.

References:
    Yang & Ji, "JEM++: Improved Techniques for Training JEM", ICCV 2021, section 3.2 (the
    informative initialization this replaces the per-class Gaussians of).

Example:
    >>> from genzoo.data import load_dataset
    >>> from genzoo.data.transforms import to_float
    >>> train = load_dataset("digits", "train")
    >>> x = to_float(train.x, train.info.value_range, (0.0, 1.0))       # (1438, 1, 8, 8)
    >>> gmm = DataMixture.fit(x, components=4, covariance="diag", box=(0.0, 1.0))
    >>> gmm.init(5, torch.device("cpu"), (1, 8, 8)).shape
    torch.Size([5, 1, 8, 8])
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

Covariance = Literal["full", "diag"]


class DataMixture:
    """``sum_k w_k N(mu_k, Sigma_k)`` over flattened items, sampled through Cholesky factors.

    Args:
        weights: component weights (K,), summing to 1.
        mean: component means (K, D).
        scale: lower Cholesky factors (K, D, D) of full covariances, or standard deviations
            (K, D) of diagonal ones.
        shape: item shape (prod = D).
        box: clamp draws into ``(low, high)``; None: no clamping.
    """

    def __init__(self, weights: Tensor, mean: Tensor, scale: Tensor, shape: tuple[int, ...],
                 box: tuple[float, float] | None = None) -> None:
        self.weights, self.mean, self.scale = weights, mean, scale
        self.shape, self.box = tuple(shape), box

    @property
    def covariance_type(self) -> Covariance:
        return "full" if self.scale.dim() == 3 else "diag"

    @classmethod
    def fit(cls, x: Tensor, components: int = 10, covariance: Covariance = "full",
            reg: float = 1e-4, max_items: int = 10000, seed: int = 0,
            box: tuple[float, float] | None = None) -> DataMixture:
        """EM fit of ``components`` Gaussians to (at most ``max_items``, a seeded random subset
        of) the items ``x`` (N, *shape); ``reg`` is added to every covariance's diagonal."""
        from sklearn.mixture import GaussianMixture  # slow import, only when fitting

        flat = x.reshape(len(x), -1).double()
        if len(flat) > max_items:
            g = torch.Generator().manual_seed(seed)
            flat = flat[torch.randperm(len(flat), generator=g)[:max_items]]
        gm = GaussianMixture(components, covariance_type=covariance, reg_covar=reg,
                             max_iter=100, random_state=seed).fit(flat.numpy())
        weights = torch.as_tensor(gm.weights_, dtype=torch.float32)
        mean = torch.as_tensor(gm.means_, dtype=torch.float32)
        if covariance == "full":
            scale = torch.linalg.cholesky(torch.as_tensor(gm.covariances_)).float()
        else:
            scale = torch.as_tensor(gm.covariances_).sqrt().float()
        return cls(weights / weights.sum(), mean, scale, tuple(x.shape[1:]), box)

    def sample(self, n: int, device: torch.device | str = "cpu") -> Tensor:
        """``n`` draws (n, *shape) on ``device``: a component by its weight, then its
        Gaussian."""
        k = torch.multinomial(self.weights, n, replacement=True)
        eps = torch.randn(n, self.mean.shape[1])
        if self.covariance_type == "full":
            draws = self.mean[k] + torch.einsum("nij,nj->ni", self.scale[k], eps)
        else:
            draws = self.mean[k] + self.scale[k] * eps
        draws = draws.view(n, *self.shape).to(device)
        return draws if self.box is None else draws.clamp(*self.box)

    def init(self, n: int, device: torch.device, shape: tuple[int, ...],
             labels: Tensor | None = None) -> Tensor:
        """A replay-buffer / chain :data:`~genzoo.samplers.replay.Init` (labels ignored)."""
        if tuple(shape) != self.shape:
            raise ValueError(f"a mixture of items {self.shape} cannot start {tuple(shape)}")
        return self.sample(n, device)

    def state_dict(self) -> dict:
        return {"weights": self.weights, "mean": self.mean, "scale": self.scale}

    @classmethod
    def from_state(cls, state: dict, shape: tuple[int, ...],
                   box: tuple[float, float] | None) -> DataMixture:
        return cls(state["weights"].float(), state["mean"].float(), state["scale"].float(),
                   shape, box)
