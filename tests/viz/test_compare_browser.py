"""The toy-2-D comparison report (what `make demo` will show) opens in headless Chromium."""

from __future__ import annotations

from genzoo.labs.toy2d import Protocol, compare_toy2d


def test_comparison_report_loads(tmp_path, open_in_browser):
    page = compare_toy2d(tmp_path / "lab", models=["dsm", "ddpm"], datasets=["gmm-ring"],
                         protocol=Protocol(n_samples=200),
                         overrides=["train.steps=3", "train.num_samples=16"], quiet=True)
    loaded, total, dom = open_in_browser(page)
    assert total >= 4 and loaded == total  # lab figure, curves, one sample grid per run
    assert "genzoo toy-2-D comparison" in dom and "reference" in dom
