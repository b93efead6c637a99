"""Judges: Fréchet distance against closed forms, judge scores, caching, eval integration."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.linalg
import torch
import yaml

from genzoo.analyze.evaluate import evaluate_run
from genzoo.analyze.judges import judge_cost, judge_dir, load_judge
from genzoo.cli import main
from genzoo.data import load_dataset
from genzoo.data.transforms import to_float
from genzoo.errors import UserError
from genzoo.metrics.judge import (
    Judge,
    class_entropy,
    frechet_distance,
    inception_metrics,
    judge_accuracy,
    judge_confidence,
    judge_fid,
)
from genzoo.runs import train


def test_frechet_distance_of_two_1d_gaussians():
    # W2^2(N(m1, s1^2), N(m2, s2^2)) = (m1 - m2)^2 + (s1 - s2)^2
    d = frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[9.0]]))
    assert d == pytest.approx(9.0 + 1.0)


def test_frechet_distance_with_commuting_covariances():
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected)


def test_frechet_distance_general_case_matches_matrix_square_root():
    rng = np.random.default_rng(0)
    m1, m2 = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    c1, c2 = m1 @ m1.T + 0.1 * np.eye(5), m2 @ m2.T + 0.1 * np.eye(5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    root = scipy.linalg.sqrtm(c1 @ c2).real
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(c1 + c2 - 2 * root)
    assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(mu1, c1, mu1, c1) == pytest.approx(0.0, abs=1e-8)


class OneHot(torch.nn.Module):
    """A stand-in judge: logits put all mass on the class written in pixel (0, 0, 0)."""

    data_range = (0.0, 1.0)
    device = torch.device("cpu")

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k
        self.info = type("Info", (), {"shape": (1, 2, 2), "num_classes": k, "name": "toy"})

    def forward(self, x):
        return 50.0 * torch.nn.functional.one_hot((x[:, 0, 0, 0] * 10).round().long(),
                                                  self.k).float()

    def features(self, x):
        return x.flatten(1)


def images_of(classes: list[int]) -> torch.Tensor:
    x = torch.zeros(len(classes), 1, 2, 2)
    x[:, 0, 0, 0] = torch.tensor(classes, dtype=torch.float) / 10
    return x


def test_judge_scores_on_known_predictions():
    judge = Judge(OneHot(4))
    x = images_of([0, 1, 2, 3] * 5)
    assert class_entropy(judge, x) == pytest.approx(math.log(4))
    assert class_entropy(judge, images_of([2] * 7)) == pytest.approx(0.0)
    assert class_entropy(judge, images_of([0, 0, 1, 1])) == pytest.approx(math.log(2))
    assert judge_confidence(judge, x) == pytest.approx(1.0)
    labels = torch.tensor([0, 1, 2, 3] * 5)
    assert judge_accuracy(judge, x, labels) == 1.0
    assert judge_accuracy(judge, x, (labels + 1) % 4) == 0.0
    # value ranges are mapped: the same images given in [-1, 1]
    assert judge_accuracy(judge, x * 2 - 1, labels, value_range=(-1.0, 1.0)) == 1.0
    with pytest.raises(UserError, match="takes images of shape"):
        judge.logits(torch.zeros(2, 1, 3, 3))


@pytest.fixture
def judges(tmp_path, monkeypatch):
    monkeypatch.setenv("GENZOO_JUDGES", str(tmp_path / "judges"))
    return tmp_path / "judges"


def test_digits_judge_is_trained_cached_and_reused(judges, capsys):
    assert judge_dir() == judges
    judge = load_judge("digits")
    assert (judges / "digits.pt").is_file()
    meta = json.loads((judges / "digits.json").read_text())
    assert meta["preset"] == "clf-digits" and meta["test_accuracy"] > 0.9
    mtime = (judges / "digits.pt").stat().st_mtime_ns
    again = load_judge("digits")
    assert (judges / "digits.pt").stat().st_mtime_ns == mtime  # reused, not retrained
    test = load_dataset("digits", "test")
    x = to_float(test.x, test.info.value_range)
    assert judge_accuracy(judge, x, test.y) == judge_accuracy(again, x, test.y) > 0.9
    # judge-FID: about zero for the data against itself, large for uniform noise
    self_fid = judge_fid(judge, x, x)
    noise_fid = judge_fid(judge, torch.rand_like(x), x)
    assert self_fid < 1e-6 < 100 * self_fid + 1 < noise_fid
    with pytest.raises(UserError, match="no judge for dataset 'spiral'"):
        load_judge("spiral")


def test_stale_judge_is_retrained(judges):
    load_judge("digits")
    ckpt = torch.load(judges / "digits.pt", weights_only=True)
    ckpt["config"]["train"]["epochs"] = 1  # as if the preset changed since
    torch.save(ckpt, judges / "digits.pt")
    load_judge("digits")
    fresh = torch.load(judges / "digits.pt", weights_only=True)
    assert fresh["config"]["train"]["epochs"] == 15


def test_eval_of_a_generative_run_scores_samples_with_the_judge(judges, tmp_path):
    preset = tmp_path / "buffered.yaml"
    preset.write_text(yaml.safe_dump({"method": "test-buffered", "data": {
        "name": "digits", "val_split": "test"}, "train": {"steps": 3}}))
    run = train(str(preset), runs_dir=tmp_path / "runs", quiet=True)
    numbers = evaluate_run(run, num_samples=50)
    assert 0 < numbers["judge/confidence"] <= 1
    assert 0 <= numbers["judge/class_entropy"] <= math.log(10) + 1e-9
    assert numbers["judge/fid"] > 0 and "judge/accuracy" not in numbers  # unconditional
    stored = json.loads((run / "eval.json").read_text())
    assert stored["judge/fid"] == numbers["judge/fid"]


def test_default_judge_training_announces_its_cost_first(judges, capsys):
    load_judge("digits")
    err = capsys.readouterr().err
    assert "training the digits judge (clf-digits: 15 epochs" in err and "--no-judge" in err
    load_judge("digits")  # cached: nothing said
    assert "training" not in capsys.readouterr().err
    assert "200 epochs" in judge_cost("cifar10")


def test_any_classifier_run_can_judge_and_a_mismatched_one_is_one_line(judges, tmp_path,
                                                                       capsys):
    preset = tmp_path / "buffered.yaml"
    preset.write_text(yaml.safe_dump({"method": "test-buffered", "data": {
        "name": "digits", "val_split": "test"}, "train": {"steps": 3}}))
    run = train(str(preset), runs_dir=tmp_path / "runs", quiet=True)
    clf = train("clf-digits", ["train.epochs=2"], runs_dir=tmp_path / "runs", quiet=True)
    mine = evaluate_run(run, num_samples=50, judge_run=clf, figures=False)
    direct = evaluate_run(run, num_samples=50, figures=False, judge_run=clf / "checkpoints" /
                          "best.pt")
    assert mine["judge/fid"] == direct["judge/fid"] > 0
    assert not (judges / "digits.pt").exists()  # the default judge was never trained
    assert "judge/fid" not in evaluate_run(run, num_samples=50, judge=False, figures=False)
    toy_clf = tmp_path / "toy.yaml"
    toy_clf.write_text(yaml.safe_dump({"method": "classifier", "model": {
        "net": {"name": "mlp", "width": 8, "depth": 1}}, "data": {"name": "gmm-ring",
                                                                 "options": {"n": 64}},
        "train": {"steps": 1}}))
    other = train(str(toy_clf), runs_dir=tmp_path / "runs", quiet=True)
    capsys.readouterr()
    for bad in (other, run):  # other items; not a classifier
        assert main(["--quiet", "eval", str(run), "--samples", "20", "--judge", str(bad)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("genzoo: error: --judge:"), err


def test_inception_metrics_explain_what_is_missing():
    try:
        import torch_fidelity  # noqa: F401
    except ImportError:
        with pytest.raises(UserError, match="pip install torch-fidelity"):
            inception_metrics(torch.zeros(2, 3, 32, 32, dtype=torch.uint8),
                              torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    else:
        pytest.skip("torch-fidelity is installed; the missing-package path cannot be shown")


def test_eval_inception_without_torch_fidelity_is_one_clear_line(judges, tmp_path, capsys):
    try:
        import torch_fidelity  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("torch-fidelity is installed; the missing-package path cannot be shown")

    preset = tmp_path / "buffered.yaml"
    preset.write_text(yaml.safe_dump({"method": "test-buffered", "data": {
        "name": "digits", "val_split": "test"}, "train": {"steps": 2}}))
    run = train(str(preset), runs_dir=tmp_path / "runs", quiet=True)
    code = main(["eval", str(run), "--inception", "--samples", "20", "--no-judge"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "pip install torch-fidelity" in err[0]
    assert not (run / "eval.json").exists()
