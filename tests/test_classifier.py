"""Classifiers: WRN-16-4 as specified, the small CNN, augmentation, noise, regularization."""

from __future__ import annotations

import pytest
import torch

from genzoo.config import build_run_config, from_dict, resolve_config
from genzoo.data.augment import random_crop, random_flip
from genzoo.errors import ConfigError
from genzoo.metrics.classification import confusion_matrix, evaluate_accuracy
from genzoo.nets.conv import SmallCNNConfig
from genzoo.nets.resnet import WideBlock, WRNConfig
from genzoo.runs import build_method, load, load_data, train
from genzoo.training.checkpoint import seed_everything


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def test_wrn16_4_has_the_specified_parameter_count():
    net = WRNConfig(depth=16, widen=4).build((3, 32, 32), 10)
    assert n_params(net) == 2_747_082
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert net.features(torch.randn(2, 3, 32, 32)).shape == (2, 256)


def test_wrn16_4_layout():
    net = WRNConfig().build((3, 32, 32), 10)
    blocks = list(net.blocks)
    assert [b.conv2.out_channels for b in blocks] == [64, 64, 128, 128, 256, 256]
    assert [b.conv2.stride[0] for b in blocks] == [1, 1, 2, 1, 2, 1]
    assert all(b.conv1.stride[0] == 1 for b in blocks)  # downsampling on the second conv
    for b in blocks:
        if isinstance(b.skip, torch.nn.Conv2d):
            assert b.skip.bias is None and b.skip.kernel_size == (1, 1)
            assert b.skip.stride == b.conv2.stride
    assert [type(b.skip).__name__ for b in blocks] == ["Conv2d", "Identity", "Conv2d",
                                                      "Identity", "Conv2d", "Identity"]
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert all(m.negative_slope == 0.2 for m in net.modules()
               if isinstance(m, torch.nn.LeakyReLU))
    slope = WRNConfig(slope=0.1).build((3, 32, 32), 10)
    assert all(m.negative_slope == 0.1 for m in slope.modules()
               if isinstance(m, torch.nn.LeakyReLU))
    with pytest.raises(ConfigError, match="6n \\+ 4"):
        from_dict(WRNConfig, {"name": "wrn", "depth": 15})


def test_wrn_batchnorm_variant():
    net = WRNConfig(norm="batch").build((3, 32, 32), 10)
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 2 * 6 + 1  # before both activations of each block, and the last one
    net.train()
    net(torch.randn(4, 3, 32, 32))
    assert not torch.equal(bns[0].running_mean, torch.zeros_like(bns[0].running_mean))


def test_wrn_dropout_sits_between_the_two_convolutions():
    block = WideBlock(8, 8, 1, 0.2, "none", dropout=0.5)
    seen = []
    block.conv2.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    x = torch.randn(2, 8, 6, 6)
    block.train()
    block(x)
    zeros_train = (seen[-1] == 0).float().mean().item()
    block.eval()
    a, b = block(x), block(x)
    assert torch.equal(a, b)
    zeros_eval = (seen[-1] == 0).float().mean().item()
    assert zeros_train > zeros_eval + 0.3  # about half of conv2's input is dropped in training


def _wrn_out_of_place(net, x: torch.Tensor) -> torch.Tensor:
    """WRN forward written with out-of-place activations only."""
    def act(v):
        return torch.nn.functional.leaky_relu(v, net.act.negative_slope)

    h = net.stem(x)
    for b in net.blocks:
        inner = b.conv2(b.dropout(act(b.norm2(b.conv1(act(b.norm1(h)))))))
        h = inner + b.skip(h)
    return net.head(act(net.norm(h)).mean(dim=(2, 3)))


@pytest.mark.parametrize("norm", ["none", "batch"])
@pytest.mark.numerics
def test_wrn_in_place_activations_change_no_value_or_gradient(norm):
    seed_everything(0)
    net = WRNConfig(depth=10, widen=1, norm=norm).build((3, 16, 16), 5).train()
    x = torch.randn(4, 3, 16, 16)
    grads = []
    for forward in (net, lambda v: _wrn_out_of_place(net, v)):
        v = x.clone().requires_grad_(True)
        out = forward(v)
        net.zero_grad()
        out.square().sum().backward()
        grads.append((out.detach(), v.grad, [p.grad.clone() for p in net.parameters()]))
    (out_a, gx_a, gw_a), (out_b, gx_b, gw_b) = grads
    assert torch.allclose(out_a, out_b, rtol=1e-5, atol=1e-6)
    assert torch.allclose(gx_a, gx_b, rtol=1e-4, atol=1e-6)
    for a, b in zip(gw_a, gw_b, strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)
    assert sum(isinstance(m, torch.nn.LeakyReLU) and m.inplace for m in net.modules()) == 4


