"""Synthetic run directories for the viz tests, and the headless browser to open reports in."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

from genzoo.viz import save_image_grid

RunFactory = Callable[..., Path]


def write_run(root: Path, name: str, *, val_acc: float = 0.875, restart: bool = True,
              truncated: bool = True) -> Path:
    """A finished-looking run: config, metrics (a restart, a cut-off last line), 2 sample grids
    (step-000100 written after final, to check ordering by name), one figure, eval.json."""
    run = root / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({
        "method": "ebm", "name": name, "command": f"genzoo train ebm-toy name={name}",
        "model": {"hidden": 64, "sgld_steps": 20}, "data": {"name": "pinwheel"},
        "train": {"lr": 0.001, "epochs": 2},
    }, sort_keys=False))
    lines: list[dict] = []
    for step in range(10, 210, 10):
        lines.append({"step": step, "epoch": step / 100, "time": step / 10, "split": "train",
                      "loss": 100.0 / step ** 2, "acc": step / 250, "lr": 0.001, "restarts": 0})
        if step % 100 == 0:
            lines.append({"step": step, "epoch": step / 100, "time": step / 10, "split": "val",
                          "loss": 0.4 if step == 100 else 0.35,
                          "acc": val_acc if step == 100 else val_acc - 0.125})
    if restart:
        lines.insert(6, {"step": 57, "time": 5.0, "event": "restart",
                         "reason": "non-finite loss (nan)", "restarts": 1, "resumed_from": 50,
                         "lr_scale": 0.5})
    text = "".join(json.dumps(r) + "\n" for r in lines)
    if truncated:
        text += '{"step": 210, "epoch": 2.1, "spl'
    (run / "metrics.jsonl").write_text(text)
    save_image_grid(torch.rand(4, 1, 8, 8), run / "samples" / "final.png")
    save_image_grid(torch.rand(9, 3, 8, 8), run / "samples" / "step-000200.png")
    save_image_grid(torch.rand(9, 1, 28, 28), run / "samples" / "step-000100.png")
    save_image_grid(torch.rand(2, 1, 8, 8), run / "figures" / "misclassified.png",
                    captions=["3 / 8", "1 / 7"])
    (run / "figures" / "captions.json").write_text(
        json.dumps({"misclassified.png": "misclassified <b>test</b> images"}))
    (run / "eval.json").write_text(json.dumps({"fid": 12.5, "kde": {"nats": -1.25},
                                               "judge": "wrn"}))
    return run


@pytest.fixture
def make_run(tmp_path: Path) -> RunFactory:
    """``make_run(name, **kw)``: a synthetic run directory under ``tmp_path``."""
    return lambda name, **kw: write_run(tmp_path, name, **kw)


def find_browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def browser_or_skip() -> str:
    """The headless browser; its absence fails under ``$CI`` and skips elsewhere."""
    browser = find_browser()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("no chromium/chromium-browser/google-chrome on PATH (CI must install it)")
        pytest.skip("no chromium/chromium-browser/google-chrome on PATH")
    return browser


def images_loaded(browser: str, page: Path) -> tuple[int, int, str]:
    """Open ``page`` in headless Chromium; (images loaded, images total, dumped DOM).

    The report's script writes both counts onto ``<body>`` at the window's load event;
    ``--virtual-time-budget`` lets the page settle before ``--dump-dom`` prints it.
    """
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=5000",
             "--dump-dom", page.resolve().as_uri()],
            capture_output=True, text=True, timeout=120,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", proc.stdout)
    assert body, proc.stdout[:500]
    loaded = re.search(r'data-images-loaded="(\d+)"', body.group(1))
    total = re.search(r'data-images-total="(\d+)"', body.group(1))
    assert loaded and total, f"the page's script did not run: <body{body.group(1)}>"
    return int(loaded.group(1)), int(total.group(1)), proc.stdout


@pytest.fixture
def open_in_browser() -> Callable[[Path], tuple[int, int, str]]:
    """``open_in_browser(page) -> (loaded, total, dom)``; see :func:`images_loaded`."""
    browser = browser_or_skip()
    return lambda page: images_loaded(browser, page)
