"""Open reports in headless Chromium: the page renders and every embedded image decodes.

Fails when no browser is installed and ``$CI`` is set; skips otherwise.
"""

from __future__ import annotations

from genzoo.viz import write_report


def test_single_run_report_loads(make_run, open_in_browser):
    page = write_report([make_run("ebm-toy")])
    loaded, total, dom = open_in_browser(page)
    assert total == 5 and loaded == total  # curves, 3 sample grids, 1 figure
    assert "genzoo report: ebm-toy" in dom


def test_comparison_report_loads(make_run, open_in_browser, tmp_path):
    runs = [make_run("a"), make_run("b", restart=False), make_run("c", truncated=False)]
    (runs[2] / "samples" / "final.png").write_bytes(b"not a png")  # left out, and noted
    loaded, total, dom = open_in_browser(write_report(runs, tmp_path / "compare.html"))
    assert total == 1 + 4 + 4 + 3 and loaded == total
    assert "samples/final.png: not a readable PNG" in dom
