"""The HTML report: contents, self-containment, escaping, comparisons, damaged run folders."""

from __future__ import annotations

import base64
import re
import shutil

import pytest
import yaml

from genzoo.errors import UserError
from genzoo.viz import ReportImage, Section, load_run, summary_metrics, table_html, write_report
from genzoo.viz.run_data import RunData

DATA_URI = "data:image/png;base64,"


def _attrs(page: str, name: str) -> list[str]:
    return re.findall(rf'\b{name}="([^"]*)"', page)


def test_single_run_report_contents(make_run):
    run = make_run("ebm-toy")
    out = write_report([run])
    assert out == run / "report.html"
    page = out.read_text(encoding="utf-8")
    assert "<title>genzoo report: ebm-toy</title>" in page
    assert "genzoo train ebm-toy name=ebm-toy" in page                # the command
    assert "sgld_steps" in page and "pinwheel" in page and "<details>" in page  # config
    # metrics: final train, final/best val, every eval number (nested keys joined with dots)
    for cell in ("train/loss", "0.0025", "best val/loss", "0.35", "best val/acc", "0.875",
                 "eval/fid", "12.5", "eval/kde.nats", "-1.25"):
        assert f"<td>{cell}</td>" in page, cell
    assert "eval/judge" not in page                                   # strings are not numbers
    assert "non-finite loss (nan), rolled back to step 50" in page    # the restart, listed
    assert "misclassified &lt;b&gt;test&lt;/b&gt; images" in page     # caption, escaped
    # curves + 3 sample grids + 1 figure, all embedded, nothing fetched from anywhere
    sources = _attrs(page, "src")
    assert len(sources) == 5 and all(s.startswith(DATA_URI) for s in sources)
    assert all(h.startswith("#") for h in _attrs(page, "href"))
    assert 'src="http' not in page and "<link" not in page and "url(" not in page
    # sample grids oldest first: numbered by step, then final
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", page)
    assert captions[1:4] == ["step-000100.png", "step-000200.png", "final.png"]


def test_images_are_the_files_themselves(make_run):
    run = make_run("a")
    page = write_report(run).read_text()  # a single path works too
    embedded = [base64.b64decode(s[len(DATA_URI):]) for s in _attrs(page, "src")]
    assert (run / "samples" / "final.png").read_bytes() in embedded
    assert (run / "figures" / "misclassified.png").read_bytes() in embedded


def test_text_is_escaped(make_run):
    run = make_run("a")
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["command"] = 'genzoo train x "--name=<script>alert(1)</script>"'
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    page = write_report([run], extra_sections=[Section("A & <B>")]).read_text()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert "<h2>A &amp; &lt;B&gt;</h2>" in page


def test_two_runs_are_compared(make_run, tmp_path):
    a, b = make_run("a"), make_run("b", val_acc=0.5, restart=False)
    with pytest.raises(ValueError, match="explicit output"):
        write_report([a, b])
    page = write_report([a, b], tmp_path / "cmp.html").read_text()
    assert "<h2>a</h2>" in page and "<h2>b</h2>" in page
    rows = re.findall(r"<tr><td>(a|b)</td>(.*?)</tr>", page)
    assert [r[0] for r in rows[:2]] == ["a", "b"]                     # one metrics row per run
    assert "<td>0.875</td>" in rows[0][1] and "<td>0.5</td>" in rows[1][1]
    assert "Config differences" in page                               # name: a vs b
    assert len(re.findall(r"<img ", page)) == 1 + 2 * 4               # one curves figure


def test_same_directory_names_are_told_apart(make_run, tmp_path):
    runs = [make_run("first/a"), make_run("second/a")]
    page = write_report(runs, tmp_path / "cmp.html").read_text()
    assert "<h2>first/a</h2>" in page and "<h2>second/a</h2>" in page


def test_damaged_and_missing_files_are_noted_not_raised(make_run, tmp_path):
    run = make_run("a")
    (run / "config.yaml").write_text("model: [unclosed\n")
    (run / "eval.json").write_text("{not json")
    (run / "figures" / "captions.json").write_text("[1, 2]")
    (run / "samples" / "step-000300.png").write_bytes(b"\x89PNG\r\n\x1a\n half")
    (run / "metrics.jsonl").write_text('{"step": 1}\n{oops\n{"step": 2}\n')
    page = write_report([run]).read_text()
    for note in ("config.yaml: not valid YAML", "eval.json: not valid JSON",
                 "captions.json: expected", "step-000300.png: not a readable PNG",
                 "metrics.jsonl:2"):
        assert note in page, note
    assert "model: [unclosed" in page                                  # shown as written
    assert all(s.startswith(DATA_URI) for s in _attrs(page, "src"))

    bare = tmp_path / "bare"
    bare.mkdir()
    page = write_report([bare]).read_text()
    assert "no config.yaml" in page and "No metrics recorded yet." in page
    assert "<img" not in page
    assert [p.name for p in bare.iterdir()] == ["report.html"]        # no temp file left

    with pytest.raises(UserError, match="run directory not found"):
        write_report([tmp_path / "missing"])
    with pytest.raises(ValueError, match="at least one"):
        write_report([])


def test_summary_metrics_best_and_final(make_run):
    s = summary_metrics(load_run(make_run("a")))
    assert s["step"] == 200 and s["restarts"] == 1
    assert s["val/loss"] == 0.35 and s["best val/loss"] == 0.35        # min for losses
    assert s["val/acc"] == 0.75 and s["best val/acc"] == 0.875         # max for accuracies
    assert s["train/lr"] == 0.001 and "best val/lr" not in s
    assert s["eval/fid"] == 12.5 and s["eval/kde.nats"] == -1.25
    assert summary_metrics(RunData(path=make_run("b").parent, name="x")) == {}


def test_extra_sections_with_images(make_run):
    run = make_run("a")
    png = (run / "samples" / "final.png").read_bytes()
    section = Section("JEM calibration", table_html(["bin", "acc"], [[0.1, 0.123456]]),
                      [ReportImage(png, "reliability")])
    page = write_report([run], extra_sections=[section]).read_text()
    assert "<td>0.1235</td>" in page and "<figcaption>reliability</figcaption>" in page
    assert page.index("JEM calibration") < page.index("<h2>a</h2>")
    shutil.rmtree(run / "samples")
    assert "<h3>Samples</h3><p>None.</p>" in write_report([run]).read_text()
