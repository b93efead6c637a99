"""Shared test setup: test-only methods are registered through $GENZOO_PLUGINS."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).parent / "plugins"
sys.path.insert(0, str(PLUGINS))
os.environ["GENZOO_PLUGINS"] = "genzoo_testplugins"
os.environ.setdefault("MPLBACKEND", "Agg")


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a genzoo subprocess that also sees the test plugins."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGINS), env.get("PYTHONPATH")]))
    env["GENZOO_PLUGINS"] = "genzoo_testplugins"
    env.update(extra)
    return env


@pytest.fixture
def env() -> dict[str, str]:
    return subprocess_env()
