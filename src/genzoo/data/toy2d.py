"""2-D toy distributions generated from a seed: float32 ``(N, 2)`` points within about [-4, 4].

==============  ==========================================================  ======  =========
name            shape                                                       labels  noise
==============  ==========================================================  ======  =========
spiral          two interleaved spiral arms, radius up to 3.8               arm     0.1
pinwheel        five curved arms (Johnson et al., 2016)                     arm     0.1 *
checkerboard    uniform on the dark squares of a 4x4 board over [-4, 4]^2   none    0.0
gmm-ring        8 Gaussians on a circle of radius 3                         comp.   0.25
gmm-grid        25 Gaussians on a 5x5 grid with spacing 1.5                 comp.   0.1
two-moons       two interleaving half circles, scaled by 2                  moon    0.1
swiss-roll      the 2-D swiss roll ``t (cos t, sin t)``, scaled by 1/4      none    0.1
rings           4 concentric circles of radii 0.9, 1.8, 2.7, 3.6            ring    0.08
==============  ==========================================================  ======  =========

``noise`` is the standard deviation of isotropic Gaussian noise added to the points, except for
pinwheel (*) where it is the tangential standard deviation (the radial one is fixed at 0.3).
Components are drawn uniformly at random, so class sizes vary slightly.

Seeds: split ``train`` draws from ``numpy.random.default_rng(SeedSequence(seed))`` and split
``test`` from ``SeedSequence(seed, spawn_key=(1,))``, a stream independent of every train seed,
so hold-out points never repeat training points. ``sample_toy(name, n, seed)`` is the train split.

References:
    M. J. Johnson, D. Duvenaud, A. B. Wiltschko, S. R. Datta, R. P. Adams, "Composing graphical
    models with neural networks for structured representations and fast inference", NeurIPS 2016
    (pinwheel).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genzoo.data.base import Dataset, DatasetInfo, DatasetSpec, labels_tensor
from genzoo.data.checks import as_float, as_int
from genzoo.errors import ConfigError
from genzoo.registry import datasets

ToyGenerator = Callable[[int, np.random.Generator, float], tuple[np.ndarray, np.ndarray | None]]


def _noisy(x: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    return x + noise * rng.standard_normal(x.shape) if noise > 0 else x


def _polar(r: np.ndarray, angle: np.ndarray) -> np.ndarray:
    return np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)


def spiral(n: int, rng: np.random.Generator, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Two arms ``r = t / 2.5`` at angle ``t + pi * arm``, ``t = 3 pi sqrt(u)``."""
    arm = rng.integers(2, size=n)
    t = 3 * math.pi * np.sqrt(rng.random(n))
    return _noisy(_polar(t / 2.5, t + math.pi * arm), rng, noise), arm


