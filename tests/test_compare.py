"""The toy-2-D lab end to end, tiny: results, reference row, report, user data, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genzoo.cli import main

TINY = ["train.steps=3", "train.eval_every=3", "train.num_samples=16"]


def test_compare_writes_results_and_report(tmp_path, capsys):
    out = tmp_path / "lab"
    code = main(["--quiet", "compare", "toy2d", "--models", "dsm", "--datasets",
                 "pinwheel,gmm-ring", "--out", str(out), "--samples", "300", *TINY,
                 "model.steps_per_level=3"])
    assert code == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["protocol"]["n_samples"] == 300
    for dataset in ("pinwheel", "gmm-ring"):
        entry = results["datasets"][dataset]
        ref = entry["reference"]
        assert ref["bc"] > 0.9 and np.isfinite(ref["kde_ll"])  # fresh true samples
        (row,) = entry["families"]
        assert row["family"] == "dsm" and row["kde_ll"] <= ref["kde_ll"] + 0.5
        assert 0 <= row["bc"] <= 1 and (out / row["run"] / "checkpoints" / "last.pt").is_file()
    page = (out / "report.html").read_text()
    assert "Protocol" in page and "gmm-ring" in page and "reference" in page
    assert page.index("<h2>Protocol</h2>") < page.index("<h2>Metrics</h2>")  # lab first
    assert (out / "samples.png").is_file()


def test_compare_on_user_points(tmp_path, capsys):
    points = np.random.default_rng(0).normal(size=(400, 2)).astype(np.float32)
    np.save(tmp_path / "mine.npy", points)
    out = tmp_path / "lab"
    code = main(["--quiet", "compare", "toy2d", "--models", "dsm", "--workers", "1", "--data",
                 str(tmp_path / "mine.npy"), "--out", str(out), "--samples", "200", *TINY,
                 "model.steps_per_level=3"])
    assert code == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert list(results["datasets"]) == ["data"]


@pytest.mark.parametrize("args, words", [
    (["--models", "nope"], "no toy preset for 'nope'"),
    (["--datasets", "mnist-nope"], "unknown dataset"),
    (["--samples", "3"], "--samples"),
])
def test_compare_bad_input(tmp_path, capsys, args, words):
    out = tmp_path / "lab"
    code = main(["--quiet", "compare", "toy2d", "--out", str(out), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and words in err[0]
    assert not out.exists()
