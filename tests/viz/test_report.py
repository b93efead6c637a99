"""Curves and the self-contained HTML report, and that a real browser loads it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from genzoo.viz import Section, plot_curves, read_metrics, save_image_grid, write_report


def make_run(root: Path, name: str, acc: float, *, restart: bool = False) -> Path:
    run = root / name
    (run / "samples").mkdir(parents=True)
    (run / "figures").mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(
        {"command": f"genzoo train {name}", "method": "classifier", "name": name,
         "model": {"noise_sigma": 0.03}, "train": {"lr": 0.001}}))
    lines = [{"step": s, "epoch": s / 10, "time": s, "split": "train", "loss": 2.0 / s,
              "acc": acc * s / 30, "lr": 1e-3} for s in (10, 20, 30)]
    lines.insert(2, {"step": 20, "epoch": 2.0, "time": 20, "split": "val", "loss": 0.2,
                     "acc": acc})
    if restart:
        lines.insert(1, {"step": 15, "time": 15, "event": "restart", "reason": "non-finite loss",
                         "restarts": 1, "resumed_from": 10})
    text = "".join(json.dumps(r) + "\n" for r in lines) + '{"step": 31, "spl'  # cut short
    (run / "metrics.jsonl").write_text(text)
    save_image_grid(torch.rand(4, 1, 8, 8), run / "samples" / "final.png")
    save_image_grid(torch.rand(2, 3, 8, 8), run / "figures" / "misclassified.png")
    (run / "figures" / "captions.json").write_text(json.dumps(
        {"misclassified.png": "test images the classifier got wrong"}))
    (run / "eval.json").write_text(json.dumps({"test/acc": 0.9876}))
    return run


def test_read_metrics_skips_a_truncated_line(tmp_path):
    run = make_run(tmp_path, "a", 0.9, restart=True)
    recs = read_metrics(run)
    assert len(recs) == 5 and recs[-1]["step"] == 30
    assert read_metrics(tmp_path / "missing") == []


def test_plot_curves_writes_png(tmp_path):
    run = make_run(tmp_path, "a", 0.9, restart=True)
    out = plot_curves({"a": read_metrics(run)}, tmp_path / "c.png")
    assert out is not None and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_curves({"empty": []}, tmp_path / "none.png") is None


def test_report_is_self_contained(tmp_path):
    run = make_run(tmp_path, "a", 0.9, restart=True)
    out = write_report([run])
    page = out.read_text()
    assert out == run / "report.html"
    assert "genzoo train a" in page and "noise_sigma" in page
    assert "0.9876" in page and "test images the classifier got wrong" in page
    assert "non-finite loss" in page and "rolled back to step 10" in page
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert len(sources) == 3  # curves, sample grid, figure
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http" not in page.replace("http-equiv", "") and "<link" not in page


def test_report_compares_runs_and_copes_with_missing_files(tmp_path):
    a, b = make_run(tmp_path, "a", 0.9), make_run(tmp_path, "b", 0.5)
    (b / "eval.json").unlink()
    shutil.rmtree(b / "samples")
    bare = tmp_path / "bare"
    bare.mkdir()
    with pytest.raises(ValueError, match="explicit output"):
        write_report([a, b])
    out = write_report([a, b, bare], tmp_path / "cmp.html",
                       extra_sections=[Section("Extra", "<p>hello</p>")])
    page = out.read_text()
    assert all(f"<h2>{n}</h2>" in page for n in ("a", "b", "bare"))
    assert "<p>hello</p>" in page and "<td>0.9</td>" in page and "<td>0.5</td>" in page
