"""2-D toys: determinism, independence of seeds and splits, shapes, ranges, labels."""

from __future__ import annotations

import pytest
import torch

from genzoo.data import load_dataset, sample_toy
from genzoo.data.toy2d import TOYS
from genzoo.errors import ConfigError

NAMES = list(TOYS)


@pytest.mark.parametrize("name", NAMES)
def test_toy_shape_range_labels(name):
    ds = load_dataset(name, "train", n=3000, seed=0)
    assert ds.x.shape == (3000, 2) and ds.x.dtype == torch.float32
    assert torch.isfinite(ds.x).all()
    assert ds.x.abs().max() < 4.6 and ds.x.std() > 0.5  # about [-4, 4], not collapsed
    assert ds.info.kind == "vector" and ds.info.value_range is None and ds.info.shape == (2,)
    k = TOYS[name][2]
    assert ds.info.num_classes == k
    if k is None:
        assert ds.y is None
    else:
        assert ds.y.dtype == torch.int64 and set(ds.y.tolist()) == set(range(k))


@pytest.mark.parametrize("name", NAMES)
def test_toy_determinism_and_independence(name):
    a = load_dataset(name, "train", n=500, seed=1).x
    assert torch.equal(a, load_dataset(name, "train", n=500, seed=1).x)
    assert torch.equal(a, sample_toy(name, 500, seed=1))
    assert not torch.equal(a, load_dataset(name, "train", n=500, seed=2).x)
    test = load_dataset(name, "test", n=500, seed=1).x
    assert not torch.equal(a, test)
    distance = torch.cdist(test, a, compute_mode="donot_use_mm_for_euclid_dist")
    assert distance.min() > 0  # no hold-out point repeats a training point
    assert not torch.equal(test, load_dataset(name, "train", n=500, seed=0).x)


@pytest.mark.parametrize("n", [0, 1, 7])
def test_any_n(n):
    for name in NAMES:
        assert sample_toy(name, n, seed=3).shape == (n, 2)


def test_noise_option():
    def radius_std(noise: float) -> float:
        return sample_toy("gmm-ring", 2000, seed=0, noise=noise).norm(dim=1).std().item()

    assert radius_std(0.01) < 0.05 < radius_std(0.5)
    r = sample_toy("rings", 100, seed=0, noise=0.0).norm(dim=1) / 0.9
    assert torch.allclose(r, r.round(), atol=1e-5)  # exactly on the rings without noise
    assert sample_toy("checkerboard", 1000, seed=0).abs().max() <= 4  # default noise 0


def test_bad_options():
    with pytest.raises(ConfigError, match="option 'n' must be an integer"):
        load_dataset("spiral", n=2.5)
    with pytest.raises(ConfigError, match="option 'n' must be >= 0"):
        load_dataset("spiral", n=-1)
    with pytest.raises(ConfigError, match="option 'seed' must be >= 0"):
        load_dataset("spiral", seed=-3)
    with pytest.raises(ConfigError, match="option 'noise' must be >= 0"):
        load_dataset("spiral", noise=-0.1)
    with pytest.raises(ConfigError, match="option 'noise' must be a finite number"):
        load_dataset("spiral", noise="lots")
    with pytest.raises(ConfigError, match="unknown 2-D toy 'moons'"):
        sample_toy("moons", 10)