def test_small_cnn_for_28_and_8_pixels():
    for shape in [(1, 28, 28), (1, 8, 8), (3, 32, 32)]:
        net = SmallCNNConfig(width=8, stages=2).build(shape, 10)
        assert net(torch.randn(3, *shape)).shape == (3, 10)
    with pytest.raises(ConfigError, match="needs image inputs"):
        SmallCNNConfig().build((2,), 3)


@pytest.mark.numerics
def test_small_cnn_pool_grid_averages_cells():
    """pool = g: the head sees the last maps averaged over a g x g grid of cells (1: global)."""
    torch.manual_seed(0)
    x = torch.randn(3, 1, 28, 28)
    net = SmallCNNConfig(width=4, stages=2, pool=2).build((1, 28, 28), 5)
    maps = net.body(x)  # (3, 8, 7, 7): cells of rows/cols 0-3 and 3-6 (adaptive pooling)
    cell = maps[:, :, 3:7, 0:4].mean(dim=(2, 3))
    assert net.features(x).shape == (3, 8 * 4)
    assert torch.allclose(net.features(x).view(3, 8, 2, 2)[:, :, 1, 0], cell, atol=1e-6)
    assert torch.allclose(net(x), net.from_stem(net.stem(x)), atol=1e-6)
    glob = SmallCNNConfig(width=4, stages=2).build((1, 28, 28), 5)
    assert torch.allclose(glob.features(x), glob.body(x).mean(dim=(2, 3)))


def test_grid_pool_of_maps_already_on_the_grid_is_their_flattening():
    """Maps of exactly pool x pool cells skip the (identity) pooling: the same values and
    gradients as adaptive average pooling, channels-last maps included."""
    from genzoo.nets.base import grid_pool

    torch.manual_seed(0)
    h = torch.randn(3, 5, 4, 4).to(memory_format=torch.channels_last).requires_grad_()
    w = torch.randn(3, 5 * 16)
    (grid_pool(h, 4) * w).sum().backward()
    ours, h.grad = h.grad, None
    (torch.nn.functional.adaptive_avg_pool2d(h, 4).flatten(1) * w).sum().backward()
    assert torch.equal(grid_pool(h, 4), torch.nn.functional.adaptive_avg_pool2d(h, 4).flatten(1))
    assert torch.equal(ours, h.grad)
    assert grid_pool(torch.randn(2, 3, 7, 7), 4).shape == (2, 3 * 16)


def test_small_cnn_convs_per_stage():
    """convs = n: n 3x3 convolutions a stage, only the last strided; 2 is the default net."""
    torch.manual_seed(0)
    deep = SmallCNNConfig(width=4, stages=2, convs=3, norm="batch").build((1, 28, 28), 5)
    convs = [m for m in deep.body if isinstance(m, torch.nn.Conv2d)]
    assert [c.stride[0] for c in convs] == [1, 1, 2, 1, 1, 2]
    assert [c.out_channels for c in convs] == [4, 4, 4, 8, 8, 8]
    assert deep.body(torch.randn(2, 1, 28, 28)).shape == (2, 8, 7, 7)
    single = SmallCNNConfig(width=4, stages=2, convs=1).build((1, 28, 28), 5)
    assert [m.stride[0] for m in single.body if isinstance(m, torch.nn.Conv2d)] == [2, 2]
    torch.manual_seed(1)
    default = SmallCNNConfig(width=4, stages=2).build((1, 28, 28), 5)
    torch.manual_seed(1)
    two = SmallCNNConfig(width=4, stages=2, convs=2).build((1, 28, 28), 5)
    assert all(torch.equal(a, b) for a, b in zip(default.state_dict().values(),
                                                 two.state_dict().values(), strict=True))


