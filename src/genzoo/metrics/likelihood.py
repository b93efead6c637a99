"""Likelihood numbers: bits per dimension of discrete data from a continuous density.

A density model of images is trained on uniformly dequantized pixels ``v = (k + u) / L`` in
``[0, 1)^D`` (k in {0, ..., L - 1}, u ~ U[0, 1)^D, L = 256 for 8-bit images). Rescaled to the
integer scale ``w = L v`` in ``[0, L)^D`` its density is ``p(v) / L^D``, and

    bits/dim = -log p_w(w) / (D ln 2) = (-log p(v) + D ln L) / (D ln 2)
             = -log p(v) / (D ln 2) + log2(L)        (= ... + 8 for 8-bit images).

Its expectation over u is an upper bound on ``-log2 P(k) / D`` of the discrete data (Jensen;
Theis et al. 2016), the number reported for RealNVP, Glow and PixelCNN.

References:
    Theis, van den Oord & Bethge, "A note on the evaluation of generative models", ICLR 2016,
    section 3.1.
    Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP", ICLR 2017, section 4.1.

Example:
    >>> import torch
    >>> bits_per_dim(torch.zeros(3), dim=784)   # the uniform density on [0, 1]^784
    tensor([8., 8., 8.])
"""

from __future__ import annotations

import math

from torch import Tensor


def bits_per_dim(log_p: Tensor, dim: int, levels: int = 256) -> Tensor:
    """Bits per dimension (B,) of discrete data from the log-density of its dequantization.

    Args:
        log_p: (B,) log-densities in nats of dequantized items ``v = (k + u) / levels`` in
            ``[0, 1)^D`` (the [0, 1] pixel scale).
        dim: D, the number of dimensions of an item (C * H * W).
        levels: L, the number of discrete values per dimension.

    Returns:
        (B,) ``(-log_p + D ln L) / (D ln 2)``.
    """
    return (-log_p + dim * math.log(levels)) / (dim * math.log(2))
