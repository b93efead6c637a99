"""Binarized MNIST with the fixed binarization of Larochelle & Murray (2011).

Items are uint8 ``(N, 1, 28, 28)`` with values 0/1 and no labels; splits train / valid / test
hold 50000 / 10000 / 10000 items. Each split is one ``.amat`` text file, one image per line:
784 characters ``0``/``1`` separated by single spaces, then ``\\n`` (1568 bytes per line).

Files live in ``root/binarized-mnist/``: the gzip-compressed ``binarized_mnist_{split}.amat.gz``
(as in ``shared/datasets``) or the plain ``.amat`` that the origin serves; either is checked
against its SHA-256 in ``FILES``. A missing split is downloaded: the ``.amat.gz`` from
``$GENZOO_MIRROR`` when one is set, else (or when that fails) the ``.amat``.

References:
    H. Larochelle, I. Murray, "The Neural Autoregressive Distribution Estimator", AISTATS 2011.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genzoo.data.base import Dataset, DatasetInfo, DatasetSpec
from genzoo.data.files import RemoteFile, fetch, read_file, source_url
from genzoo.errors import DataError
from genzoo.registry import datasets

ORIGIN = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"
LINE = 2 * 784  # bytes per line: 784 digits, 783 spaces, one newline

_SHA256 = {  # (gzip file, canonical uncompressed .amat)
    "train": ("af247bd6075cf9adc4715459dcd5f13eaa99a2c92d8d81379a05da94770b6c0e",
              "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d"),
    "valid": ("533b71bc0198f4d73c54ae5fe6c96fc08dc3cf1b3fae24c5521dbc0452507e38",
              "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2"),
    "test": ("32a3c54d03504632bf9f131b4a148c7567aa6fc87da017049b044bdc14c2a0f2",
             "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c"),
}  # fmt: skip


def _specs() -> dict[str, RemoteFile]:
    specs = {}
    for split, (sha_gz, sha_amat) in _SHA256.items():
        amat = f"binarized_mnist_{split}.amat"
        # The origin serves only the plain .amat; the .gz comes from a mirror (or by hand).
        specs[amat + ".gz"] = RemoteFile(
            "binarized-mnist", amat + ".gz", None, sha256=sha_gz, page=ORIGIN
        )
        specs[amat] = RemoteFile("binarized-mnist", amat, ORIGIN + amat, sha256=sha_amat)
    return specs


#: ``FILES[file name]``: the spec of every file, looked up at load time.
FILES: dict[str, RemoteFile] = _specs()


def parse_amat(data: bytes, source: Path | str) -> np.ndarray:
    """Parse ``.amat`` text of binary 28x28 images.

    Returns:
        uint8 array ``(N, 784)`` of 0/1.

    Raises:
        DataError: a line is not 784 values ``0``/``1`` separated by single spaces.
    """
    if len(data) % LINE:
        raise DataError(
            f"{source} is not a binarized MNIST .amat file: {len(data)} bytes is not a whole "
            f"number of {LINE}-byte lines (784 values 0/1 separated by spaces)"
        )
    lines = np.frombuffer(data, dtype=np.uint8).reshape(-1, LINE)
    digits = lines[:, 0 : LINE - 1 : 2] - ord("0")
    bad = (digits > 1).any(1) | (lines[:, 1 : LINE - 1 : 2] != ord(" ")).any(1)
    bad |= lines[:, -1] != ord("\n")
    if bad.any():
        raise DataError(
            f"{source} line {int(np.argmax(bad)) + 1} is not 784 values 0/1 separated by single "
            "spaces; delete the file so it is downloaded again"
        )
    return digits


def _locate(split: str, root: Path, verify: bool, download: bool) -> Path:
    """The split's ``.amat.gz`` or ``.amat``: on disk, else downloaded (mirror: .gz first)."""
    name = f"binarized_mnist_{split}.amat"
    specs = (FILES[name + ".gz"], FILES[name])
    for spec in specs:
        if (Path(root) / spec.relpath).is_file():
            return fetch(spec, root, verify=verify, download=False)
    error: DataError | None = None
    for spec in specs:
        if download and source_url(spec) is not None:
            try:
                return fetch(spec, root, verify=verify, download=download)
            except DataError as e:
                error = error or e
    if error is None:  # nothing to try: let fetch explain where to get the .amat
        try:
            fetch(specs[1], root, verify=verify, download=download)
        except DataError as e:
            error = e
    raise DataError(f"{error}; {specs[0].name} (gzip) is accepted there too") from error


def load_binarized_mnist(split: str, root: Path, verify: bool, download: bool) -> Dataset:
    """Binarized MNIST: uint8 0/1 ``(N, 1, 28, 28)``, no labels."""
    path = _locate(split, root, verify, download)
    x = parse_amat(read_file(path), path)
    info = DatasetInfo(
        name="binarized-mnist",
        shape=(1, 28, 28),
        num_classes=None,
        value_range=(0, 1),
        kind="image",
        source=str(path),
    )
    return Dataset(torch.from_numpy(x.reshape(-1, 1, 28, 28)), None, info)


datasets.register(
    "binarized-mnist",
    DatasetSpec(
        "binarized-mnist",
        load_binarized_mnist,
        ("train", "valid", "test"),
        "MNIST with a fixed stochastic binarization (Larochelle & Murray), 28x28 0/1, no labels",
        tuple(FILES[f"binarized_mnist_{s}.amat.gz"].relpath for s in _SHA256),
    ),
)
