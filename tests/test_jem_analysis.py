"""Classifier-as-EBM analyses, calibration and OOD metrics, and the JEM comparison lab."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genzoo.analyze.jem import ANALYSES, chain, energy
from genzoo.cli import main
from genzoo.config import resolve_config
from genzoo.labs.jem import JEMPP, variant_config
from genzoo.metrics.calibration import expected_calibration_error, reliability
from genzoo.metrics.ood import auroc
from genzoo.runs import load, read_run_config

TINY = ["data.name=digits", "data.val_limit=32", "model.net.width=4", "model.buffer_size=64",
        "model.sampler.steps=2", "model.sampler.sample_steps=2", "model.sampler.buffer_steps=2",
        "train.epochs=null", "train.steps=6", "train.batch_size=8", "train.eval_every=6",
        "train.num_samples=10", "train.warmup_steps=0", "train.lr=1e-3"]


def test_ece_of_a_hand_made_example():
    # two bins used: confidence 0.9 (2 items, 1 right) and 0.6 (2 items, both right)
    probs = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])
    labels = torch.tensor([0, 1, 1, 1])
    r = reliability(probs, labels, bins=10)
    assert r.count.sum() == 4 and r.count[8] == 2 and r.count[5] == 2
    assert r.accuracy[8] == pytest.approx(0.5) and r.confidence[8] == pytest.approx(0.9)
    assert torch.isnan(r.accuracy[0])
    assert r.ece == pytest.approx((2 * 0.4 + 2 * 0.4) / 4)
    # a perfectly calibrated predictor: accuracy equals confidence in every bin
    torch.manual_seed(0)
    conf = torch.rand(200000) * 0.5 + 0.5
    right = torch.rand(200000) < conf
    probs = torch.stack([conf, 1 - conf], 1)
    assert expected_calibration_error(probs, (~right).long(), bins=15) < 0.01


def test_auroc_is_the_probability_of_ranking_a_pair_right():
    assert auroc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert auroc(np.array([0.0]), np.array([1.0])) == 0.0
    assert auroc(np.array([1.0, 1.0]), np.array([1.0])) == 0.5
    rng = np.random.default_rng(0)
    a, b = rng.normal(1, 1, 400), rng.normal(0, 1, 300)
    pairs = (a[:, None] > b[None, :]).mean() + 0.5 * (a[:, None] == b[None, :]).mean()
    assert auroc(a, b) == pytest.approx(pairs)
    with pytest.raises(ValueError):
        auroc(np.array([]), b)


@pytest.fixture(scope="module")
def jem_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    assert main(["--quiet", "train", "jem-mnist", *TINY, "--runs-dir", str(runs)]) == 0
    return runs / "jem-mnist"


def test_every_analysis_writes_its_figures_and_numbers(jem_run):
    what = [a for a in ANALYSES if a != "ood"]
    assert main(["--quiet", "analyze", str(jem_run), *what, "--n", "12", "--steps", "4"]) == 0
    captions = json.loads((jem_run / "figures" / "captions.json").read_text())
    expected = {"energy-groups.png", "energy-per-class.png", "generate-noise.png",
                "generate-buffer.png", "reverse-steps.png", "reverse-accuracy.png",
                "top-energy.png", "guided-none.png", "guided-true.png", "guided-wrong.png",
                "reliability.png"}
    assert expected <= set(captions)
    for name in expected:
        assert (jem_run / "figures" / name).stat().st_size > 0
    numbers = json.loads((jem_run / "eval.json").read_text())
    for key in ("energies/test_images/E_x", "calibration/ece", "top/top16_label_match",
                "reverse/accuracy_end", "guided/wrong/final_label_agreement",
                "generate/noise/self_accuracy"):
        assert key in numbers
    assert 0 <= numbers["calibration/ece"] <= 1


def test_analysis_errors_are_one_line(jem_run, capsys):
    assert main(["analyze", str(jem_run), "bogus"]) == 2
    assert "unknown analysis 'bogus'" in capsys.readouterr().err
    assert main(["analyze", str(jem_run), "ood", "--ood", "mnist"]) == 2
    assert "do not match" in capsys.readouterr().err
    assert main(["analyze", str(jem_run), "ood"]) == 2  # digits has no default partner
    assert "--ood" in capsys.readouterr().err


def test_negative_step_climbs_and_positive_step_descends_the_energy(jem_run):
    model = load(jem_run)
    model.cfg.sampler.noise_scale, model.cfg.sampler.step_size = 0.0, 0.01
    torch.manual_seed(0)
    model.net = model.chain.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    x = torch.rand(16, *model.info.shape) * 0.2  # away from the clamp
    e0 = energy(model(x)).mean()
    down, _ = chain(model, x, 5)
    up, frames = chain(model, x, 5, sign=-1.0, every=1)
    assert energy(model(down)).mean() < e0 < energy(model(up)).mean()
    assert len(frames) == 6 and torch.equal(frames[0], x)


def test_ood_on_real_data_and_the_plain_classifier(tmp_path, real_data_root):
    runs = tmp_path / "runs"
    assert main(["--quiet", "train", "clf-mnist", f"data.root={real_data_root}",
                 "data.limit=256", "data.val_limit=64", "model.net.width=4",
                 "train.epochs=1", "--runs-dir", str(runs)]) == 0
    assert main(["--quiet", "analyze", str(runs / "clf-mnist"), "ood", "energies",
                 "--split", "test"]) == 0
    numbers = json.loads((runs / "clf-mnist" / "eval.json").read_text())
    assert 0 <= numbers["ood/fashion-mnist/auroc_log_px"] <= 1
    assert 0 <= numbers["ood/fashion-mnist/auroc_max_softmax"] <= 1


def test_jempp_preset_is_the_jem_preset_plus_the_jempp_overrides():
    assert resolve_config("jempp-mnist").to_dict()["model"] == \
        resolve_config("jem-mnist", JEMPP).to_dict()["model"]
    assert resolve_config("jempp-mnist").to_dict()["train"] == \
        resolve_config("jem-mnist").to_dict()["train"]


def test_comparison_variants_share_backbone_data_and_budget():
    cls, jem, jempp = (variant_config("jem-fashion", ["train.epochs=2"], v)
                       for v in ("classifier", "jem", "jem++"))
    assert cls.method == "classifier" and jem.method == jempp.method == "jem"
    assert cls.model.net == jem.model.net == jempp.model.net
    assert cls.model.augment == jem.model.augment == "crop-flip"
    assert cls.train.epochs == jem.train.epochs == jempp.train.epochs == 2
    assert jempp.model.start == "class-gaussian" and jempp.model.sampler.inner_steps == 5
    assert jem.model.start == "uniform" and jem.model.sampler.inner_steps == 0


def test_compare_jem_lab_end_to_end(tmp_path):
    out = tmp_path / "cmp"
    assert main(["--quiet", "compare", "jem", "--preset", "jem-mnist", *TINY, "--samples", "20",
                 "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())["variants"]
    assert set(results) == {"classifier", "jem", "jem++"}
    for r in results.values():
        assert 0 <= r["test/acc"] <= 1 and r["seconds_per_epoch"] > 0 and r["restarts"] == 0
        assert "judge/accuracy" in r and "calibration/ece" in r
    page = (out / "report.html").read_text()
    assert "Same budget" in page and "jem++" in page
    assert main(["compare", "jem", "--preset", "ebm-mnist", "--out", str(out)]) == 2

    # --resume keeps the finished runs: no new directories, logs and weights untouched
    runs = sorted(p.name for p in (out / "runs").iterdir())
    before = {r: ((out / "runs" / r / "metrics.jsonl").read_text(),
                  (out / "runs" / r / "checkpoints" / "last.pt").read_bytes()) for r in runs}
    assert main(["--quiet", "compare", "jem", "--preset", "jem-mnist", *TINY, "--samples", "20",
                 "--out", str(out), "--resume"]) == 0
    assert sorted(p.name for p in (out / "runs").iterdir()) == runs
    assert before == {r: ((out / "runs" / r / "metrics.jsonl").read_text(),
                          (out / "runs" / r / "checkpoints" / "last.pt").read_bytes())
                      for r in runs}
    again = json.loads((out / "results.json").read_text())["variants"]
    assert {v: r["test/acc"] for v, r in again.items()} == \
        {v: r["test/acc"] for v, r in results.items()}
    # ... and refuses runs saved with other settings, before training anything
    assert main(["--quiet", "compare", "jem", "--preset", "jem-mnist", *TINY, "train.lr=2e-3",
                 "--samples", "20", "--out", str(out), "--resume"]) == 2
    assert before["jem"][0] == (out / "runs" / "jem" / "metrics.jsonl").read_text()
    assert main(["compare", "toy2d", "--resume", "--out", str(tmp_path / "t")]) == 2

    # --from: JEM and JEM++ fine-tuned from the classifier run beside the runs from scratch
    clf = out / "runs" / "classifier"
    wrong = tmp_path / "wrong"
    assert main(["--quiet", "compare", "jem", "--preset", "jem-mnist", *TINY, "model.net.width=8",
                 "--out", str(wrong), "--from", str(clf)]) == 2
    assert not wrong.exists()  # refused before training
    ft = tmp_path / "ft"
    assert main(["--quiet", "compare", "jem", "--preset", "jem-mnist", *TINY, "--samples", "20",
                 "--out", str(ft), "--from", str(clf)]) == 0
    results = json.loads((ft / "results.json").read_text())["variants"]
    assert set(results) == {"classifier", "jem", "jem++", "jem-ft", "jem++-ft"}
    for variant in ("jem-ft", "jem++-ft"):
        cfg = read_run_config(ft / results[variant]["run"])
        assert cfg.method == "jem" and cfg.train.init_from == str(clf)
    assert "energy-grid/real/E_x" in results["jem-ft"] and "buffer-draws/p_new" in \
        results["jem-ft"]