def test_small_cnn_without_its_last_activation_gives_the_last_norm_output():
    """last_act: false drops only the final activation: the same weights give the default
    net's features before its last ReLU (signed), and the default keeps it."""
    torch.manual_seed(0)
    x = torch.randn(4, 1, 28, 28)
    torch.manual_seed(1)
    full = SmallCNNConfig(width=4, stages=2, norm="batch").build((1, 28, 28), 5)
    torch.manual_seed(1)
    signed = SmallCNNConfig(width=4, stages=2, norm="batch", last_act=False).build((1, 28, 28), 5)
    signed.load_state_dict(full.state_dict())
    assert isinstance(full.body[-1], torch.nn.ReLU)
    assert isinstance(signed.body[-1], torch.nn.BatchNorm2d)
    assert len(signed.body) == len(full.body) - 1
    assert torch.equal(signed.features(x), full.body[:-1](x).mean(dim=(2, 3)))
    assert (signed.features(x) < 0).any() and (full.features(x) >= 0).all()


def test_random_crop_is_a_translation_and_flip_mirrors():
    torch.manual_seed(0)
    x = torch.randn(16, 1, 5, 7)
    out = random_crop(x, padding=2, fill=-9.0)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), value=-9.0)
    for i in range(16):
        assert any(torch.equal(out[i], padded[i, :, dy:dy + 5, dx:dx + 7])
                   for dy in range(5) for dx in range(5))
    assert random_crop(x, 0) is x
    flipped = random_flip(x, p=1.0)
    assert torch.equal(flipped, x.flip(-1)) and torch.equal(random_flip(x, p=0.0), x)


def _digits_classifier(*overrides: str):
    cfg = resolve_config("clf-digits", list(overrides))
    data = load_data(cfg, "train")
    seed_everything(0)
    return build_method(cfg, data.info), data


def test_noise_augmentation_has_the_configured_std():
    method, data = _digits_classifier("model.noise_sigma=0.1")
    x = method.prepare(data.x[:256]).x
    torch.manual_seed(0)
    noise = method.augment(x) - x
    assert noise.std().item() == pytest.approx(0.1, rel=0.05)
    assert noise.mean().abs().item() < 0.01
    quiet, _ = _digits_classifier("model.noise_sigma=0")
    assert torch.equal(quiet.augment(x), x)
    clamped, _ = _digits_classifier("model.noise_sigma=0.1", "model.clamp_noisy=true")
    torch.manual_seed(0)
    y = clamped.augment(x)
    low, high = clamped.data_range
    assert low <= y.min() and y.max() <= high  # the noise without the pixels it pushes out
    assert torch.allclose(y, (x + noise).clamp(low, high), atol=1e-6)
    batch = method.prepare(data.x[:64], data.y[:64])
    method.eval()
    assert method.loss(batch).loss.item() == method.loss(batch).loss.item()  # no noise in eval
    method.train()
    assert method.loss(batch).loss.item() != method.loss(batch).loss.item()


@pytest.mark.parametrize("variant", ["model.net.dropout=0.3", "model.net.norm=batch",
                                     "model.augment=crop"])
def test_regularization_variants_train(variant, tmp_path):
    run = train("clf-digits", [variant, "train.epochs=6", "model.crop_padding=1"],
                runs_dir=tmp_path, quiet=True)
    method = load(run)
    test = load_data(build_run_config(resolve_config("clf-digits").to_dict()), "test")
    assert evaluate_accuracy(method, test) > 0.85


def test_confusion_matrix_counts():
    m = confusion_matrix(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]), 3)
    assert m.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]


def test_cifar10_preset_runs_end_to_end_on_a_synthetic_file(tmp_path, monkeypatch):
    """clf-cifar10-wrn16-4 (the project's spec) on a small file in the CIFAR-10 format."""
    import dataclasses

    from genzoo.cli import main
    from genzoo.data import cifar

    from fakes import write_fake_cifar10

    fake = write_fake_cifar10(tmp_path / "data", n_train=40, n_test=16)
    spec = cifar.FILES[cifar.ARCHIVE]
    md5 = fake["train"].md5[spec.name]
    monkeypatch.setitem(cifar.FILES, cifar.ARCHIVE, dataclasses.replace(spec, md5=md5))
    runs = tmp_path / "runs"
    assert main(["--quiet", "train", "clf-cifar10-wrn16-4", f"data.root={tmp_path / 'data'}",
                 "train.steps=3", "train.batch_size=8", "--runs-dir", str(runs)]) == 0
    run = runs / "clf-cifar10-wrn16-4"
    assert main(["eval", str(run)]) == 0
    assert (run / "figures" / "misclassified.png").is_file()
    assert (run / "figures" / "confusion.png").is_file()
    assert main(["report", str(run)]) == 0
    method = load(run)
    assert n_params(method.net) == 2_747_082
