"""Run I/O in one place: atomic writes, JSON files merged in place, the metric log.

Atomic writes: readers see the old file or the new one, never half of one. Content goes to a
hidden temporary file in the destination's folder, is flushed to disk, and is moved over the
destination with :func:`os.replace` (atomic on POSIX and Windows). A process killed mid-write
leaves the old file intact and no temporary file behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from genzoo.errors import UserError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Permissions of written files: what ``open()`` would give (mkstemp alone gives 0600).
FILE_MODE = 0o666 & ~_umask()


@contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file to write ``path``'s new content into; it replaces ``path`` on success.

    Example:
        >>> with atomic_open("x.bin") as f:
        ...     _ = f.write(b"data")
        >>> Path("x.bin").read_bytes()
        b'data'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parents created); returns ``path``."""
    with atomic_open(path) as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; returns ``path``."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically; returns ``path``."""
    return atomic_write_text(path, json.dumps(obj, indent=2))


def merge_json(path: str | os.PathLike[str], update: dict) -> None:
    """Update the JSON object stored at ``path`` (created if missing) atomically."""
    path = Path(path)
    previous = json.loads(path.read_text()) if path.is_file() else {}
    write_json(path, {**previous, **update})


def read_metrics(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a run's ``metrics.jsonl`` (one JSON object per line) into a list of dicts.

    A missing file gives ``[]`` (a run that has not logged yet). An unparsable *last* line is
    dropped silently: it is what a process killed mid-write leaves behind. An unparsable line
    anywhere else raises :class:`~genzoo.errors.UserError` naming the file and line.

    Args:
        run_dir: the run directory, or the path of a ``.jsonl`` file itself.
    """
    path = Path(run_dir)
    if path.is_dir():
        path = path / "metrics.jsonl"
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    numbered = [(i + 1, line) for i, line in enumerate(lines) if line.strip()]
    records: list[dict[str, Any]] = []
    for k, (lineno, line) in enumerate(numbered):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            if k == len(numbered) - 1:
                break  # truncated final line
            raise UserError(f"{path}:{lineno}: not a JSON object ({e.msg})") from e
        if not isinstance(rec, dict):
            raise UserError(f"{path}:{lineno}: expected a JSON object, got {type(rec).__name__}")
        records.append(rec)
    return records
