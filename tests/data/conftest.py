"""Fixtures of the data tests: a local HTTP mirror (real_data_root is in tests/conftest.py)."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest


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
