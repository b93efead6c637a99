"""Binarized MNIST .amat parsing on small synthetic files."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib

import numpy as np
import pytest

from genzoo.data import binarized_mnist, load_dataset
from genzoo.errors import DataError


def _amat(x: np.ndarray) -> bytes:
    return "".join(" ".join(map(str, row)) + "\n" for row in x.reshape(len(x), -1)).encode()


def _write(root, split: str, data: bytes, *, compress: bool = True) -> None:
    folder = root / "binarized-mnist"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"binarized_mnist_{split}.amat"
    if compress:
        (folder / (name + ".gz")).write_bytes(gzip.compress(data))
    else:
        (folder / name).write_bytes(data)


@pytest.mark.parametrize("compress", [True, False])
def test_amat_round_trip(tmp_path, compress):
    x = np.random.default_rng(0).integers(0, 2, size=(6, 1, 28, 28), dtype=np.uint8)
    _write(tmp_path, "valid", _amat(x), compress=compress)
    ds = load_dataset("binarized-mnist", "valid", root=tmp_path, verify=False)
    assert np.array_equal(ds.x.numpy(), x)
    assert ds.y is None and ds.info.num_classes is None and ds.info.value_range == (0, 1)


def test_bad_value(tmp_path):
    x = np.zeros((3, 784), np.uint8)
    data = bytearray(_amat(x))
    data[1568 * 2 + 10] = ord("2")  # line 3
    _write(tmp_path, "test", bytes(data))
    with pytest.raises(DataError, match=r"binarized_mnist_test\.amat\.gz line 3 is not 784"):
        load_dataset("binarized-mnist", "test", root=tmp_path, verify=False)


def test_bad_line_length(tmp_path):
    _write(tmp_path, "test", b"0 1 0 1\n" * 10)
    with pytest.raises(DataError, match="not a whole number of 1568-byte lines"):
        load_dataset("binarized-mnist", "test", root=tmp_path, verify=False)


def test_missing_names_both_forms(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("binarized-mnist", "train", root=tmp_path)
    message = str(e.value)
    assert "binarized_mnist_train.amat " in message and "binarized_mnist_train.amat.gz" in message
    assert "cs.toronto.edu/~larocheh" in message and str(tmp_path / "binarized-mnist") in message


def test_gz_downloaded_from_mirror(tmp_path, http_mirror, monkeypatch):
    folder, url = http_mirror
    x = np.random.default_rng(1).integers(0, 2, size=(4, 1, 28, 28), dtype=np.uint8)
    _write(folder, "test", _amat(x))
    served = folder / "binarized-mnist" / "binarized_mnist_test.amat.gz"
    name = served.name
    spec = binarized_mnist.FILES[name]
    sha = hashlib.sha256(served.read_bytes()).hexdigest()
    monkeypatch.setitem(binarized_mnist.FILES, name, dataclasses.replace(spec, sha256=sha))
    ds = load_dataset("binarized-mnist", "test", root=tmp_path / "data")
    assert np.array_equal(ds.x.numpy(), x)
    assert (tmp_path / "data" / "binarized-mnist" / name).is_file()
