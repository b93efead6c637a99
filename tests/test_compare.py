"""The toy-2-D lab end to end, tiny: results, reference row, report, user data, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_contract import raw_config

from genzoo.cli import main
from genzoo.config import build_run_config
from genzoo.labs.toy2d import DENSITY_RESOLUTION, log_density_fn
from genzoo.runs import build_method, load_data

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


@pytest.mark.parametrize("suffix", ["npy", "csv"])
def test_compare_on_user_points(tmp_path, capsys, suffix):
    points = np.random.default_rng(0).normal(size=(400, 2)).astype(np.float32)
    path = tmp_path / f"mine.{suffix}"
    if suffix == "npy":
        np.save(path, points)
    else:
        np.savetxt(path, points, delimiter=",")
    out = tmp_path / "lab"
    code = main(["--quiet", "compare", "toy2d", "--models", "dsm", "--workers", "1", "--data",
                 str(path), "--out", str(out), "--samples", "200", *TINY,
                 "model.steps_per_level=3"])
    assert code == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert list(results["datasets"]) == ["data"]
    # 1/5 of the points are held out; the model trains on the other 320
    trained = np.load(out / "train-points.npy")
    assert trained.shape == (320, 2)
    assert {tuple(p) for p in trained.round(4)} <= {tuple(p) for p in points.round(4)}


def _tiny_method(name: str):
    cfg = build_run_config(raw_config(name))
    return build_method(cfg, load_data(cfg, "train").info).eval()


def test_log_density_views():
    x = torch.randn(5, 2)
    ebm = _tiny_method("ebm")
    with torch.no_grad():
        assert torch.allclose(log_density_fn(ebm)(x), -ebm.energy(x))
        cnf = _tiny_method("cnf")
        assert torch.allclose(log_density_fn(cnf)(x), cnf.log_prob(x))
        vae = _tiny_method("vae")
        torch.manual_seed(0)
        view = log_density_fn(vae)(x)
        torch.manual_seed(0)
        assert torch.allclose(view, vae.log_prob(x, k=64))  # fewer draws than the default
    for name in ("gan", "ddpm", "dsm", "sm"):  # sample-only and score families have none
        assert log_density_fn(_tiny_method(name)) is None


def test_compare_draws_density_views(tmp_path, monkeypatch):
    from genzoo.labs import toy2d as compare

    grids = {}
    original = compare._density_grid

    def spy(method, truth, p):
        grids[method.name] = original(method, truth, p)
        return grids[method.name]

    monkeypatch.setattr(compare, "_density_grid", spy)
    out = tmp_path / "lab"
    compare.compare_toy2d(out, models=["ebm", "gan"], datasets=["gmm-ring"],
                          protocol=compare.Protocol(n_samples=100), quiet=True,
                          overrides=TINY)
    assert grids["gan"] is None
    assert grids["ebm"].shape == (DENSITY_RESOLUTION, DENSITY_RESOLUTION)
    assert np.isfinite(grids["ebm"]).all() and np.ptp(grids["ebm"]) > 0
    assert (out / "densities.png").is_file()
    assert "Model densities" in (out / "report.html").read_text()


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
