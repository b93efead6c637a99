"""The IDX format of MNIST and Fashion-MNIST (LeCun et al.), read strictly.

An IDX file is a big-endian header: two zero bytes, a type code (``0x08`` = uint8), the number of
dimensions ``d``, then ``d`` uint32 sizes, then the payload. Here the magic is read as one uint32:
2049 for labels (uint8, ``d = 1``), 2051 for images (uint8, ``d = 3``).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from genzoo.data.files import read_file
from genzoo.errors import DataError

MAGIC_LABELS = 2049
MAGIC_IMAGES = 2051


def parse_idx(data: bytes, source: Path | str, *, magic: int) -> np.ndarray:
    """Parse the bytes of a uint8 IDX file.

    Args:
        data: the (decompressed) file contents.
        source: the file, for error messages.
        magic: the expected magic number, 2049 (labels) or 2051 (images).

    Returns:
        uint8 array of shape ``(N,)`` for labels or ``(N, H, W)`` for images.

    Raises:
        DataError: wrong magic number, or a payload shorter or longer than the header says.
    """
    kind = "labels" if magic == MAGIC_LABELS else "images"
    found = struct.unpack_from(">I", data, 0)[0] if len(data) >= 4 else None
    if found is not None and found != magic:
        raise DataError(
            f"{source} is not an IDX file of {kind}: magic number {found}, expected {magic}; "
            "check the file name, or delete the file so it is downloaded again"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"truncated IDX file {source}: expected at least {header} header bytes, "
            f"got {len(data)}; delete it so it is downloaded again"
        )
    shape = struct.unpack_from(f">{ndim}I", data, 4)
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "oversized"
        raise DataError(
            f"{kind} IDX file {source}: expected {expected} bytes for shape {shape}, "
            f"got {len(data)}; delete it so it is downloaded again"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_idx(path: Path, *, magic: int) -> np.ndarray:
    """Read a gzip-compressed (``.gz``) or plain IDX file; see :func:`parse_idx`."""
    return parse_idx(read_file(path), path, magic=magic)


def read_idx_pair(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, H, W)`` uint8 and labels ``(N,)`` uint8 from an IDX pair of equal length."""
    x = read_idx(images, magic=MAGIC_IMAGES)
    y = read_idx(labels, magic=MAGIC_LABELS)
    if len(x) != len(y):
        raise DataError(
            f"{labels} has {len(y)} labels but {images} has {len(x)} images; "
            "the two files must come from the same split"
        )
    return x, y
