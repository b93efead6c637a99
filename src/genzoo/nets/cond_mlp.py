"""MLP on vectors conditioned on a scalar per item (diffusion step, ODE time, noise level).

The scalar enters through a sinusoidal embedding that is *added to every hidden layer*
(a per-layer learned projection of the embedding, as the time embedding enters each residual
block of the DDPM U-Net), so conditioning is not washed out in deeper nets::

    e = SinusoidalEmbedding(t)                       # (B, emb_dim)
    h_0 = x.flatten(1)                               # (B, D)
    h_l = act(W_l h_{l-1} + U_l e + b_l)             # l = 1..depth, (B, width)
    out = W_out h_depth + b_out                      # (B, out_dim)

References:
    Ho et al., "Denoising Diffusion Probabilistic Models", NeurIPS 2020, appendix B (time
    embedding added inside every block).
    Vaswani et al., "Attention Is All You Need", NeurIPS 2017, section 3.5 (the embedding).

Example:
    >>> net = CondMLPConfig(width=64, depth=2).build((2,), 2)
    >>> net(torch.randn(5, 2), torch.rand(5)).shape
    torch.Size([5, 2])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from genzoo.config import param
from genzoo.nets.base import NetConfig, activation
from genzoo.nets.embeddings import SinusoidalEmbedding
from genzoo.registry import nets


class CondMLP(nn.Module):
    """``net(x, t)``: x (B, *in_shape), t (B,) or 0-dim -> (B, out_dim).

    A 0-dim (or shape (1,)) ``t`` is shared by the whole batch: its embedding is computed once and
    broadcast, which is what an ODE solver calls the dynamics with.
    """

    def __init__(self, in_dim: int, out_dim: int, width: int = 128, depth: int = 3,
                 act: str = "silu", emb_dim: int = 32) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError("CondMLP needs depth >= 1 (t enters through the hidden layers)")
        self.embed = SinusoidalEmbedding(emb_dim)
        dims = [in_dim] + [width] * depth
        self.layers = nn.ModuleList(nn.Linear(a, b)
                                    for a, b in zip(dims[:-1], dims[1:], strict=True))
        self.t_proj = nn.ModuleList(nn.Linear(emb_dim, width, bias=False) for _ in range(depth))
        self.act = activation(act)
        self.head = nn.Linear(width, out_dim)

    def forward(self, x: Tensor, t: Tensor | float) -> Tensor:
        """Outputs (B, out_dim) for inputs x (B, *in_shape) at t (B,), (1,) or scalar."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        e = self.embed(t)  # (B, emb_dim) or (1, emb_dim), broadcast below
        h = x.flatten(1)
        for layer, proj in zip(self.layers, self.t_proj, strict=True):
            h = self.act(layer(h) + proj(e))
        return self.head(h)


@dataclass
class CondMLPConfig(NetConfig):
    """``{name: cond-mlp, width: 128, depth: 3, act: silu, emb_dim: 32}``; called ``net(x, t)``."""

    name: str = "cond-mlp"
    width: int = param(128, "hidden units per layer", ge=1)
    depth: int = param(3, "hidden layers (t is added to each)", ge=1)
    act: Literal["relu", "leaky_relu", "silu", "swish", "elu", "tanh", "softplus", "gelu"] = \
        param("silu", "activation (smooth ones, tanh/softplus/silu, for ODE dynamics)")
    emb_dim: int = param(32, "size of the sinusoidal embedding of t", ge=2)

    def build(self, in_shape: tuple[int, ...], out_dim: int) -> nn.Module:
        return CondMLP(math.prod(in_shape), out_dim, self.width, self.depth, self.act,
                       self.emb_dim)


nets.register("cond-mlp", CondMLPConfig)
