"""fetch(): checksums, their cache, and downloads from a local HTTP mirror."""

from __future__ import annotations

import dataclasses
import gzip
import os
import socket

import numpy as np
import pytest

from genzoo.data import files, load_dataset, mnist
from genzoo.data.files import RemoteFile, fetch, read_gzip
from genzoo.errors import DataError

from fakes import write_fake_mnist


@pytest.fixture
def mirror(http_mirror):
    """Fake MNIST files on a local HTTP server; yields (url, what was written)."""
    folder, url = http_mirror
    return url, write_fake_mnist(folder, n_train=30, n_test=10, seed=3)


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GENZOO_OFFLINE", raising=False)


def _patch_mnist_checksums(monkeypatch: pytest.MonkeyPatch, sha256: dict[str, str]) -> None:
    for name, sha in sha256.items():
        spec = mnist.FILES["mnist"][name]
        monkeypatch.setitem(mnist.FILES["mnist"], name, dataclasses.replace(spec, sha256=sha))


def test_download_from_mirror_verifies_and_loads(tmp_path, mirror, monkeypatch):
    url, fake = mirror
    monkeypatch.setenv("GENZOO_MIRROR", url + "/")  # a trailing slash is fine
    _patch_mnist_checksums(monkeypatch, fake["train"].sha256)
    root = tmp_path / "data"
    ds = load_dataset("mnist", "train", root=root)
    assert np.array_equal(ds.x.numpy(), fake["train"].x)
    assert np.array_equal(ds.y.numpy(), fake["train"].y)
    assert sorted(p.name for p in (root / "mnist").iterdir()) == sorted(fake["train"].sha256)
    # A second load finds the files and does not need the mirror.
    monkeypatch.setenv("GENZOO_MIRROR", "http://127.0.0.1:9/nothing-here")
    assert len(load_dataset("mnist", "train", root=root)) == 30


def test_download_checksum_mismatch_leaves_nothing(tmp_path, mirror, monkeypatch):
    _, fake = mirror
    _patch_mnist_checksums(monkeypatch, {"train-images-idx3-ubyte.gz": "0" * 64})
    root = tmp_path / "data"
    with pytest.raises(DataError) as e:
        load_dataset("mnist", "train", root=root)
    message = str(e.value)
    assert "checksum mismatch" in message and "train-images-idx3-ubyte.gz" in message
    assert "0" * 64 in message and fake["train"].sha256["train-images-idx3-ubyte.gz"] in message
    assert os.listdir(root / "mnist") == []


def test_unreachable_mirror_names_file_url_and_folder(tmp_path, online, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("GENZOO_MIRROR", f"http://127.0.0.1:{port}")
    root = tmp_path / "data"
    with pytest.raises(DataError) as e:
        load_dataset("mnist", "test", root=root)
    message = str(e.value)
    assert "t10k-images-idx3-ubyte.gz" in message
    assert f"http://127.0.0.1:{port}/mnist/t10k-images-idx3-ubyte.gz" in message
    assert str(root / "mnist") in message
    assert os.listdir(root / "mnist") == []


def test_http_404_is_a_data_error(tmp_path, mirror, monkeypatch):
    url, _ = mirror
    monkeypatch.setenv("GENZOO_MIRROR", url + "/no-such-folder")
    with pytest.raises(DataError, match="cannot download t10k-images-idx3-ubyte.gz"):
        load_dataset("mnist", "test", root=tmp_path / "data")


def test_offline_missing_file_says_where_to_put_it(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("mnist", "test", root=tmp_path)
    message = str(e.value)
    assert "missing t10k-images-idx3-ubyte.gz" in message and "downloads are off" in message
    assert "http://yann.lecun.com/exdb/mnist/t10k-images-idx3-ubyte.gz" in message
    assert str(tmp_path / "mnist") in message


def test_download_false_is_offline(tmp_path, online):
    with pytest.raises(DataError, match="downloads are off"):
        load_dataset("fashion-mnist", "test", root=tmp_path, download=False)


def test_no_direct_download_names_the_page(tmp_path, online):
    with pytest.raises(DataError) as e:
        load_dataset("hoda", "test", root=tmp_path)
    assert "no direct download" in str(e.value) and "farsiocr.ir" in str(e.value)


def test_wrong_checksum_on_disk(tmp_path):
    write_fake_mnist(tmp_path, n_train=5, n_test=5)
    with pytest.raises(DataError) as e:
        load_dataset("mnist", "test", root=tmp_path)
    message = str(e.value)
    assert "checksum mismatch" in message and "t10k-images-idx3-ubyte.gz" in message
    assert mnist.FILES["mnist"]["t10k-images-idx3-ubyte.gz"].sha256 in message
    assert "data.verify=false" in message
    assert len(load_dataset("mnist", "test", root=tmp_path, verify=False)) == 5


def test_checksum_cache_sees_changed_files(tmp_path):
    path = tmp_path / "f" / "a.bin"
    path.parent.mkdir()
    path.write_bytes(b"hello")
    spec = RemoteFile("f", "a.bin", None, sha256=files.file_digest(path, "sha256"))
    assert fetch(spec, tmp_path) == path
    assert any(key[0] == str(path.resolve()) for key in files._digests)
    path.write_bytes(b"hellO")  # same size; the mtime changes
    os.utime(path, ns=(0, 10**9))
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch(spec, tmp_path)


def test_md5_used_without_sha256(tmp_path):
    path = tmp_path / "f" / "a.bin"
    path.parent.mkdir()
    path.write_bytes(b"abc")
    fetch(RemoteFile("f", "a.bin", None, md5="900150983cd24fb0d6963f7d28e17f72"), tmp_path)
    with pytest.raises(DataError, match="expected md5 0+, got 9001"):
        fetch(RemoteFile("f", "a.bin", None, md5="0" * 32), tmp_path)


def test_corrupt_gzip(tmp_path):
    bad = tmp_path / "x.gz"
    bad.write_bytes(gzip.compress(os.urandom(1000))[:-20])
    with pytest.raises(DataError, match="is not a valid gzip file"):
        read_gzip(bad)
    bad.write_bytes(b"this is not gzip at all")
    with pytest.raises(DataError, match=r"x\.gz is not a valid gzip file"):
        read_gzip(bad)
