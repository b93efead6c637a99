"""Fixtures of the data tests: the real-data root, a local HTTP mirror, no network otherwise."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest

# The real datasets these tests (and later ones) use, relative to the data root.
REAL_FILES = (
    "mnist/train-images-idx3-ubyte.gz",
    "mnist/train-labels-idx1-ubyte.gz",
    "mnist/t10k-images-idx3-ubyte.gz",
    "mnist/t10k-labels-idx1-ubyte.gz",
    "fashion-mnist/train-images-idx3-ubyte.gz",
    "fashion-mnist/train-labels-idx1-ubyte.gz",
    "fashion-mnist/t10k-images-idx3-ubyte.gz",
    "fashion-mnist/t10k-labels-idx1-ubyte.gz",
    "binarized-mnist/binarized_mnist_train.amat.gz",
    "binarized-mnist/binarized_mnist_valid.amat.gz",
    "binarized-mnist/binarized_mnist_test.amat.gz",
    "hoda/Data_hoda_full.mat",
    "hoda/Test_20000.cdb",
    "hoda/RemainingSamples.cdb",
)


@pytest.fixture(scope="session")
def real_data_root() -> Path:
    """The folder holding the real datasets: ``$GENZOO_DATA``, else ``../shared/datasets``.

    Missing files skip the test locally but fail it when ``$CI`` is set, so CI never passes
    without having checked the real data.
    """
    env = os.environ.get("GENZOO_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared/datasets"
    missing = [f for f in REAL_FILES if not (root / f).is_file()]
    if missing:
        message = f"real datasets missing under {root} (GENZOO_DATA): {', '.join(missing[:3])}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return root


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Downloads are off and no mirror is set unless a test sets them itself."""
    monkeypatch.setenv("GENZOO_OFFLINE", "1")
    monkeypatch.delenv("GENZOO_MIRROR", raising=False)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A local HTTP server over an empty folder, set as ``$GENZOO_MIRROR`` with downloads on.

    Yields ``(folder, url)``; write files under ``folder/<dataset>/`` to serve them.
    """
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.delenv("GENZOO_OFFLINE", raising=False)
    monkeypatch.setenv("GENZOO_MIRROR", url)
    try:
        yield folder, url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
