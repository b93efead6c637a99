"""The HODA ``.cdb`` binary image database format, read strictly and fast.

Layout (little-endian):

* a 1024-byte header: year u16, month u8, day u8, H u8, W u8 (0 = variable size), TotalRec u32,
  LetterCount 128 x u32 (records per label), imgType u8 (0 = binary), 256 comment bytes and 245
  reserved bytes;
* ``TotalRec`` records: ``0xFF``, label u8, W u8, H u8, ByteCount u16, then ``ByteCount`` run
  lengths u8. Each of the H rows is a run of white (background), then black (ink), then white...,
  the runs of a row summing to W; a row that starts with ink starts with a white run of 0.

Only the small record headers are walked in Python; the runs of all records are decoded at once
with numpy (``np.repeat`` of the alternating colours).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from genzoo.errors import DataError

HEADER = 1024
RECORD_HEADER = 6  # 0xFF, label, W, H, ByteCount (u16)
_HEAD = struct.Struct("<HBBBBI128IB")


def parse_cdb(data: bytes, source: Path | str) -> tuple[list[np.ndarray], np.ndarray]:
    """Decode a variable-size binary ``.cdb`` file.

    Args:
        data: the file contents.
        source: the file, for error messages.

    Returns:
        ``(images, labels)``: a list of uint8 arrays ``(H_i, W_i)`` with ink 255 on 0, and uint8
        labels ``(N,)``.

    Raises:
        DataError: a header or record that does not follow the format, naming the byte offset.
    """
    if len(data) < HEADER:
        raise DataError(
            f"{source} is not a HODA .cdb file: {len(data)} bytes, shorter than "
            f"its {HEADER}-byte header"
        )
    head = _HEAD.unpack_from(data, 0)
    height, width, total, letter_count, img_type = head[3], head[4], head[5], head[6:134], head[134]
    if img_type != 0 or height or width:
        raise DataError(
            f"{source}: only variable-size binary .cdb files are supported "
            f"(header H={height}, W={width}, imgType={img_type}; expected 0, 0, 0)"
        )
    starts, labels, w, h, counts = _walk_records(data, source, total)
    images = _decode_runs(np.frombuffer(data, np.uint8), starts, w, h, counts, source)
    found = np.bincount(labels, minlength=128)
    if len(found) > 128 or not np.array_equal(found, letter_count):
        raise DataError(
            f"{source}: records per label {found[:10].tolist()}... disagree with "
            f"the header's LetterCount {list(letter_count[:10])}..."
        )
    return images, labels


def _walk_records(data: bytes, source: Path | str, total: int) -> tuple[np.ndarray, ...]:
    """Offsets, labels, widths, heights and run byte counts of the ``total`` records."""
    starts, labels, w, h, counts = (np.empty(total, np.int64) for _ in range(5))
    pos, end = HEADER, len(data)
    for i in range(total):
        if pos + RECORD_HEADER > end:
            raise DataError(
                f"truncated .cdb file {source}: record {i} of {total} at byte {pos} "
                f"is cut off (file is {end} bytes)"
            )
        if data[pos] != 0xFF:
            raise DataError(
                f"{source}: record {i} at byte {pos} starts with {data[pos]:#04x}, "
                "expected 0xff; the file is corrupt"
            )
        label, wi, hi, count = struct.unpack_from("<BBBH", data, pos + 1)
        if wi == 0 or hi == 0 or count < hi:
            raise DataError(
                f"{source}: record {i} at byte {pos} has size {hi}x{wi} with "
                f"{count} run bytes; the file is corrupt"
            )
        starts[i], labels[i], w[i], h[i], counts[i] = pos, label, wi, hi, count
        pos += RECORD_HEADER + count
    if pos > end:
        raise DataError(
            f"truncated .cdb file {source}: its {total} records need {pos} bytes, got {end}"
        )
    if pos < end:
        raise DataError(
            f"{source} has {end - pos} extra bytes after its {total} records "
            "(TotalRec in the header); the file is corrupt"
        )
    return starts, labels.astype(np.uint8), w, h, counts


def _decode_runs(
    buf: np.ndarray,
    starts: np.ndarray,
    w: np.ndarray,
    h: np.ndarray,
    counts: np.ndarray,
    source: Path | str,
) -> list[np.ndarray]:
    """Images from the run lengths of all records, checking that each row sums to its width."""
    n = len(starts)
    keep = np.ones(len(buf), bool)
    keep[:HEADER] = False
    keep[(starts[:, None] + np.arange(RECORD_HEADER)).ravel()] = False
    runs = buf[keep].astype(np.int64)
    record = np.repeat(np.arange(n), counts)
    w_run = w[record]
    total = np.bincount(record, weights=runs, minlength=n).astype(np.int64)
    end = np.cumsum(runs) - np.repeat(np.cumsum(total) - total, counts)  # within each record
    begin = end - runs
    row = begin // w_run
    bad = (row >= h[record]) | ((runs > 0) & ((end - 1) // w_run != row))
    bad_record = np.zeros(n, bool)
    bad_record[record[bad]] = True
    bad_record |= total != w * h
    if bad_record.any():
        i = int(np.argmax(bad_record))
        raise DataError(
            f"{source}: record {i} at byte {starts[i]}: run lengths do not split "
            f"into {h[i]} rows of width {w[i]}; the file is corrupt"
        )
    global_row = np.repeat(np.cumsum(h) - h, counts) + row
    new_row = np.ones(len(runs), bool)
    new_row[1:] = global_row[1:] != global_row[:-1]
    first = np.flatnonzero(new_row)
    index_in_row = np.arange(len(runs)) - first[np.cumsum(new_row) - 1]
    ink = np.where(index_in_row % 2 == 1, 255, 0).astype(np.uint8)
    pixels = np.repeat(ink, runs)
    sizes = w * h
    flat = np.split(pixels, np.cumsum(sizes)[:-1])
    return [img.reshape(int(hi), int(wi)) for img, hi, wi in zip(flat, h, w, strict=True)]
