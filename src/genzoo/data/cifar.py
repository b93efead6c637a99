"""CIFAR-10 (python version): 32x32 colour images of 10 classes, 50000 train, 10000 test.

Items are uint8 ``(N, 3, 32, 32)`` in ``[0, 255]`` with int64 labels. The members of
``root/cifar10/cifar-10-python.tar.gz`` are read straight from the tarball in one pass:
``cifar-10-batches-py/data_batch_1..5`` (train), ``test_batch`` (test) and ``batches.meta``
(class names), each a pickled dict whose ``data`` is ``(10000, 3072)`` uint8, each row the R, G
and B planes of a 32x32 image in row-major order. The pickles are read with an unpickler that only
rebuilds numpy arrays, so a tampered tarball cannot run code.

References:
    A. Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009.
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np
import torch

from genzoo.data.base import Dataset, DatasetInfo, DatasetSpec, labels_tensor
from genzoo.data.files import RemoteFile, fetch
from genzoo.errors import DataError
from genzoo.registry import datasets

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE = "cifar-10-python.tar.gz"
MEMBER_DIR = "cifar-10-batches-py"
SPLIT_MEMBERS = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}

#: ``FILES[file name]``: the spec of every file, looked up at load time.
FILES: dict[str, RemoteFile] = {
    ARCHIVE: RemoteFile(
        "cifar10",
        ARCHIVE,
        ORIGIN,
        md5="c58f30108f718f92721af3b95e74349a",
        page="https://www.cs.toronto.edu/~kriz/cifar.html",
    ),
}

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how Python 3 writes bytes in protocol-2 pickles
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays, nothing else."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}")
        return super().find_class(module, name)


def unpickle(data: bytes, source: str) -> dict[str, object]:
    """A CIFAR batch dict with ``str`` keys (the originals were pickled by Python 2)."""
    try:
        obj = _ArrayUnpickler(io.BytesIO(data), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise DataError(f"{source} is not a CIFAR batch pickle ({e})") from e
    if not isinstance(obj, dict):
        raise DataError(f"{source} holds a {type(obj).__name__}, expected a dict")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def read_members(path: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    """The contents of ``cifar-10-batches-py/<name>`` for each name, in one pass over the tar."""
    wanted = {f"{MEMBER_DIR}/{n}": n for n in names}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                if member.name in wanted and member.isfile():
                    found[wanted[member.name]] = tar.extractfile(member).read()
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error, OSError) as e:
        raise DataError(
            f"{path} is not a valid tar.gz archive ({e}); delete it so it is downloaded again"
        ) from e
    missing = [f"{MEMBER_DIR}/{n}" for n in names if n not in found]
    if missing:
        raise DataError(f"{path} lacks {', '.join(missing)}; expected the CIFAR-10 python version")
    return found


def _batch(batch: dict[str, object], source: str) -> tuple[np.ndarray, np.ndarray]:
    """``x`` uint8 ``(n, 3, 32, 32)`` and ``y`` ``(n,)`` of one batch dict."""
    data, labels = batch.get("data"), batch.get("labels")
    shape = getattr(data, "shape", None)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or shape[1:] != (3072,):
        raise DataError(f"{source}: 'data' has shape {shape}, expected (n, 3072) uint8")
    y = np.asarray(labels)
    integers = y.shape == (len(data),) and np.issubdtype(y.dtype, np.integer)
    if not integers or (len(y) and (y.min() < 0 or y.max() > 9)):
        raise DataError(f"{source}: 'labels' must be {len(data)} integers in 0-9")
    return data.reshape(-1, 3, 32, 32), y


def load_cifar10(split: str, root: Path, verify: bool, download: bool) -> Dataset:
    """CIFAR-10: uint8 ``(N, 3, 32, 32)``, N = 50000 (train) or 10000 (test)."""
    path = fetch(FILES[ARCHIVE], root, verify=verify, download=download)
    names = SPLIT_MEMBERS[split]
    members = read_members(path, (*names, "batches.meta"))
    parts = [_batch(unpickle(members[n], f"{path}:{n}"), f"{path}:{n}") for n in names]
    meta = unpickle(members["batches.meta"], f"{path}:batches.meta")
    class_names = tuple(str(c) for c in meta.get("label_names", ()))
    if len(class_names) != 10:
        raise DataError(f"{path}:batches.meta: 'label_names' must list 10 classes")
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    info = DatasetInfo(
        name="cifar10",
        shape=(3, 32, 32),
        num_classes=10,
        value_range=(0, 255),
        kind="image",
        class_names=class_names,
        source=str(path),
    )
    return Dataset(torch.from_numpy(x), labels_tensor(y), info)


datasets.register(
    "cifar10",
    DatasetSpec(
        "cifar10",
        load_cifar10,
        ("train", "test"),
        "CIFAR-10 colour images, 32x32, 10 classes",
        (FILES[ARCHIVE].relpath,),
        DatasetInfo("cifar10", (3, 32, 32), 10, (0, 255), "image"),
    ),
)
