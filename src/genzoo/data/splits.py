"""Seeded random splits of ``range(n)`` into disjoint parts."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from genzoo.errors import ConfigError


def split_indices(n: int, fractions: Sequence[float], seed: int) -> list[Tensor]:
    """Split ``range(n)`` at random into parts of the given fractions.

    Part ``i > 0`` gets ``round(n * fractions[i])`` items and part 0 the rest, so the parts are
    disjoint, cover ``range(n)`` and depend only on ``(n, fractions, seed)``.

    Args:
        n: number of items, ``>= 0``.
        fractions: positive fractions summing to 1, e.g. ``(0.8, 0.2)``.
        seed: seed of the permutation.

    Returns:
        One int64 index tensor per fraction, shapes ``(n_i,)`` with ``sum(n_i) == n``.

    Example::

        train, test = split_indices(1797, (0.8, 0.2), seed=0)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ConfigError(f"split_indices needs an integer n >= 0, got {n!r}")
    fractions = list(fractions)
    if not fractions or any(
        isinstance(f, bool) or not isinstance(f, int | float) or not f > 0 for f in fractions
    ):
        raise ConfigError(f"split fractions must be positive numbers, got {fractions!r}")
    if not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise ConfigError(
            f"split fractions must sum to 1, got {fractions!r} (sum {sum(fractions)})"
        )
    sizes = [round(n * f) for f in fractions[1:]]
    first = n - sum(sizes)
    if first < 0:
        raise ConfigError(f"cannot split {n} items into fractions {fractions!r}: too few items")
    generator = torch.Generator().manual_seed(int(seed))
    order = torch.randperm(n, generator=generator)
    return list(torch.split(order, [first, *sizes]))
