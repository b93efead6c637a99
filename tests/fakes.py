"""Small fake dataset files in exactly the publishers' formats, for tests and smoke runs.

The writers put files where the loaders look (``root/mnist/*-ubyte.gz``,
``root/cifar10/cifar-10-python.tar.gz``, ``root/svhn/{split}_32x32.mat``) and return what they
wrote, including each file's checksums (to patch into a loader's ``FILES`` so that its verify path
runs). They register nothing.

Example::

    fake = write_fake_cifar10(tmp_path, n_train=50, n_test=10, seed=0)
    ds = load_dataset("cifar10", "test", root=tmp_path, verify=False)
    assert (ds.x.numpy() == fake["test"].x).all()
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck")  # fmt: skip


@dataclass(frozen=True)
class FakeSplit:
    """One written split: the arrays the loader must return, and the files holding them.

    Attributes:
        x: uint8 ``(N, C, H, W)``, as the loader returns it.
        y: int64 ``(N,)`` labels 0-9, as the loader returns them.
        paths: the files written for this split (CIFAR-10's one archive is shared by both).
        md5: file name -> MD5 of each file in ``paths``.
        sha256: file name -> SHA-256 of each file in ``paths``.
    """

    x: np.ndarray
    y: np.ndarray
    paths: tuple[Path, ...]
    md5: dict[str, str]
    sha256: dict[str, str]


def _split(x: np.ndarray, y: np.ndarray, *paths: Path) -> FakeSplit:
    md5, sha256 = {}, {}
    for p in paths:
        data = p.read_bytes()
        md5[p.name] = hashlib.md5(data).hexdigest()
        sha256[p.name] = hashlib.sha256(data).hexdigest()
    return FakeSplit(x, y, paths, md5, sha256)


def idx_bytes(a: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array ``(N,)`` (magic 2049) or ``(N, H, W)`` (magic 2051)."""
    header = struct.pack(">HBB", 0, 0x08, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
    return header + np.ascontiguousarray(a, dtype=np.uint8).tobytes()


def write_fake_mnist(
    root: Path | str, n_train: int = 60, n_test: int = 20, seed: int = 0, name: str = "mnist"
) -> dict[str, FakeSplit]:
    """Write the four gzip IDX files of ``mnist`` or ``fashion-mnist`` under ``root/name/``.

    Returns:
        ``{"train": FakeSplit, "test": FakeSplit}`` with ``x`` uint8 ``(N, 1, 28, 28)``.
    """
    rng = np.random.default_rng(seed)
    written = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        x = rng.integers(0, 256, size=(n, 1, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, size=n).astype(np.int64)
        images = Path(root) / name / f"{prefix}-images-idx3-ubyte.gz"
        labels = Path(root) / name / f"{prefix}-labels-idx1-ubyte.gz"
        images.parent.mkdir(parents=True, exist_ok=True)
        images.write_bytes(gzip.compress(idx_bytes(x[:, 0]), mtime=0))
        labels.write_bytes(gzip.compress(idx_bytes(y.astype(np.uint8)), mtime=0))
        written[split] = _split(x, y, images, labels)
    return written


def _fake_images(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 ``(n, 3, 32, 32)`` images and labels ``(n,)``."""
    x = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    return x, rng.integers(0, 10, size=n).astype(np.int64)


def _add_member(tar: tarfile.TarFile, name: str, obj: object) -> None:
    data = pickle.dumps(obj, protocol=2)
    info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_fake_cifar10(
    root: Path | str, n_train: int = 50, n_test: int = 10, seed: int = 0
) -> dict[str, FakeSplit]:
    """Write ``root/cifar10/cifar-10-python.tar.gz`` in the CIFAR-10 python format.

    The train items are spread over ``data_batch_1..5`` (the first batches get one more when
    ``n_train`` is not a multiple of 5); each batch is a protocol-2 pickled dict with ``data``
    ``(n, 3072)`` uint8 (R, G, B planes, row-major), ``labels``, ``filenames``, ``batch_label``.

    Returns:
        ``{"train": FakeSplit, "test": FakeSplit}``.
    """
    rng = np.random.default_rng(seed)
    x_train, y_train = _fake_images(rng, n_train)
    x_test, y_test = _fake_images(rng, n_test)
    path = Path(root) / "cifar10" / "cifar-10-python.tar.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    batches = [
        (f"data_batch_{i + 1}", part)
        for i, part in enumerate(np.array_split(np.arange(n_train), 5))
    ]
    with tarfile.open(path, "w:gz") as tar:
        for name, index in [*batches, ("test_batch", None)]:
            x, y = (x_train[index], y_train[index]) if index is not None else (x_test, y_test)
            _add_member(
                tar,
                name,
                {
                    "batch_label": f"fake {name}",
                    "labels": [int(v) for v in y],
                    "data": x.reshape(len(x), 3 * 32 * 32),
                    "filenames": [f"fake_{name}_{i}.png" for i in range(len(x))],
                },
            )
        _add_member(
            tar,
            "batches.meta",
            {
                "label_names": list(CIFAR_CLASSES),
                "num_cases_per_batch": 10000,
                "num_vis": 3072,
            },
        )
    return {"train": _split(x_train, y_train, path), "test": _split(x_test, y_test, path)}


def write_fake_svhn(root: Path | str, n_per_split: int = 20, seed: int = 0) -> dict[str, FakeSplit]:
    """Write ``root/svhn/{train,test,extra}_32x32.mat`` in the SVHN cropped-digits format.

    Each holds ``X`` uint8 ``(32, 32, 3, N)`` (row, column, channel, item) and ``y`` ``(N, 1)``
    uint8 labels 1..10, 10 standing for the digit 0.

    Returns:
        ``{"train": FakeSplit, "test": FakeSplit, "extra": FakeSplit}``.
    """
    rng = np.random.default_rng(seed)
    written = {}
    for split in ("train", "test", "extra"):
        x, y = _fake_images(rng, n_per_split)
        path = Path(root) / "svhn" / f"{split}_32x32.mat"
        path.parent.mkdir(parents=True, exist_ok=True)
        y_file = np.where(y == 0, 10, y).astype(np.uint8).reshape(-1, 1)
        scipy.io.savemat(path, {"X": x.transpose(2, 3, 1, 0), "y": y_file})
        written[split] = _split(x, y, path)
    return written
