"""MNIST and Fashion-MNIST: 28x28 grey digits / clothes, 60000 train and 10000 test.

Items are uint8 ``(N, 1, 28, 28)`` in ``[0, 255]`` with int64 labels ``(N,)``. Files (IDX,
gzip-compressed) live in ``root/mnist/`` and ``root/fashion-mnist/``; ``FILES`` holds their specs
(tests patch a checksum there).

References:
    Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-based learning applied to document
    recognition", Proc. IEEE 86(11), 1998.
    H. Xiao, K. Rasul, R. Vollgraf, "Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine
    Learning Algorithms", arXiv:1708.07747, 2017.

Example::

    ds = load_dataset("fashion-mnist", "test")   # ds.x: (10000, 1, 28, 28) uint8
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genzoo.data.base import Dataset, DatasetInfo, DatasetSpec, labels_tensor
from genzoo.data.files import RemoteFile, fetch
from genzoo.data.idx import read_idx_pair
from genzoo.registry import datasets

MNIST_URL = "http://yann.lecun.com/exdb/mnist/"
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

_SHA256 = {
    "mnist": {
        "train-images": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion-mnist": {
        "train-images": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}
_ORIGIN = {"mnist": MNIST_URL, "fashion-mnist": FASHION_URL}
_PREFIX = {"train": "train", "test": "t10k"}


def _file_name(key: str) -> str:
    """``"t10k-images"`` -> ``"t10k-images-idx3-ubyte.gz"``."""
    return f"{key}-{'idx3' if key.endswith('images') else 'idx1'}-ubyte.gz"


#: ``FILES[dataset][file name]``: the spec of every file, looked up at load time.
FILES: dict[str, dict[str, RemoteFile]] = {
    name: {
        _file_name(key): RemoteFile(
            name, _file_name(key), _ORIGIN[name] + _file_name(key), sha256=sha, page=_ORIGIN[name]
        )
        for key, sha in shas.items()
    }
    for name, shas in _SHA256.items()
}


def load_idx_dataset(name: str, split: str, root: Path, verify: bool, download: bool) -> Dataset:
    """Load split ``train`` or ``test`` of ``mnist`` / ``fashion-mnist`` from ``root``."""
    prefix = _PREFIX[split]
    files = FILES[name]
    images = fetch(files[f"{prefix}-images-idx3-ubyte.gz"], root, verify=verify, download=download)
    labels = fetch(files[f"{prefix}-labels-idx1-ubyte.gz"], root, verify=verify, download=download)
    x, y = read_idx_pair(images, labels)
    info = DatasetInfo(
        name=name,
        shape=(1, *x.shape[1:]),
        num_classes=10,
        value_range=(0, 255),
        kind="image",
        class_names=FASHION_CLASSES if name == "fashion-mnist" else tuple("0123456789"),
        source=f"{images}, {labels}",
    )
    return Dataset(torch.tensor(x).unsqueeze(1), labels_tensor(y.astype(np.int64)), info)


def load_mnist(split: str, root: Path, verify: bool, download: bool) -> Dataset:
    """MNIST digits: uint8 ``(N, 1, 28, 28)``, N = 60000 (train) or 10000 (test)."""
    return load_idx_dataset("mnist", split, root, verify, download)


def load_fashion_mnist(split: str, root: Path, verify: bool, download: bool) -> Dataset:
    """Fashion-MNIST: uint8 ``(N, 1, 28, 28)``, N = 60000 (train) or 10000 (test)."""
    return load_idx_dataset("fashion-mnist", split, root, verify, download)


def _files(name: str) -> tuple[str, ...]:
    return tuple(f.relpath for f in FILES[name].values())


datasets.register(
    "mnist",
    DatasetSpec(
        "mnist",
        load_mnist,
        ("train", "test"),
        "MNIST handwritten digits, 28x28 grey",
        _files("mnist"),
    ),
)
datasets.register(
    "fashion-mnist",
    DatasetSpec(
        "fashion-mnist",
        load_fashion_mnist,
        ("train", "test"),
        "Fashion-MNIST clothing images, 28x28 grey",
        _files("fashion-mnist"),
    ),
)
