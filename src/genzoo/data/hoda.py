"""HODA: handwritten Persian (Farsi) digits, 60000 train, 20000 test, 22352 remaining.

The originals are binary images of varying size (4x3 to 62x51). Each is scaled, keeping its
aspect ratio, so that its longer side fills a ``box`` x ``box`` square (option ``box``, default
24, like MNIST's 20x20 digit box inside 28x28 with a margin), resampled with Pillow's antialiased
bilinear filter and centred on a 28x28 canvas. Items are uint8 ``(N, 1, 28, 28)`` in
``[0, 255]``, the digit bright on a dark background like MNIST; labels are int64 0-9.

A second dataset, ``hoda-split``, serves the GAN studies: HODA's training file (60000 digits,
6000 per class) fitted the same way, binarized at 128 (pixels 0 or 255; option ``binary``) and
split at random into ``train`` / ``val`` / ``test`` = 85 / 10 / 5 % (51000 / 6000 / 3000) by
:func:`~genzoo.data.splits.split_indices` with option ``seed`` (default 0): disjoint, and the
same for the same seed on every machine.

Files live in ``root/hoda/``: ``Data_hoda_full.mat`` (train, read with ``scipy.io.loadmat``),
``Test_20000.cdb`` (test) and ``RemainingSamples.cdb`` (remaining), see :mod:`genzoo.data.cdb`.
There is no direct download; ``FILES`` holds their SHA-256. Reading and fitting a file takes a
few seconds and nothing is written to disk; the last fitted file is kept in memory (keyed by its
path, modification time, size and ``box``), since ``hoda-split`` reads the training file for each
of its splits.

References:
    H. Khosravi, E. Kabir, "Introducing a very large dataset of handwritten Farsi digits and a
    study on their varieties", Pattern Recognition Letters 28(10), 2007.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.io
import torch
from PIL import Image

from genzoo.data.base import Dataset, DatasetInfo, DatasetSpec, labels_tensor
from genzoo.data.cdb import parse_cdb
from genzoo.data.checks import as_int
from genzoo.data.files import RemoteFile, fetch
from genzoo.data.splits import split_indices
from genzoo.errors import ConfigError, DataError
from genzoo.registry import datasets

PAGE = "http://farsiocr.ir/"
SIZE = 28

_SHA256 = {
    "Data_hoda_full.mat": "39629eb751892b39fc5d1e987b472d441e4dffcbe8218931b73f466d8b2f3ce2",
    "Test_20000.cdb": "f947c38071c886677ec212fe5000863fafae0b4ed349d97d51c33abe3c8e2b07",
    "RemainingSamples.cdb": "11c9b0661b8de5f743b1b01ac76b4de19b238062d6da3500b5d6128fb1989e3d",
}
SPLIT_FILES = {
    "train": "Data_hoda_full.mat",
    "test": "Test_20000.cdb",
    "remaining": "RemainingSamples.cdb",
}

#: ``FILES[file name]``: the spec of every file, looked up at load time (no direct download).
FILES: dict[str, RemoteFile] = {
    name: RemoteFile("hoda", name, None, sha256=sha, page=PAGE) for name, sha in _SHA256.items()
}


def read_hoda_mat(path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """Images (binary, ink 255 on 0, varying ``(H_i, W_i)``) and labels ``(N,)`` of a .mat file."""
    try:
        mat = scipy.io.loadmat(path)
    except (ValueError, TypeError, OSError, NotImplementedError) as e:
        raise DataError(f"{path} is not a readable MATLAB v5 file ({e})") from e
    if "Data" not in mat or "labels" not in mat:
        found = ", ".join(k for k in mat if not k.startswith("__"))
        raise DataError(
            f"{path} must hold 'Data' (cell array of images) and 'labels'; "
            f"found: {found or 'nothing'}"
        )
    cells, labels = mat["Data"].ravel(), np.asarray(mat["labels"]).ravel()
    if len(cells) != len(labels):
        raise DataError(f"{path}: {len(cells)} images but {len(labels)} labels")
    images = []
    for i, a in enumerate(cells):
        a = np.asarray(a)
        if a.ndim != 2 or a.size == 0 or not np.issubdtype(a.dtype, np.number):
            raise DataError(
                f"{path}: Data[{i}] has shape {a.shape} and dtype {a.dtype}; "
                "expected a non-empty 2-D numeric image"
            )
        images.append(np.where(a > 0, 255, 0).astype(np.uint8))
    return images, labels


def fit_to_canvas(images: Sequence[np.ndarray], box: int, size: int = SIZE) -> np.ndarray:
    """Scale each image so its longer side is ``box`` (aspect kept) and centre it.

    Args:
        images: uint8 arrays ``(H_i, W_i)``.
        box: side of the square the digit is fitted into, ``1 <= box <= size``.
        size: side of the output canvas.

    Returns:
        uint8 array ``(N, size, size)``.
    """
    out = np.zeros((len(images), size, size), np.uint8)
    for i, a in enumerate(images):
        h, w = a.shape
        scale = box / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        if (nh, nw) == (h, w):
            r = a
        else:
            r = np.asarray(Image.fromarray(a).resize((nw, nh), Image.Resampling.BILINEAR))
        top, left = (size - nh) // 2, (size - nw) // 2
        out[i, top : top + nh, left : left + nw] = r
    return out


SPLIT_FRACTIONS = (0.85, 0.10, 0.05)


def _info(name: str, source: str) -> DatasetInfo:
    return DatasetInfo(name=name, shape=(1, SIZE, SIZE), num_classes=10, value_range=(0, 255),
                       kind="image", class_names=tuple("0123456789"), source=source)


#: The last fitted file, ``(path, mtime, size, box) -> (images, labels)``: ``hoda-split`` reads
#: the training file for each of its splits, and fitting 60000 digits takes seconds.
_LAST_FITTED: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def load_hoda(split: str, root: Path, verify: bool, download: bool, *, box: int = 24) -> Dataset:
    """HODA Persian digits: uint8 ``(N, 1, 28, 28)``; option ``box`` is the digit's box side."""
    box = as_int("box", box, minimum=1, maximum=SIZE)
    path = fetch(FILES[SPLIT_FILES[split]], root, verify=verify, download=download)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, box)
    if key not in _LAST_FITTED:
        _LAST_FITTED.clear()
        _LAST_FITTED[key] = _read_and_fit(path, box)
    x, labels = _LAST_FITTED[key]
    return Dataset(torch.from_numpy(x.copy()).unsqueeze(1), labels_tensor(labels.copy()),
                   _info("hoda", str(path)))


