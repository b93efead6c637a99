"""CIFAR-10 and SVHN loaders on small synthetic files in the original formats."""

from __future__ import annotations

import dataclasses
import io
import pickle
import tarfile

import numpy as np
import pytest
import scipy.io
import torch

from genzoo.data import cifar, load_dataset, svhn
from genzoo.errors import DataError

from fakes import CIFAR_CLASSES, write_fake_cifar10, write_fake_svhn


@pytest.fixture
def fake_cifar(tmp_path):
    return tmp_path, write_fake_cifar10(tmp_path, n_train=23, n_test=7, seed=0)


def test_cifar10_loads(fake_cifar):
    root, fake = fake_cifar
    for split, n in (("train", 23), ("test", 7)):
        ds = load_dataset("cifar10", split, root=root, verify=False)
        assert ds.x.shape == (n, 3, 32, 32) and ds.x.dtype == torch.uint8
        assert np.array_equal(ds.x.numpy(), fake[split].x)
        assert np.array_equal(ds.y.numpy(), fake[split].y)
        assert ds.info.class_names == CIFAR_CLASSES and ds.info.value_range == (0, 255)


def test_cifar10_pixel_layout(fake_cifar):
    """``data[i, c * 1024 + row * 32 + col]`` is channel c, row, col of image i."""
    root, fake = fake_cifar
    with tarfile.open(fake["test"].paths[0]) as tar:
        raw = tar.extractfile("cifar-10-batches-py/test_batch").read()
    data = pickle.load(io.BytesIO(raw), encoding="latin1")["data"]
    ds = load_dataset("cifar10", "test", root=root, verify=False)
    for i, c, row, col in [(0, 0, 0, 1), (1, 1, 5, 7), (6, 2, 31, 0), (3, 2, 17, 30)]:
        assert ds.x[i, c, row, col] == data[i, c * 1024 + row * 32 + col]


def test_cifar10_verifies_patched_md5(fake_cifar, monkeypatch):
    root, fake = fake_cifar
    name = "cifar-10-python.tar.gz"
    with pytest.raises(DataError, match="checksum mismatch .* expected md5 c58f3010"):
        load_dataset("cifar10", "test", root=root)
    spec = dataclasses.replace(cifar.FILES[name], md5=fake["test"].md5[name])
    monkeypatch.setitem(cifar.FILES, name, spec)
    assert len(load_dataset("cifar10", "test", root=root)) == 7


def test_cifar10_refuses_code_in_pickles(tmp_path):
    path = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    path.parent.mkdir()
    evil = pickle.dumps({"data": print}, protocol=2)
    with tarfile.open(path, "w:gz") as tar:
        for name in ("test_batch", "batches.meta"):
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(evil)
            tar.addfile(info, io.BytesIO(evil))
    with pytest.raises(DataError, match="not a CIFAR batch pickle .*unexpected object"):
        load_dataset("cifar10", "test", root=tmp_path, verify=False)


def test_cifar10_bad_archive(tmp_path):
    path = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    path.parent.mkdir()
    path.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DataError, match="is not a valid tar.gz archive"):
        load_dataset("cifar10", "train", root=tmp_path, verify=False)
    with tarfile.open(path, "w:gz"):
        pass
    with pytest.raises(DataError, match="lacks cifar-10-batches-py/data_batch_1"):
        load_dataset("cifar10", "train", root=tmp_path, verify=False)


def test_svhn_loads_and_maps_ten_to_zero(tmp_path):
    fake = write_fake_svhn(tmp_path, n_per_split=40, seed=1)
    for split in ("train", "test", "extra"):
        ds = load_dataset("svhn", split, root=tmp_path, verify=False)
        assert ds.x.shape == (40, 3, 32, 32) and ds.x.dtype == torch.uint8
        assert np.array_equal(ds.x.numpy(), fake[split].x)
        assert np.array_equal(ds.y.numpy(), fake[split].y)
    mat = scipy.io.loadmat(fake["test"].paths[0])
    ds = load_dataset("svhn", "test", root=tmp_path, verify=False)
    file_y = mat["y"].ravel()
    assert (file_y == 10).any() and set(file_y.tolist()) <= set(range(1, 11))
    assert ds.y.tolist() == [0 if v == 10 else int(v) for v in file_y]
    for i, c, row, col in [(0, 0, 0, 1), (1, 1, 5, 7), (39, 2, 31, 0)]:
        assert ds.x[i, c, row, col] == mat["X"][row, col, c, i]


def test_svhn_verifies_patched_md5(tmp_path, monkeypatch):
    fake = write_fake_svhn(tmp_path, n_per_split=5)
    with pytest.raises(DataError, match="checksum mismatch .*test_32x32.mat"):
        load_dataset("svhn", "test", root=tmp_path)
    name = "test_32x32.mat"
    monkeypatch.setitem(
        svhn.FILES, name, dataclasses.replace(svhn.FILES[name], md5=fake["test"].md5[name])
    )
    assert len(load_dataset("svhn", "test", root=tmp_path)) == 5


def test_svhn_wrong_shape(tmp_path):
    (tmp_path / "svhn").mkdir()
    scipy.io.savemat(
        tmp_path / "svhn" / "test_32x32.mat",
        {"X": np.zeros((3, 32, 32, 4), np.uint8), "y": np.ones((4, 1), np.uint8)},
    )
    message = r"'X' has shape \(3, 32, 32, 4\).*expected \(32, 32, 3, N\)"
    with pytest.raises(DataError, match=message):
        load_dataset("svhn", "test", root=tmp_path, verify=False)
