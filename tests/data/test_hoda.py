"""HODA: the .cdb run-length format, the .mat training file and fitting into 28x28."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import scipy.io
import torch

from genzoo.data import load_dataset
from genzoo.data.cdb import parse_cdb
from genzoo.data.hoda import fit_to_canvas
from genzoo.errors import ConfigError, DataError


def _row_runs(row: np.ndarray) -> list[int]:
    """Run lengths of one row, alternating white (0), black (ink), starting with white."""
    runs, ink, count = [], False, 0
    for p in row:
        if bool(p) == ink:
            count += 1
        else:
            runs.append(count)
            ink, count = bool(p), 1
    return [*runs, count]


def encode_cdb(images: list[np.ndarray], labels: list[int], total: int | None = None) -> bytes:
    """A variable-size binary .cdb file holding ``images`` (ink > 0) with ``labels``."""
    counts = np.bincount(labels, minlength=128).tolist()
    header = struct.pack("<HBBBBI128IB", 2005, 8, 4, 0, 0, total or len(images), *counts, 0)
    header += b"comment".ljust(256, b"\0") + bytes(245)
    assert len(header) == 1024
    body = bytearray()
    for img, label in zip(images, labels, strict=True):
        runs = bytes(r for row in img for r in _row_runs(row))
        h, w = img.shape
        body += bytes([0xFF, label, w, h]) + struct.pack("<H", len(runs)) + runs
    return header + bytes(body)


def _random_images(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        h, w = rng.integers(1, 40, size=2)
        images.append(np.where(rng.random((h, w)) < 0.4, 255, 0).astype(np.uint8))
    images.append(np.full((3, 5), 255, np.uint8))  # rows that start with ink
    images.append(np.zeros((4, 2), np.uint8))  # no ink at all
    return images


def test_cdb_round_trip():
    images = _random_images(50)
    labels = [i % 10 for i in range(len(images))]
    decoded, found = parse_cdb(encode_cdb(images, labels), "fake.cdb")
    assert found.tolist() == labels
    assert all(np.array_equal(a, b) for a, b in zip(decoded, images, strict=True))


def _write_cdb(root, data: bytes, name: str = "Test_20000.cdb"):
    (root / "hoda").mkdir(parents=True, exist_ok=True)
    (root / "hoda" / name).write_bytes(data)
    return root / "hoda" / name


def test_load_cdb_split_fits_and_centres(tmp_path):
    tall = np.zeros((24, 12), np.uint8)
    tall[:, 5:7] = 255
    images = [tall, *_random_images(5)]
    labels = [7, 1, 2, 3, 4, 5, 6, 0]
    _write_cdb(tmp_path, encode_cdb(images, labels), "RemainingSamples.cdb")
    ds = load_dataset("hoda", "remaining", root=tmp_path, verify=False)
    assert ds.x.shape == (8, 1, 28, 28) and ds.y.tolist() == labels
    expected = np.zeros((28, 28), np.uint8)
    expected[2:26, 8:20] = tall  # already 24 tall: no resampling, centred
    assert np.array_equal(ds.x[0, 0].numpy(), expected)
    for i, img in enumerate(images):  # the longer side of every digit spans the box
        x = ds.x[i, 0].numpy()
        if img.any():
            rows, cols = np.flatnonzero(x.any(1)), np.flatnonzero(x.any(0))
            assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 24


def test_mat_training_file(tmp_path):
    images = _random_images(6, seed=1)
    cells = np.empty((len(images), 1), dtype=object)
    for i, img in enumerate(images):
        cells[i, 0] = img
    labels = np.arange(len(images), dtype=np.uint8).reshape(-1, 1) % 10
    (tmp_path / "hoda").mkdir()
    scipy.io.savemat(tmp_path / "hoda" / "Data_hoda_full.mat", {"Data": cells, "labels": labels})
    ds = load_dataset("hoda", "train", root=tmp_path, verify=False)
    assert ds.x.shape == (len(images), 1, 28, 28)
    assert ds.y.tolist() == labels.ravel().tolist()
    assert np.array_equal(ds.x[:, 0].numpy(), fit_to_canvas(images, 24))


def _write_mat(root, images, labels) -> None:
    cells = np.empty((len(images), 1), dtype=object)
    for i, img in enumerate(images):
        cells[i, 0] = img
    (root / "hoda").mkdir(exist_ok=True)
    scipy.io.savemat(root / "hoda" / "Data_hoda_full.mat",
                     {"Data": cells, "labels": np.asarray(labels, np.uint8).reshape(-1, 1)})


def test_hoda_split_is_disjoint_seeded_85_10_5_and_binary(tmp_path):
    images = _random_images(198, seed=3)  # + 2 fixed ones: 200 digits
    labels = [i % 10 for i in range(200)]
    for i, img in enumerate(images):  # tag each image by its index in the file
        img[0, 0], img[-1, -1] = 255, 255
        images[i] = np.pad(img, ((0, 0), (0, i % 7)))
    _write_mat(tmp_path, images, labels)
    full = load_dataset("hoda", "train", root=tmp_path, verify=False)

    def split(name, **options):
        return load_dataset("hoda-split", name, root=tmp_path, verify=False, **options)

    parts = {name: split(name) for name in ("train", "val", "test")}
    assert [len(parts[n]) for n in ("train", "val", "test")] == [170, 20, 10]
    binary = torch.where(full.x >= 128, 255, 0).to(torch.uint8)
    found = []
    for ds in parts.values():
        assert set(ds.x.unique().tolist()) <= {0, 255}
        for x, y in zip(ds.x, ds.y, strict=True):  # every item is one of the file's
            matches = (binary == x).flatten(1).all(1).nonzero().flatten().tolist()
            assert matches and all(full.y[m] == y for m in matches)
            found.append(matches[0])
    # disjoint and together the whole file (up to identical images)
    assert len(set(found)) == len({tuple(binary[i].flatten().tolist()) for i in range(200)})
    again = split("val")
    assert torch.equal(again.x, parts["val"].x) and torch.equal(again.y, parts["val"].y)
    other = split("val", seed=1)
    assert not torch.equal(other.y, parts["val"].y) or not torch.equal(other.x, parts["val"].x)
    grey = split("train", binary=False)
    assert len(set(grey.x.unique().tolist()) - {0, 255}) > 0
    assert parts["train"].info.name == "hoda-split" and "seed=0" in parts["train"].info.source
    with pytest.raises(ConfigError, match="option 'binary'"):
        split("train", binary="yes")
    with pytest.raises(ConfigError, match="no split 'remaining'"):
        split("remaining")


def test_box_option(tmp_path):
    img = np.full((10, 5), 255, np.uint8)
    _write_cdb(tmp_path, encode_cdb([img], [3]))
    ds = load_dataset("hoda", "test", root=tmp_path, verify=False, box=28)
    assert ds.x[0, 0, :, 0].max() == 0 and ds.x[0, 0, 0].max() == 255  # full height, 14 wide
    for bad in (0, 29, "24", 2.5):
        with pytest.raises(ConfigError, match="option 'box'"):
            load_dataset("hoda", "test", root=tmp_path, verify=False, box=bad)


def _good() -> tuple[list[np.ndarray], list[int]]:
    return _random_images(3, seed=2), [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda d: d[:500], "shorter than its 1024-byte header"),
        (lambda d: d[:-3], "truncated .cdb file"),
        (lambda d: d + b"\xff\x01", "2 extra bytes after its 5 records"),
        (lambda d: d[:1024] + b"\xfe" + d[1025:], r"record 0 at byte 1024 starts with 0xfe"),
        (lambda d: d[:6] + struct.pack("<I", 7) + d[10:], "record 5 of 7 at byte"),
        (lambda d: d[:4] + b"\x10\x10" + d[6:], "only variable-size binary .cdb files"),
        (lambda d: d[:10] + struct.pack("<I", 9) + d[14:], "disagree with the header's"),
    ],
)
def test_malformed_cdb(tmp_path, corrupt, message):
    data = corrupt(encode_cdb(*_good()))
    path = _write_cdb(tmp_path, data)
    with pytest.raises(DataError, match=message) as e:
        load_dataset("hoda", "test", root=tmp_path, verify=False)
    assert str(path) in str(e.value)


def test_runs_that_do_not_fill_rows(tmp_path):
    data = bytearray(encode_cdb(*_good()))
    data[1024 + 6] += 1  # first run of record 0 one pixel too long
    _write_cdb(tmp_path, bytes(data))
    with pytest.raises(DataError, match="record 0 at byte 1024: run lengths do not split"):
        load_dataset("hoda", "test", root=tmp_path, verify=False)


def test_the_fitted_file_is_reused_only_while_unchanged(tmp_path):
    from genzoo.data import hoda

    _write_mat(tmp_path, _random_images(8, seed=4), list(range(10)))
    first = load_dataset("hoda-split", "train", root=tmp_path, verify=False)
    first.x.zero_()  # callers own their tensors: the cache is not touched
    first.y.zero_()
    again = load_dataset("hoda-split", "train", root=tmp_path, verify=False)
    assert again.x.any() and again.y.any()
    assert len(hoda._LAST_FITTED) == 1
    _write_mat(tmp_path, _random_images(18, seed=5), [i % 10 for i in range(20)])
    assert len(load_dataset("hoda", "train", root=tmp_path, verify=False)) == 20