def _read_and_fit(path: Path, box: int) -> tuple[np.ndarray, np.ndarray]:
    """The digits of one HODA file fitted into 28x28 (N, 28, 28) and their labels (N,)."""
    if path.suffix == ".mat":
        images, labels = read_hoda_mat(path)
    else:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise DataError(f"cannot read {path}: {e}") from e
        images, labels = parse_cdb(data, path)
    if len(labels) and int(labels.max()) > 9:
        raise DataError(f"{path}: label {int(labels.max())} found; HODA digits are labelled 0-9")
    return fit_to_canvas(images, box), np.asarray(labels)


def load_hoda_split(split: str, root: Path, verify: bool, download: bool, *, seed: int = 0,
                    binary: bool = True, box: int = 24) -> Dataset:
    """HODA's training file split 85/10/5 into ``train`` / ``val`` / ``test`` by ``seed``;
    uint8 ``(N, 1, 28, 28)``, pixels 0 or 255 when ``binary`` (threshold 128)."""
    seed = as_int("seed", seed, minimum=0)
    if not isinstance(binary, bool):
        raise ConfigError(f"option 'binary' of dataset 'hoda-split' must be true or false, "
                          f"got {binary!r}")
    full = load_hoda("train", root, verify, download, box=box)
    parts = dict(zip(("train", "val", "test"), split_indices(len(full), SPLIT_FRACTIONS, seed),
                     strict=True))
    index = parts[split]
    x = full.x[index]
    if binary:
        x = torch.where(x >= 128, 255, 0).to(torch.uint8)
    source = (f"{full.info.source}, split {split} of split_indices({len(full)}, "
              f"{SPLIT_FRACTIONS}, seed={seed}){', binarized at 128' if binary else ''}")
    return Dataset(x, full.y[index], _info("hoda-split", source))


datasets.register(
    "hoda",
    DatasetSpec(
        "hoda",
        load_hoda,
        ("train", "test", "remaining"),
        "HODA handwritten Persian digits, fitted into 28x28 (digit box 24)",
        tuple(f.relpath for f in FILES.values()),
    ),
)

datasets.register(
    "hoda-split",
    DatasetSpec(
        "hoda-split",
        load_hoda_split,
        ("train", "val", "test"),
        "HODA's training file binarized and split 85/10/5 (train/val/test) by a seed",
        (FILES[SPLIT_FILES["train"]].relpath,),
    ),
)
