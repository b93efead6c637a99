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
    root = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared/datasets"
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


@pytest.fixture
def fake_cifar10_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data root holding a small synthetic CIFAR-10 archive (24 train, 8 test images) that
    the loader accepts (its checksum is patched to the fake's)."""
    import dataclasses

    from genzoo.data import cifar

    from fakes import write_fake_cifar10

    fake = write_fake_cifar10(tmp_path / "data", n_train=24, n_test=8)
    spec = cifar.FILES[cifar.ARCHIVE]
    monkeypatch.setitem(cifar.FILES, cifar.ARCHIVE,
                        dataclasses.replace(spec, md5=fake["train"].md5[spec.name]))
    return tmp_path / "data"
