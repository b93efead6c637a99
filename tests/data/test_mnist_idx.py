"""IDX parsing and the MNIST / Fashion-MNIST loaders on small synthetic files."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from genzoo.data import load_dataset
from genzoo.data.idx import MAGIC_IMAGES, MAGIC_LABELS, parse_idx
from genzoo.errors import DataError

from fakes import idx_bytes, write_fake_mnist

IMAGES = "t10k-images-idx3-ubyte.gz"
LABELS = "t10k-labels-idx1-ubyte.gz"


def test_parse_idx_round_trip():
    x = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(parse_idx(idx_bytes(x), "x", magic=MAGIC_IMAGES), x)
    y = np.array([3, 1, 4], np.uint8)
    assert np.array_equal(parse_idx(idx_bytes(y), "y", magic=MAGIC_LABELS), y)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_fake_files_load(tmp_path, name):
    fake = write_fake_mnist(tmp_path, n_train=12, n_test=7, seed=1, name=name)
    for split in ("train", "test"):
        ds = load_dataset(name, split, root=tmp_path, verify=False)
        assert ds.x.shape == (len(fake[split].x), 1, 28, 28) and ds.x.dtype == torch.uint8
        assert np.array_equal(ds.x.numpy(), fake[split].x)
        assert np.array_equal(ds.y.numpy(), fake[split].y)
        assert ds.info.value_range == (0, 255) and ds.info.num_classes == 10
    assert (ds.info.class_names[0] == "T-shirt/top") == (name == "fashion-mnist")


def _rewrite(path, data: bytes) -> None:
    path.write_bytes(gzip.compress(data))


def test_truncated_idx(tmp_path):
    write_fake_mnist(tmp_path, n_train=3, n_test=4)
    path = tmp_path / "mnist" / IMAGES
    _rewrite(path, gzip.decompress(path.read_bytes())[:-10])
    with pytest.raises(DataError) as e:
        load_dataset("mnist", "test", root=tmp_path, verify=False)
    expected = 16 + 4 * 28 * 28
    assert f"truncated IDX file {path}: expected {expected} bytes" in str(e.value)
    assert f"got {expected - 10}" in str(e.value)


def test_truncated_header(tmp_path):
    write_fake_mnist(tmp_path, n_train=3, n_test=4)
    _rewrite(tmp_path / "mnist" / LABELS, b"\x00\x00\x08")
    with pytest.raises(DataError, match="truncated IDX file .*t10k-labels"):
        load_dataset("mnist", "test", root=tmp_path, verify=False)


def test_bad_magic(tmp_path):
    write_fake_mnist(tmp_path, n_train=3, n_test=4)
    # the labels file where the images should be
    (tmp_path / "mnist" / IMAGES).write_bytes((tmp_path / "mnist" / LABELS).read_bytes())
    with pytest.raises(DataError) as e:
        load_dataset("mnist", "test", root=tmp_path, verify=False)
    assert "magic number 2049, expected 2051" in str(e.value) and IMAGES in str(e.value)


def test_corrupt_gzip(tmp_path):
    write_fake_mnist(tmp_path, n_train=3, n_test=4)
    path = tmp_path / "mnist" / LABELS
    path.write_bytes(path.read_bytes()[:-12])  # cut off the end of the stream
    with pytest.raises(DataError, match=f"{LABELS} is not a valid gzip file"):
        load_dataset("mnist", "test", root=tmp_path, verify=False)


def test_label_count_must_match(tmp_path):
    write_fake_mnist(tmp_path, n_train=3, n_test=4)
    _rewrite(tmp_path / "mnist" / LABELS, idx_bytes(np.zeros(5, np.uint8)))
    with pytest.raises(DataError, match="has 5 labels but .* has 4 images"):
        load_dataset("mnist", "test", root=tmp_path, verify=False)
