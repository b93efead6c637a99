"""load_dataset, data_root, split_indices and the registry entries."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from genzoo.data import data_root, load_dataset, split_indices
from genzoo.errors import ConfigError, DataError, UserError
from genzoo.registry import datasets

EXPECTED = {
    "mnist", "fashion-mnist", "binarized-mnist", "hoda", "cifar10", "svhn", "digits", "folder",
    "arrays", "spiral", "pinwheel", "checkerboard", "gmm-ring", "gmm-grid", "two-moons",
    "swiss-roll", "rings",
}  # fmt: skip


def test_registered():
    assert set(datasets.names()) >= EXPECTED
    for name in EXPECTED:
        spec = datasets.get(name)
        assert spec.name == name and spec.splits and spec.description
        assert all("/" in f for f in spec.files)


def test_unknown_split_and_option():
    with pytest.raises(ConfigError, match="'mnist' has no split 'valid'; valid: train, test"):
        load_dataset("mnist", "valid")
    with pytest.raises(ConfigError, match="dataset 'spiral' has no option 'size'; valid: n, seed"):
        load_dataset("spiral", size=3)
    with pytest.raises(ConfigError, match="has no option 'n'; valid: \\(none\\)"):
        load_dataset("mnist", "test", n=3)
    with pytest.raises(ConfigError, match="unknown dataset 'mnsit'"):
        load_dataset("mnsit")
    with pytest.raises(ConfigError, match="verify must be true or false, got 'no'"):
        load_dataset("mnist", verify="no")


def test_default_split_is_the_first():
    source = load_dataset("spiral", n=5).info.source
    assert source.startswith("genzoo.data.toy2d.spiral(split=train")


def test_data_errors_are_user_errors(tmp_path):
    with pytest.raises(UserError):
        load_dataset("mnist", root=tmp_path)
    assert issubclass(DataError, UserError)


def test_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("GENZOO_DATA", str(tmp_path))
    assert data_root() == tmp_path
    assert data_root("~/x") == Path.home() / "x"
    monkeypatch.delenv("GENZOO_DATA")
    assert data_root() == Path.home() / ".cache/genzoo/data"


@pytest.mark.parametrize("n", [0, 1, 2, 10, 1797])
@pytest.mark.parametrize("fractions", [(1.0,), (0.8, 0.2), (0.5, 0.3, 0.2), (0.1, 0.45, 0.45)])
def test_split_indices(n, fractions):
    parts = split_indices(n, fractions, seed=0)
    assert len(parts) == len(fractions)
    assert all(p.dtype == torch.int64 for p in parts)
    assert torch.equal(torch.sort(torch.cat(parts)).values, torch.arange(n))  # disjoint, covering
    for p, f in zip(parts[1:], fractions[1:], strict=True):
        assert len(p) == round(n * f)
    again = split_indices(n, fractions, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(parts, again, strict=True))


def test_split_indices_seed_and_errors():
    a, _ = split_indices(100, (0.5, 0.5), seed=0)
    b, _ = split_indices(100, (0.5, 0.5), seed=1)
    assert not torch.equal(a, b)
    for bad in [(0.5, 0.4), (1.2, -0.2), (), (0.0, 1.0)]:
        with pytest.raises(ConfigError, match="split fractions must"):
            split_indices(10, bad, seed=0)
    with pytest.raises(ConfigError, match="too few items"):
        split_indices(2, (0.01, 0.33, 0.33, 0.33), seed=0)
