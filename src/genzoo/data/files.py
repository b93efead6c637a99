"""Dataset files: where they live, checksum verification and download.

A :class:`RemoteFile` lives at ``root/folder/name`` (the layout of ``shared/datasets``, e.g.
``mnist/train-images-idx3-ubyte.gz``). :func:`fetch` returns its path after checking its published
checksum; a missing file is downloaded first, unless downloads are off.

Environment:
    ``GENZOO_MIRROR``: a base URL that replaces every origin; a file is then fetched from
    ``{mirror}/{folder}/{name}``.
    ``GENZOO_OFFLINE=1``: never try to download.

Example::

    f = RemoteFile("mnist", "t10k-labels-idx1-ubyte.gz", "http://...", sha256="f7ae...")
    path = fetch(f, data_root())
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from genzoo.errors import DataError

TIMEOUT_S = 20.0
CHUNK = 1 << 20

# (path, size, mtime_ns, algorithm) -> hex digest, so repeated loads do not rehash a file.
_digests: dict[tuple[str, int, int, str], str] = {}


@dataclass(frozen=True)
class RemoteFile:
    """One published dataset file.

    Attributes:
        folder: sub-folder of the data root, e.g. ``"mnist"``.
        name: file name inside ``folder``.
        url: where the publisher serves it; ``None`` when there is no direct download.
        sha256: published SHA-256 (preferred for verification).
        md5: published MD5, used when there is no SHA-256.
        page: where a person can get the file by hand (defaults to ``url``).
    """

    folder: str
    name: str
    url: str | None
    sha256: str | None = None
    md5: str | None = None
    page: str | None = None

    @property
    def relpath(self) -> str:
        """``folder/name``, the file's place under the data root."""
        return f"{self.folder}/{self.name}"

    @property
    def checksum(self) -> tuple[str, str] | None:
        """``(algorithm, hex digest)`` to verify against, or ``None`` if unpublished."""
        if self.sha256:
            return "sha256", self.sha256.lower()
        if self.md5:
            return "md5", self.md5.lower()
        return None


def source_url(f: RemoteFile) -> str | None:
    """The URL to download ``f`` from: ``$GENZOO_MIRROR/{folder}/{name}`` or its origin."""
    mirror = os.environ.get("GENZOO_MIRROR", "").strip()
    if mirror:
        return f"{mirror.rstrip('/')}/{f.folder}/{f.name}"
    return f.url


def offline() -> bool:
    """Whether ``$GENZOO_OFFLINE`` forbids downloads."""
    return os.environ.get("GENZOO_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of ``path``; cached on (path, size, mtime) for the life of the process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, algorithm)
    if key not in _digests:
        h = hashlib.new(algorithm)
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                h.update(chunk)
        _digests[key] = h.hexdigest()
    return _digests[key]


def verify_file(f: RemoteFile, path: Path) -> None:
    """Raise :class:`DataError` if ``path`` does not match ``f``'s published checksum."""
    if f.checksum is None:
        return
    algorithm, expected = f.checksum
    actual = file_digest(path, algorithm)
    if actual != expected:
        raise DataError(
            f"checksum mismatch for {path}: expected {algorithm} {expected}, got {actual}; "
            "delete the file so it is downloaded again, or set data.verify=false to skip the check"
        )


def fetch(f: RemoteFile, root: Path | str, *, verify: bool = True, download: bool = True) -> Path:
    """Path of ``f`` under ``root``, downloaded if missing and checked against its checksum.

    Args:
        f: the file's spec.
        root: the data root; the file is ``root/f.folder/f.name``.
        verify: check the checksum (cached per path, size and mtime).
        download: try to download a missing file (also off when ``$GENZOO_OFFLINE=1``).

    Raises:
        DataError: the file is missing and cannot be downloaded, or its checksum is wrong.
    """
    path = Path(root) / f.folder / f.name
    if path.is_file():
        if verify:
            verify_file(f, path)
        return path
    url = source_url(f)
    if not download or offline() or url is None:
        why = "downloads are off" if (not download or offline()) else "it has no direct download"
        raise DataError(f"missing {f.name} ({why}): {_by_hand(f, path)}")
    _download(f, url, path, verify=verify)
    return path


def _by_hand(f: RemoteFile, path: Path, url: str | None = None) -> str:
    where = url or f.url or f.page or "its publisher"
    return f"get it from {where} and put it in {path.parent}/ (or set GENZOO_DATA)"


def _download(f: RemoteFile, url: str, path: Path, *, verify: bool) -> None:
    """Download ``url`` to ``path`` through a temp file in the same folder (atomic rename)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{f.name}.", suffix=".part", dir=path.parent)
    except OSError as e:
        raise DataError(f"cannot download {f.name}: {e}; {_by_hand(f, path, url)}") from e
    tmp = Path(tmp_name)
    algorithm, expected = f.checksum if (verify and f.checksum) else ("sha256", None)
    h = hashlib.new(algorithm)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            done = 0
            with tqdm(
                total=total, unit="B", unit_scale=True, desc=f.name, file=sys.stderr, leave=False
            ) as bar:
                while chunk := resp.read(CHUNK):
                    out.write(chunk)
                    h.update(chunk)
                    done += len(chunk)
                    bar.update(len(chunk))
            if total is not None and done != total:
                raise DataError(
                    f"download of {f.name} from {url} stopped after {done} of {total} bytes; "
                    f"try again, or {_by_hand(f, path, url)}"
                )
        if expected is not None and h.hexdigest() != expected:
            raise DataError(
                f"checksum mismatch for {f.name} downloaded from {url}: expected {algorithm} "
                f"{expected}, got {h.hexdigest()}; the copy was discarded; "
                f"{_by_hand(f, path, url)}, or set data.verify=false to skip the check"
            )
        os.replace(tmp, path)
    except DataError:
        tmp.unlink(missing_ok=True)
        raise
    except (OSError, http.client.HTTPException, ValueError) as e:
        tmp.unlink(missing_ok=True)
        reason = getattr(e, "reason", None) or e
        raise DataError(
            f"cannot download {f.name} from {url} ({reason}); {_by_hand(f, path, url)}"
        ) from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    st = path.stat()
    if expected is not None:
        _digests[(str(path.resolve()), st.st_size, st.st_mtime_ns, algorithm)] = expected


def read_file(path: Path) -> bytes:
    """The bytes of ``path``, decompressed when it ends in ``.gz``; DataError if unreadable."""
    if path.suffix == ".gz":
        return read_gzip(path)
    try:
        return path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e}") from e


def read_gzip(path: Path) -> bytes:
    """The decompressed bytes of a gzip file; :class:`DataError` if it is not valid gzip."""
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataError(
            f"{path} is not a valid gzip file ({e}); delete it so it is downloaded again"
        ) from e
    except OSError as e:
        raise DataError(f"cannot read {path}: {e}") from e
