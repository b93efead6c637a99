"""Embeddings of a scalar per item (diffusion step, ODE time, noise level) as feature vectors.

References:
    Vaswani et al., "Attention Is All You Need", NeurIPS 2017, section 3.5 (sinusoidal
    positional encoding).
    Ho et al., "Denoising Diffusion Probabilistic Models", NeurIPS 2020, appendix B (the same
    encoding of the diffusion step t).

Example:
    >>> emb = SinusoidalEmbedding(16)
    >>> emb(torch.tensor([0.0, 10.0, 99.0])).shape
    torch.Size([3, 16])
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class SinusoidalEmbedding(nn.Module):
    """t (B,) -> (B, dim): ``[sin(t w_0), ..., sin(t w_{h-1}), cos(t w_0), ..., cos(t w_{h-1})]``.

    With ``h = dim // 2`` the frequencies are geometric, ``w_k = max_period ** (-k / h)`` for
    k = 0..h-1, from 1 down to (about) ``1 / max_period`` (Vaswani et al. 2017, section 3.5, with
    the position replaced by t). ``t`` may be an integer step (DDPM, 0..T-1) or a continuous time
    (a CNF's t in [0, T]): the highest frequency is 1 rad per unit of t, so a continuous t in
    [0, 1] gets smooth, slowly varying features (what an ODE solver wants) and an integer step
    resolves neighbouring steps. An odd ``dim`` gets a final zero column.

    Args:
        dim: output features, >= 2.
        max_period: the longest period (in units of t) is ``2 pi max_period``.
    """

    def __init__(self, dim: int, max_period: float = 10_000.0) -> None:
        super().__init__()
        if dim < 2:
            raise ValueError(f"SinusoidalEmbedding needs dim >= 2, got {dim}")
        self.dim = dim
        half = dim // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, t: Tensor) -> Tensor:
        """Features (B, dim) of t (B,) (a 0-dim t gives (1, dim))."""
        angles = t.reshape(-1, 1).to(self.freqs.dtype) * self.freqs  # (B, half)
        emb = torch.cat([angles.sin(), angles.cos()], dim=1)
        if self.dim % 2:
            emb = torch.nn.functional.pad(emb, (0, 1))
        return emb
