"""Class-conditional wrappers around backbones: a generator G(z, y) and critics D(x, y).

Each wraps a plain backbone (built from a :class:`~genzoo.nets.base.NetConfig`) and adds the
label: a learned embedding appended to the generator's input (Mirza & Osindero 2014), or, for
the critic, either a projection of a label embedding onto the backbone's features (Miyato &
Koyama 2018) or the label's one-hot as extra input channels / features. Used by the
conditional GAN (:mod:`genzoo.models.gan`).

References:
    Mirza & Osindero, "Conditional Generative Adversarial Nets", arXiv:1411.1784, 2014.
    Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018 (eq. (3)).

Example:
    >>> import torch
    >>> critic = ProjectionCritic(torch.nn.Linear(2, 8), features=8, num_classes=3)
    >>> critic(torch.randn(5, 2), torch.tensor([0, 1, 2, 0, 1])).shape
    torch.Size([5])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LabelledGenerator(nn.Module):
    """G(z, y): a backbone on ``[z, e(y)]`` with a learned label embedding e (K, label_dim)."""

    def __init__(self, backbone: nn.Module, num_classes: int, label_dim: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.embed = nn.Embedding(num_classes, label_dim)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        """Backbone outputs (N, out) for latents z (N, latent_dim) and labels y (N,)."""
        return self.backbone(torch.cat([z, self.embed(y)], 1))


class ProjectionCritic(nn.Module):
    """``D(x, y) = w . phi(x) + b + e(y) . phi(x)``, ``phi = leaky_relu(backbone(x))`` (B, F)
    (Miyato & Koyama 2018, eq. (3), with the inner product of a label embedding)."""

    def __init__(self, backbone: nn.Module, features: int, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(features, 1)
        self.embed = nn.Embedding(num_classes, features)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Scores (B,) for points x (B, *shape) and labels y (B,)."""
        phi = F.leaky_relu(self.backbone(x), 0.2)
        return self.head(phi).squeeze(-1) + (self.embed(y) * phi).sum(1)


class ConcatCritic(nn.Module):
    """D(x, y) on x with the label's one-hot appended: as K constant channels for images
    (B, C, H, W), as K features for vectors (B, D)."""

    def __init__(self, backbone: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.num_classes = num_classes

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Scores (B,) for points x (B, *shape) and labels y (B,)."""
        one_hot = F.one_hot(y, self.num_classes).to(x.dtype)
        if x.dim() > 2:
            one_hot = one_hot[:, :, None, None].expand(-1, -1, *x.shape[2:])
        return self.backbone(torch.cat([x, one_hot], 1)).squeeze(-1)
