"""Image EBMs: the ResNet energy, conditional energies and sampling, schedules, presets."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
import yaml

from genzoo.cli import main
from genzoo.config import resolve_config
from genzoo.errors import ConfigError, UserError
from genzoo.nets.resnet_ebm import ResidualBlock, ResNetEnergyConfig
from genzoo.runs import build_method, load, load_data, preset_method
from genzoo.samplers.chain import SGLDConfig

DIGITS = ["data.name=digits", "data.val_limit=32", "model.net.width=4", "model.buffer_size=64"]


def digits_ebm(*overrides: str, preset: str = "cebm-mnist"):
    return preset_method(preset, [*DIGITS, *overrides], limit=128)


def test_resnet_energy_has_nine_blocks_and_a_scalar_output():
    net = ResNetEnergyConfig(width=8).build((3, 32, 32), 1)
    assert sum(isinstance(m, ResidualBlock) for m in net.modules()) == 9
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 1)
    with pytest.raises(ConfigError, match="image inputs"):
        ResNetEnergyConfig().build((2,), 1)


@pytest.mark.numerics
def test_resnet_sum_pooling_is_mean_pooling_times_positions():
    torch.manual_seed(0)
    summed = ResNetEnergyConfig(width=4, stages=2, blocks=1, pool="sum").build((1, 8, 8), 3)
    mean = ResNetEnergyConfig(width=4, stages=2, blocks=1, pool="mean").build((1, 8, 8), 3)
    mean.load_state_dict(summed.state_dict())
    x = torch.randn(5, 1, 8, 8)
    assert torch.allclose(summed.features(x), mean.features(x) * 16, atol=1e-5)  # 4x4 positions


def test_spectral_norm_bounds_every_layer_near_one():
    torch.manual_seed(0)
    net = ResNetEnergyConfig(width=4, stages=2, blocks=1, spectral_norm=True).build((1, 8, 8), 1)
    net.train()
    for _ in range(30):  # power iterations run in train-mode forwards
        net(torch.randn(2, 1, 8, 8))
    net.eval()
    linear = net.head.weight
    assert torch.linalg.matrix_norm(linear, ord=2).item() == pytest.approx(1.0, rel=0.05)
    conv = net.stem.weight.flatten(1)
    assert torch.linalg.matrix_norm(conv, ord=2).item() == pytest.approx(1.0, rel=0.05)


def test_conditional_energy_indexes_the_output_and_marginalises_without_labels():
    method, data = digits_ebm()
    x, y = method.prepare(data.x[:6], data.y[:6]).x, data.y[:6]
    out = method.net(x)
    assert torch.allclose(method.energy(x, y), out[torch.arange(6), y])
    assert torch.allclose(method.energy(x), -torch.logsumexp(-out, 1))
    assert method.conditional and out.shape == (6, 10)


def test_conditional_negatives_keep_their_labels_in_the_buffer():
    method, data = digits_ebm("model.sampler.steps=2")
    method.train()
    batch = method.prepare(data.x[:16], data.y[:16])
    method.loss(batch)
    assert torch.equal(method.buffer.y[:16], batch.y)


def test_training_draws_count_towards_p_new_decay_and_validation_draws_do_not():
    method, data = digits_ebm("model.sampler.steps=1", "model.p_new_decay=3")
    batch = method.prepare(data.x[:8], data.y[:8])
    method.train()
    method.loss(batch)
    method.loss(batch)
    assert method.buffer.draws == 2 and method.buffer.current_p_new == pytest.approx(0.05 / 3)
    method.eval()
    method.loss(batch)
    assert method.buffer.draws == 2


def test_conditional_sampling_from_the_buffer_stays_in_the_class():
    method, _ = digits_ebm()
    # item of class k is the constant image k / 10
    labels = torch.arange(10).repeat(3)
    items = (labels.float() / 10).view(-1, 1, 1, 1).expand(-1, 1, 8, 8)
    method.buffer.push(items, labels)
    # age 1 < min_age 10: fresh noise
    young = method.sample(30, sample_init="buffer", buffer_steps=0)
    assert young.flatten(1).std(1).min() > 0.1
    method.buffer.age[:30] = 10
    y = torch.tensor([3, 3, 7, 0]).repeat(25)
    x = method.sample(100, y=y, sample_init="buffer", buffer_steps=0)  # no fresh noise (p_new 0.05)
    assert torch.allclose(x[:, 0, 0, 0], y.float() / 10)
    assert torch.allclose(x.flatten(1).std(1), torch.zeros(100))
    with pytest.raises(UserError, match="labels"):
        method.sample(2, y=torch.tensor([1, 10]))


def test_unconditional_ebm_refuses_labels_and_conditional_needs_them():
    method, _ = digits_ebm(preset="ebm-mnist")
    with pytest.raises(UserError, match="unconditional"):
        method.sample(2, y=torch.tensor([0, 1]))
    cfg = resolve_config("cebm-mnist", ["data.name=digits"])
    unlabelled = dataclasses.replace(load_data(cfg, "train", 8).info, num_classes=None)
    with pytest.raises(ConfigError, match="needs labels"):
        build_method(cfg, unlabelled)


def test_noise_schedule_endpoints_and_chain_length():
    s = SGLDConfig(noise_scale=0.1, noise_schedule="geometric", noise_end=0.001)
    noise = s.noise(5)
    assert noise[0] == pytest.approx(0.1) and noise[-1] == pytest.approx(0.001)
    assert all(a > b for a, b in zip(noise, noise[1:], strict=False))
    assert noise[2] == pytest.approx(math.sqrt(0.1 * 0.001))
    assert SGLDConfig(noise_scale=0.1).noise(3) == [0.1] * 3


def test_uint8_buffer_option():
    method, _ = digits_ebm("model.buffer_uint8=true")
    assert method.buffer.x.dtype == torch.uint8
    with pytest.raises(ConfigError, match="uint8"):
        cfg = resolve_config("ebm-toy", ["model.buffer_uint8=true"])
        build_method(cfg, load_data(cfg, "train", 8).info)


def test_cebm_trains_samples_from_buffer_and_noise_and_resumes(tmp_path):
    runs = tmp_path / "runs"
    tiny = [*DIGITS, "train.steps=4", "train.batch_size=8", "train.eval_every=4",
            "train.num_samples=20", "model.sampler.steps=2", "model.sampler.sample_steps=2"]
    assert main(["--quiet", "train", "cebm-mnist", *tiny, "--runs-dir", str(runs)]) == 0
    run = runs / "cebm-mnist"
    method = load(run)
    assert len(method.buffer) == 32  # 4 steps x 8 negatives, restored from the checkpoint
    for extra in (["sampler.sample_init=buffer"],
                  ["sampler.sample_init=noise", "sampler.sample_steps=3"]):
        out = tmp_path / f"s{len(extra)}.png"
        assert main(["--quiet", "sample", str(run), "--n", "10", "--y", "4", "--out", str(out),
                     *extra]) == 0
        assert out.is_file()
    assert main(["--quiet", "eval", str(run), "--no-judge"]) == 0
    captions = json.loads((run / "figures" / "captions.json").read_text())
    assert {"buffer.png", "energies.png"} <= set(captions)
    assert "one class per column" in captions["buffer.png"]


@pytest.mark.parametrize("preset", ["ebm-mnist", "ebm-fashion", "cebm-mnist", "ebm-mlp-mnist",
                                    "jem-mnist", "jem-fashion", "jempp-mnist"])
def test_image_energy_presets_take_a_step_on_real_data(tmp_path, real_data_root, preset):
    runs = tmp_path / "runs"
    code = main(["--quiet", "train", preset, f"data.root={real_data_root}", "data.limit=64",
                 "data.val_limit=16", "train.steps=2", "train.batch_size=8",
                 "train.num_samples=4", "model.sampler.steps=2", "--runs-dir", str(runs)])
    assert code == 0
    assert (runs / preset / "checkpoints" / "last.pt").is_file()


def test_ebm_cifar10_preset_runs_on_a_synthetic_file(tmp_path, fake_cifar10_root):
    """The IGEBM recipe (ResNet, spectral norm, clipped Langevin, uint8 buffer), shrunk."""
    runs = tmp_path / "runs"
    assert main(["--quiet", "train", "ebm-cifar10", f"data.root={fake_cifar10_root}",
                 "model.net.width=4", "model.sampler.steps=2", "model.buffer_size=32",
                 "train.steps=3", "train.batch_size=8", "train.num_samples=4",
                 "--runs-dir", str(runs)]) == 0
    method = load(runs / "ebm-cifar10")
    assert method.buffer.x.dtype == torch.uint8 and len(method.buffer) == 24
    x = method.sample(3, sample_steps=2, sample_init="noise")
    assert x.shape == (3, 3, 32, 32) and x.min() >= -1 and x.max() <= 1


def test_ebm_init_study_trains_four_variants_and_reports(tmp_path, monkeypatch, capsys):
    from genzoo.labs.ebm_init import VARIANTS

    monkeypatch.setenv("GENZOO_JUDGES", str(tmp_path / "judges"))
    out = tmp_path / "study"
    code = main(["--quiet", "compare", "ebm-init", "--out", str(out), "--samples", "20",
                 *DIGITS, "train.steps=3", "train.batch_size=8", "train.num_samples=4",
                 "model.sampler.steps=2", "train.eval_every=3"])
    assert code == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())["variants"]
    assert list(results) == list(VARIANTS)
    for name, r in results.items():
        cfg = yaml.safe_load((out / r["run"] / "config.yaml").read_text())
        sampler = cfg["model"]["sampler"]
        assert cfg["model"]["init"] == name.split("-")[0]
        if name.endswith("sched"):  # decreasing from 5x to 1/5 of the preset's 0.01
            assert sampler["noise_schedule"] == "geometric"
            assert sampler["noise_scale"] == pytest.approx(0.05)
            assert sampler["noise_end"] == pytest.approx(0.002)
        if r["init"] == "noise":
            assert sampler["sample_steps"] == sampler["steps"] == 2
        assert 0 < r["judge/confidence"] <= 1 and r["seconds_per_step"] > 0
        assert len(list((out / r["run"] / "samples").glob("step-*.png"))) == 3  # over training
    page = (out / "report.html").read_text()
    assert "Noise vs replay-buffer initialization" in page and "buffer-sched" in page


def test_ebm_init_study_refuses_other_families(tmp_path, capsys):
    assert main(["--quiet", "compare", "ebm-init", "--preset", "vae-toy",
                 "--out", str(tmp_path / "s")]) == 2
    assert "needs an 'ebm' preset" in capsys.readouterr().err


def test_ce_weight_adds_the_cross_entropy_of_p_y_given_x():
    import torch.nn.functional as F

    method, data = digits_ebm("model.sampler.steps=0", "model.p_new=1.0", "model.ce_weight=0")
    batch = method.prepare(data.x[:16], data.y[:16])
    method.eval()  # negatives from fresh noise with 0 steps: same draws under the same seed
    torch.manual_seed(3)
    plain = method.loss(batch)
    method.cfg.ce_weight = 0.5
    torch.manual_seed(3)
    with_ce = method.loss(batch)
    ce = F.cross_entropy(-method.net(batch.x), batch.y)
    assert with_ce.loss.item() == pytest.approx(plain.loss.item() + 0.5 * ce.item(), rel=1e-5)
    assert with_ce.metrics["ce"] == pytest.approx(ce.item(), rel=1e-5)
    expected_acc = (method.net(batch.x).argmin(1) == batch.y).float().mean().item()
    assert with_ce.metrics["acc"] == pytest.approx(expected_acc)
