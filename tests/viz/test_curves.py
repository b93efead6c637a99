"""read_metrics tolerance and the curves figure: panels, splits, restarts, log scale."""

from __future__ import annotations

import json

import pytest

from genzoo.errors import UserError
from genzoo.viz import curves_figure, plot_curves, read_metrics
from genzoo.viz.curves import metric_keys

PNG = b"\x89PNG\r\n\x1a\n"


def test_read_metrics_drops_only_a_cut_off_last_line(make_run, tmp_path):
    run = make_run("a")
    recs = read_metrics(run)
    assert len(recs) == 20 + 2 + 1 and recs[-1]["step"] == 200
    assert read_metrics(run / "metrics.jsonl") == recs  # the file itself works too
    assert read_metrics(tmp_path / "no-such-run") == []

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"step": 1, "loss": 1.0}\n{"step": 2, "lo\n{"step": 3, "loss": 0.5}\n')
    with pytest.raises(UserError, match=r"bad\.jsonl:2"):
        read_metrics(bad)
    bad.write_text('{"step": 1}\n\n[1, 2]\n')
    with pytest.raises(UserError, match="JSON object"):
        read_metrics(bad)


def test_metric_keys_leave_out_bookkeeping(make_run):
    keys = metric_keys(read_metrics(make_run("a")))
    assert keys == ["loss", "acc", "lr"]


def test_curves_panels_lines_restarts_and_log_scale(make_run):
    recs = {"a": read_metrics(make_run("a")), "b": read_metrics(make_run("b", restart=False))}
    fig = curves_figure(recs)
    axes = {ax.get_title(): ax for ax in fig.axes}
    assert set(axes) == {"loss", "acc", "lr"}
    assert axes["loss"].get_yscale() == "log"  # 100/step^2 spans 4 decades
    assert axes["acc"].get_yscale() == "linear"
    labels = [t.get_text() for t in axes["loss"].get_legend().get_texts()]
    assert labels == ["a train", "a val", "a restart", "b train", "b val"]
    restart_lines = [ln for ln in axes["acc"].lines if list(ln.get_xdata()) == [57.0, 57.0]]
    assert len(restart_lines) == 1


def test_plot_curves_png_and_nothing_to_plot(make_run, tmp_path):
    out = plot_curves({"a": read_metrics(make_run("a"))}, tmp_path / "deep" / "c.png",
                      keys=["loss"])
    assert out == tmp_path / "deep" / "c.png" and out.read_bytes()[:8] == PNG
    events_only = [{"step": 3, "event": "restart", "reason": "nan"}]
    assert plot_curves({"x": events_only}, tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()


def test_non_finite_values_do_not_break_the_plot(tmp_path):
    recs = [{"step": s, "split": "train", "loss": v}
            for s, v in enumerate([1.0, float("nan"), 0.5, float("inf")])]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert plot_curves({"r": read_metrics(tmp_path)}, tmp_path / "c.png") is not None
