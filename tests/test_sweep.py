"""genzoo sweep: the grid, seeds, mean and spread, one report, resuming."""

from __future__ import annotations

import json
import statistics

import pytest

from genzoo.cli import main
from genzoo.errors import UserError
from genzoo.labs.sweep import parse_grid

ARGS = ["clf-digits", "model.noise_sigma=0,0.1", "train.epochs=1", "--seeds", "0,1",
        "--no-judge"]


def test_parse_grid_separates_swept_keys_from_fixed_ones():
    fixed, axes = parse_grid(["a.b=1,2,3", "c=4", "d=[0, 1]", "e={x: 1, y: 2}"])
    assert axes == {"a.b": ["1", "2", "3"]} and fixed == ["c=4", "d=[0, 1]", "e={x: 1, y: 2}"]
    for bad in (["a=1,"], ["a=1,2", "a=3,4"], ["novalue"]):
        with pytest.raises(UserError):
            parse_grid(bad)


def test_sweep_trains_the_grid_reports_mean_and_spread_and_resumes(tmp_path, capsys):
    out = tmp_path / "sw"
    assert main(["--quiet", "sweep", *ARGS, "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert [p["point"] for p in results["points"]] == [{"model.noise_sigma": "0"},
                                                        {"model.noise_sigma": "0.1"}]
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == ["noise_sigma-0.1_seed-0", "noise_sigma-0.1_seed-1", "noise_sigma-0_seed-0",
                    "noise_sigma-0_seed-1"]
    for point in results["points"]:
        evals = [json.loads((out / "runs" / r / "eval.json").read_text()) for r in point["runs"]]
        accs = [e["test/acc"] for e in evals]
        assert point["mean"]["test/acc"] == pytest.approx(statistics.fmean(accs))
        assert point["std"]["test/acc"] == pytest.approx(statistics.stdev(accs))
    seeds = [json.loads((out / "runs" / r / "config.yaml").read_text().split("seed: ")[1]
                        .split()[0]) for r in results["points"][0]["runs"]]
    assert seeds == [0, 1]
    page = (out / "report.html").read_text()
    assert "Sweep" in page and "noise_sigma" in page and "±" in page

    # resume: finished runs are kept; a removed run is trained again, alone
    logs = {r: (out / "runs" / r / "metrics.jsonl").read_text() for r in runs}
    gone = out / "runs" / runs[0]
    for f in sorted(gone.rglob("*"), reverse=True):
        f.unlink() if f.is_file() else f.rmdir()
    gone.rmdir()
    assert main(["--quiet", "sweep", *ARGS, "--out", str(out)]) == 0
    assert all((out / "runs" / r / "metrics.jsonl").read_text() == logs[r] for r in runs[1:])
    assert (gone / "metrics.jsonl").is_file()
    again = json.loads((out / "results.json").read_text())
    assert again["points"][0]["mean"] == results["points"][0]["mean"]  # noise 0: kept runs


def test_sweep_bad_input_is_one_line_and_trains_nothing(tmp_path, capsys):
    for args in (["clf-digits", "model.nope=1,2"], ["clf-digits", "train.epochs=1"],
                 ["clf-digits", "model.noise_sigma=0,0.1", "--seeds", "a"]):
        assert main(["--quiet", "sweep", *args, "--out", str(tmp_path / "x")]) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
