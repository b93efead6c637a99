"""Doctest setup: the docstring examples of ``src/genzoo`` run as tests (``--doctest-modules``).

Each doctest sees ``torch``, ``np`` (numpy) and ``genzoo`` without importing them, starts from
``torch.manual_seed(0)``, has downloads switched off (``GENZOO_OFFLINE=1``: a dataset missing
from ``$GENZOO_DATA`` fails fast instead of being fetched), and runs in a fresh temporary
working directory, so an example that trains into ``runs/...`` or writes a file leaves nothing
behind. It runs on one torch thread: the examples are tiny, and on a busy two-core machine two
spinning threads made them ten times slower. Plain tests are not affected.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from _pytest.doctest import DoctestItem

import genzoo

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _doctest_environment(request: pytest.FixtureRequest) -> Iterator[None]:
    if not isinstance(request.node, DoctestItem):
        yield
        return
    namespace = request.getfixturevalue("doctest_namespace")
    namespace.update(torch=torch, np=np, genzoo=genzoo)
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    monkeypatch.chdir(request.getfixturevalue("tmp_path"))
    monkeypatch.setenv("GENZOO_OFFLINE", "1")
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