def pinwheel(n: int, rng: np.random.Generator, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Five arms: a Gaussian blob at (1, 0) swirled by an angle growing with its radius."""
    arm = rng.integers(5, size=n)
    radial = 1.0 + 0.3 * rng.standard_normal(n)
    tangential = noise * rng.standard_normal(n)
    angle = 2 * math.pi * arm / 5 + 0.25 * np.exp(radial)
    c, s = np.cos(angle), np.sin(angle)
    x = np.stack([c * radial - s * tangential, s * radial + c * tangential], axis=1)
    return 2 * x, arm


def checkerboard(n: int, rng: np.random.Generator, noise: float) -> tuple[np.ndarray, None]:
    """Uniform on the 8 squares of side 2 in [-4, 4]^2 whose (column + row) is even."""
    col = rng.integers(4, size=n)
    row = 2 * rng.integers(2, size=n) + col % 2
    x = np.stack([col + rng.random(n), row + rng.random(n)], axis=1) * 2 - 4
    return _noisy(x, rng, noise), None


def gmm_ring(n: int, rng: np.random.Generator, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Eight Gaussians with means ``3 (cos 2 pi k / 8, sin 2 pi k / 8)``."""
    k = rng.integers(8, size=n)
    return _noisy(_polar(np.full(n, 3.0), 2 * math.pi * k / 8), rng, noise), k


def gmm_grid(n: int, rng: np.random.Generator, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """25 Gaussians with means ``1.5 (i, j)``, ``i, j in {-2, ..., 2}``; label ``5 (i+2) + j+2``."""
    k = rng.integers(25, size=n)
    x = 1.5 * np.stack([k // 5 - 2, k % 5 - 2], axis=1).astype(np.float64)
    return _noisy(x, rng, noise), k


def two_moons(n: int, rng: np.random.Generator, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Upper moon ``(cos t, sin t)``, lower ``(1 - cos t, 1/2 - sin t)``, centred, times 2."""
    moon = rng.integers(2, size=n)
    t = math.pi * rng.random(n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    x = np.where(moon[:, None] == 0, upper, lower) - [0.5, 0.25]
    return _noisy(2 * x, rng, noise), moon


def swiss_roll(n: int, rng: np.random.Generator, noise: float) -> tuple[np.ndarray, None]:
    """``t (cos t, sin t) / 4`` with ``t`` uniform in [1.5 pi, 4.5 pi]."""
    t = 1.5 * math.pi * (1 + 2 * rng.random(n))
    return _noisy(_polar(t / 4, t), rng, noise), None


def rings(n: int, rng: np.random.Generator, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Four concentric circles of radii 0.9, 1.8, 2.7, 3.6, angle uniform."""
    ring = rng.integers(4, size=n)
    x = _polar(0.9 * (ring + 1), 2 * math.pi * rng.random(n))
    return _noisy(x, rng, noise), ring


#: name -> (generator, default noise, number of classes or None)
TOYS: dict[str, tuple[ToyGenerator, float, int | None]] = {
    "spiral": (spiral, 0.1, 2),
    "pinwheel": (pinwheel, 0.1, 5),
    "checkerboard": (checkerboard, 0.0, None),
    "gmm-ring": (gmm_ring, 0.25, 8),
    "gmm-grid": (gmm_grid, 0.1, 25),
    "two-moons": (two_moons, 0.1, 2),
    "swiss-roll": (swiss_roll, 0.1, None),
    "rings": (rings, 0.08, 4),
}

_STREAM = {"train": (), "test": (1,)}  # spawn keys of the split's random stream


def _generate(
    name: str, n: int, seed: int, noise: float | None, split: str
) -> tuple[Tensor, Tensor | None]:
    if name not in TOYS:
        raise ConfigError(f"unknown 2-D toy {name!r}; valid: {', '.join(TOYS)}")
    n = as_int("n", n, minimum=0)
    seed = as_int("seed", seed, minimum=0)
    generate, default_noise, _ = TOYS[name]
    noise = default_noise if noise is None else as_float("noise", noise, minimum=0.0)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=_STREAM[split]))
    x, y = generate(n, rng, noise)
    return torch.as_tensor(x, dtype=torch.float32), None if y is None else labels_tensor(y)


def sample_toy(name: str, n: int, seed: int = 0, noise: float | None = None) -> Tensor:
    """``n`` points of the 2-D toy ``name`` (the ``train`` split's stream of ``seed``).

    Args:
        name: one of ``TOYS``, e.g. ``"pinwheel"``.
        n: number of points.
        seed: non-negative seed.
        noise: noise level; ``None`` for the toy's default (see the module table).

    Returns:
        float32 tensor ``(n, 2)``.

    Example::

        x = sample_toy("gmm-ring", 512, seed=1)
    """
    return _generate(name, n, seed, noise, "train")[0]


def load_toy(
    name: str, split: str, n: int = 2000, seed: int = 0, noise: float | None = None
) -> Dataset:
    """Split ``train`` or ``test`` of a 2-D toy as a :class:`Dataset` of ``(n, 2)`` vectors."""
    x, y = _generate(name, n, seed, noise, split)
    info = DatasetInfo(
        name=name,
        shape=(2,),
        num_classes=TOYS[name][2],
        value_range=None,
        kind="vector",
        source=f"genzoo.data.toy2d.{TOYS[name][0].__name__}(split={split}, seed={seed}, "
        f"noise={TOYS[name][1] if noise is None else noise})",
    )
    return Dataset(x, y, info)


def _loader(name: str) -> Callable[..., Dataset]:
    def load(
        split: str,
        root: Path,
        verify: bool,
        download: bool,
        *,
        n: int = 2000,
        seed: int = 0,
        noise: float | None = None,
    ) -> Dataset:
        return load_toy(name, split, n=n, seed=seed, noise=noise)

    load.__doc__ = f"2-D toy {name!r}: float32 ``(n, 2)`` points; options n, seed, noise."
    return load


for _name, (_generator, _noise, _) in TOYS.items():
    datasets.register(
        _name,
        DatasetSpec(
            _name,
            _loader(_name),
            ("train", "test"),
            f"2-D toy: {(_generator.__doc__ or '').splitlines()[0]}",
        ),
    )
