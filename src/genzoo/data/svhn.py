"""SVHN cropped digits: 32x32 colour house numbers; splits train, test and extra.

Items are uint8 ``(N, 3, 32, 32)`` in ``[0, 255]`` with int64 labels 0-9. The files
``root/svhn/{split}_32x32.mat`` hold ``X`` of shape ``(32, 32, 3, N)`` (row, column, channel,
item) and ``y`` of shape ``(N, 1)`` with labels 1..10, where 10 stands for the digit 0.

References:
    Y. Netzer, T. Wang, A. Coates, A. Bissacco, B. Wu, A. Y. Ng, "Reading Digits in Natural
    Images with Unsupervised Feature Learning", NIPS Workshop 2011.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
import torch

from genzoo.data.base import Dataset, DatasetInfo, DatasetSpec, labels_tensor
from genzoo.data.files import RemoteFile, fetch
from genzoo.errors import DataError
from genzoo.registry import datasets

ORIGIN = "http://ufldl.stanford.edu/housenumbers/"
_MD5 = {
    "train": "e26dedcc434d2e4c54c9b2d4a06d8373",
    "test": "eb5a983be6a315427106f1b164d9cef3",
    "extra": "a93ce644f1a588dc4d68dda5feec44a7",
}

#: ``FILES[file name]``: the spec of every file, looked up at load time.
FILES: dict[str, RemoteFile] = {
    f"{s}_32x32.mat": RemoteFile(
        "svhn", f"{s}_32x32.mat", f"{ORIGIN}{s}_32x32.mat", md5=md5, page=ORIGIN
    )
    for s, md5 in _MD5.items()
}


def read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``x`` uint8 ``(N, 3, 32, 32)`` and labels ``(N,)`` in 0-9 from an SVHN .mat file."""
    try:
        mat = scipy.io.loadmat(path, variable_names=("X", "y"))
    except (ValueError, TypeError, OSError, NotImplementedError) as e:
        raise DataError(
            f"{path} is not a readable MATLAB v5 file ({e}); delete it so it is downloaded again"
        ) from e
    x, y = mat.get("X"), mat.get("y")
    if x is None or y is None:
        raise DataError(f"{path} must hold 'X' and 'y'; check that it is an SVHN *_32x32.mat")
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.dtype != np.uint8:
        raise DataError(
            f"{path}: 'X' has shape {x.shape} and dtype {x.dtype}, expected (32, 32, 3, N) uint8"
        )
    y = np.asarray(y).reshape(-1)
    if len(y) != x.shape[3]:
        raise DataError(f"{path}: {len(y)} labels in 'y' but {x.shape[3]} images in 'X'")
    if len(y) and (y.min() < 1 or y.max() > 10 or not np.all(y == np.round(y))):
        raise DataError(f"{path}: labels in 'y' must be integers 1..10 (10 = digit 0)")
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), y.astype(np.int64) % 10


def load_svhn(split: str, root: Path, verify: bool, download: bool) -> Dataset:
    """SVHN: uint8 ``(N, 3, 32, 32)``; 73257 train, 26032 test, 531131 extra."""
    path = fetch(FILES[f"{split}_32x32.mat"], root, verify=verify, download=download)
    x, y = read_svhn_mat(path)
    info = DatasetInfo(
        name="svhn",
        shape=(3, 32, 32),
        num_classes=10,
        value_range=(0, 255),
        kind="image",
        class_names=tuple("0123456789"),
        source=str(path),
    )
    return Dataset(torch.from_numpy(x), labels_tensor(y), info)


datasets.register(
    "svhn",
    DatasetSpec(
        "svhn",
        load_svhn,
        ("train", "test", "extra"),
        "SVHN cropped house-number digits, 32x32 colour",
        tuple(f.relpath for f in FILES.values()),
        DatasetInfo("svhn", (3, 32, 32), 10, (0, 255), "image", tuple("0123456789")),
    ),
)
