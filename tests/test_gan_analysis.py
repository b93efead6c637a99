"""GAN latent studies: exact perturbation and interpolation paths, the analyze command."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from genzoo.analyze.gan import ALPHAS, interpolations, perturbations
from genzoo.cli import main
from genzoo.config import build_run_config
from genzoo.data.base import DatasetInfo
from genzoo.errors import UserError
from genzoo.models.gan import GAN, GANConfig
from genzoo.nets.mlp import MLPConfig
from genzoo.runs import train

VECTORS = DatasetInfo("toy", (3,), None, None, "vector")


def _identity_gan() -> GAN:
    gan = GAN(GANConfig(latent_dim=3, generator=MLPConfig(width=4, depth=1),
                        critic=MLPConfig(width=4, depth=1)), VECTORS)
    gan.generator = nn.Identity()  # G(z) = z: unbounded vectors, no tanh
    return gan


def test_perturbations_move_one_coordinate_by_each_eps():
    gan = _identity_gan()
    z = torch.randn(2, 3)
    x = perturbations(gan, z, None, [-1.0, 0.0, 2.5])
    assert x.shape == (2, 3, 3, 3)
    for n in range(2):
        for i in range(3):
            for j, e in enumerate([-1.0, 0.0, 2.5]):
                expected = z[n].clone()
                expected[i] += e
                torch.testing.assert_close(x[n, i, j], expected)


def test_interpolations_agree_for_a_linear_generator_and_differ_for_tanh():
    gan = _identity_gan()
    z0, z1 = torch.randn(4, 3), torch.randn(4, 3)
    latent, data = interpolations(gan, z0, z1, None)
    assert latent.shape == data.shape == (4, len(ALPHAS), 3)
    torch.testing.assert_close(latent, data)
    torch.testing.assert_close(latent[:, 0], z1)
    torch.testing.assert_close(latent[:, -1], z0)
    torch.testing.assert_close(latent[:, 3], 0.3 * z0 + 0.7 * z1)
    gan.bounded = True  # G(z) = tanh(z): the paths share their ends only
    latent, data = interpolations(gan, 2 * z0, 2 * z1, None)
    torch.testing.assert_close(latent[:, [0, -1]], data[:, [0, -1]])
    torch.testing.assert_close(data[:, 5], 0.5 * torch.tanh(2 * z0) + 0.5 * torch.tanh(2 * z1))
    assert not torch.allclose(latent[:, 5], data[:, 5])
    # the data-space path moves in equal steps of |G(z0) - G(z1)| / 10
    steps = (data[:, 1:] - data[:, :-1]).norm(dim=-1)
    ends = (torch.tanh(2 * z0) - torch.tanh(2 * z1)).norm(dim=-1)
    torch.testing.assert_close(steps, (ends / 10)[:, None].expand_as(steps))


def _tiny_gan_run(tmp_path, **model):
    raw = {"method": "gan", "name": "gan-digits",
           "model": {"generator": {"name": "mlp", "width": 16, "depth": 1},
                     "critic": {"name": "mlp", "width": 16, "depth": 1}, "latent_dim": 5,
                     **model},
           "data": {"name": "digits", "limit": 64, "val_limit": 16, "val_split": "test"},
           "train": {"steps": 2, "batch_size": 16, "num_samples": 4, "num_threads": 1}}
    return train(build_run_config(raw), runs_dir=tmp_path, quiet=True)


@pytest.mark.parametrize("conditional", [False, True])
def test_analyze_writes_figures_and_numbers(tmp_path, conditional):
    run = _tiny_gan_run(tmp_path, conditional=conditional)
    assert main(["--quiet", "analyze", str(run), "all", "--n", "6", "--no-judge"]) == 0
    captions = json.loads((run / "figures" / "captions.json").read_text())
    assert {"gan-perturb.png", "gan-perturb-sensitivity.png", "gan-interpolate.png"} <= \
        set(captions)
    for name in captions:
        assert (run / "figures" / name).stat().st_size > 0
    numbers = json.loads((run / "eval.json").read_text())
    assert numbers["perturb/eps_max"] == 3.0
    assert numbers["perturb/max_pixel_change"] >= numbers["perturb/mean_pixel_change"] > 0
    assert numbers["interpolate/latent/max_step"] >= numbers["interpolate/latent/mean_step"] > 0
    assert numbers["interpolate/data/max_step"] >= numbers["interpolate/data/mean_step"] > 0
    assert not any(k.endswith("judge_confidence") for k in numbers)


def test_analyze_refuses_unknown_analyses_and_other_methods(tmp_path, capsys):
    run = _tiny_gan_run(tmp_path)
    assert main(["analyze", str(run), "energies", "--no-judge"]) == 2
    assert "analysis 'energies' needs a method with 'logits'" in capsys.readouterr().err
    assert main(["analyze", str(run), "shuffle", "--no-judge"]) == 2
    assert "unknown analysis 'shuffle'; valid: buffer-draws, calibration" in capsys.readouterr().err
    assert main(["analyze", str(run), "perturb", "--eps", "0", "--no-judge"]) == 2
    assert "--n, --eps: expected positive numbers" in capsys.readouterr().err
    from genzoo.analyze.gan import analyze_gan_run

    clf = train(build_run_config({"method": "classifier", "name": "clf",
                                  "model": {"net": {"name": "cnn", "width": 4, "stages": 1}},
                                  "data": {"name": "digits", "limit": 32},
                                  "train": {"steps": 1, "batch_size": 8}}),
                runs_dir=tmp_path, quiet=True)
    with pytest.raises(UserError, match="need a GAN"):
        analyze_gan_run(clf, ["perturb"], judge=False)


SHRINK = ["data.name=digits", "data.val_split=test", "data.limit=64", "data.val_limit=16",
          "model.generator.size=8", "model.generator.width=4", "model.critic.width=4",
          "model.latent_dim=4", "train.epochs=null", "train.steps=4", "train.batch_size=16",
          "train.log_every=1", "train.eval_every=4", "train.samples_every=2",
          "train.num_samples=4"]


def test_compare_gan_lab_scores_and_reports_every_preset(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GENZOO_JUDGES", str(tmp_path / "judges"))
    out = tmp_path / "cmp"
    assert main(["--quiet", "compare", "gan", "--preset", "gan-hoda,wgan-hoda", *SHRINK,
                 "--samples", "20", "--out", str(out)]) == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())["runs"]
    assert list(results) == ["gan-hoda", "wgan-hoda"]
    assert results["gan-hoda"]["objective"] == "ns"
    assert results["wgan-hoda"]["objective"] == "wgan-lp"
    for r in results.values():
        assert 0 < r["judge/confidence"] <= 1 and 0 <= r["judge/class_entropy"] <= 2.31
        assert r["stability/restarts"] == 0 and r["stability/g_loss_std"] >= 0
        assert "perturb/mean_pixel_change" in r and "interpolate/latent/judge_confidence" in r
        assert len(list((out / r["run"] / "samples").glob("step-*.png"))) == 2  # over training
    assert "stability/w_dist_last" in results["wgan-hoda"]
    assert "stability/w_dist_last" not in results["gan-hoda"]
    page = (out / "report.html").read_text()
    assert "Judge scores and stability" in page and "wgan-lp" in page
    assert main(["compare", "gan", "--preset", "gan-hoda,jem-mnist", "--out", str(out)]) == 2
    assert "needs 'gan' presets" in capsys.readouterr().err
    assert main(["compare", "gan", "--preset", "gan-hoda,cgan-mnist", "--out", str(out)]) == 2
    assert "different datasets" in capsys.readouterr().err
