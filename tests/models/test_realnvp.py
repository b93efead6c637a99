"""RealNVP: invertibility, log-dets against the autograd Jacobian (whole flow and each layer),
normalized densities, bits/dim, temperature, ActNorm / batch-norm state, presets, and tiny
end-to-end runs through the CLI (training, sampling, inpainting)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import Tensor, nn

from genzoo.cli import main
from genzoo.config import from_dict, resolve_config
from genzoo.data.base import DatasetInfo
from genzoo.errors import ConfigError, UserError
from genzoo.labs.toy2d import available_families
from genzoo.metrics.likelihood import bits_per_dim
from genzoo.models.base import Batch
from genzoo.models.realnvp import RealNVP, RealNVPConfig
from genzoo.nets.coupling_resnet import CouplingResNet
from genzoo.nets.invertible import (
    ActNorm,
    AffineCoupling,
    BatchNormFlow,
    LogitTransform,
    Squeeze,
    Transform,
    channel_mask,
    checkerboard_mask,
)
from genzoo.runs import build_method

IMAGE = DatasetInfo(name="img", shape=(1, 4, 4), num_classes=None, value_range=(0, 255),
                    kind="image")
VECTOR = DatasetInfo(name="toy", shape=(2,), num_classes=None, value_range=None, kind="vector")
TINY_IMAGE = {"num_scales": 2, "width": 4, "blocks": 1}
TINY_VECTOR = {"num_couplings": 4, "net": {"name": "mlp", "width": 16, "depth": 2}}


def make(info: DatasetInfo, **cfg) -> RealNVP:
    base = TINY_IMAGE if len(info.shape) == 3 else TINY_VECTOR
    return RealNVP(from_dict(RealNVPConfig, {**base, **cfg}), info).double()


@torch.no_grad()
def perturb(module: nn.Module, scale: float = 0.3, seed: int = 0) -> nn.Module:
    """Random non-trivial weights everywhere (couplings start as the identity otherwise) and
    random running statistics for batch norm."""
    g = torch.Generator().manual_seed(seed)
    for p in module.parameters():
        p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    for m in module.modules():
        if isinstance(m, BatchNormFlow):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
    return module


def inputs(info: DatasetInfo, n: int, seed: int = 0) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    if info.value_range is None:
        return 2 * torch.randn(n, *info.shape, generator=g, dtype=torch.float64)
    return torch.rand(n, *info.shape, generator=g, dtype=torch.float64)  # dequantized pixels


def jacobian_log_det(f, x: Tensor) -> Tensor:
    """log |det df/dx| of one item x (*shape), f mapping (1, *shape) to (1, ...)."""
    J = torch.autograd.functional.jacobian(lambda v: f(v.view(1, *x.shape)).flatten(), x.flatten())
    return torch.linalg.slogdet(J)[1]


# ----------------------------------------------------------------------------- invertibility
CASES = [(info, norm, mode) for info in (IMAGE, VECTOR)
         for norm in ("actnorm", "batchnorm", "none") for mode in ("train", "eval")
         if not (norm == "batchnorm" and mode == "train")]


@pytest.mark.parametrize("info, norm, mode", CASES,
                         ids=[f"{i.kind}-{n}-{m}" for i, n, m in CASES])
def test_inverse_of_forward_is_the_identity(info, norm, mode):
    m = make(info, norm=norm)
    x = inputs(info, 16)
    m.train()(x)  # ActNorm initializes from this batch
    perturb(m).train(mode == "train")
    z, log_det = m(x)
    x_back, log_det_inverse = m.inverse(z)
    assert (z.flatten() - x.flatten()).abs().max() > 0.1  # a non-trivial map
    assert torch.allclose(x_back, x, atol=1e-9)
    assert torch.allclose(log_det_inverse, -log_det, atol=1e-9)
    assert z.shape == (16, math.prod(info.shape)) and log_det.shape == (16,)


def test_batchnorm_in_training_mode_uses_batch_statistics_and_updates_running_ones():
    layer = BatchNormFlow(2, momentum=0.5).double().train()
    x = 3 + 2 * torch.randn(256, 2, 4, 4, dtype=torch.float64)
    y, log_det = layer(x)
    assert torch.allclose(y.mean((0, 2, 3)), torch.zeros(2, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(y.std((0, 2, 3)), torch.ones(2, dtype=torch.float64), atol=1e-2)
    assert torch.allclose(layer.running_mean, 0.5 * x.mean((0, 2, 3)))
    var = x.transpose(0, 1).flatten(1).var(1, unbiased=False)
    assert torch.allclose(log_det, (-8 * torch.log(var + layer.eps)).sum().expand(256))
    layer.eval()  # eval mode: the running statistics, and the inverse agrees with it
    y2, _ = layer(x)
    assert torch.allclose(layer.inverse(y2)[0], x)


# ----------------------------------------------------------------------------- log-dets
@pytest.mark.parametrize("info, norm", [(IMAGE, "actnorm"), (IMAGE, "batchnorm"),
                                        (IMAGE, "none"), (VECTOR, "actnorm")])
def test_flow_log_det_equals_the_autograd_jacobian(info, norm):
    m = perturb(make(info, norm=norm)).eval()
    x = inputs(info, 3)
    _, log_det = m(x)
    for b in range(3):
        expected = jacobian_log_det(lambda v: m(v)[0], x[b])
        assert torch.allclose(log_det[b], expected, atol=1e-8), (log_det[b], expected)


def _layers() -> dict[str, tuple[Transform, tuple[int, ...]]]:
    def coupling(mask: Tensor) -> AffineCoupling:
        c = mask.shape[1]
        return AffineCoupling(mask, CouplingResNet(c, 2 * c, width=4, blocks=1))

    return {
        "checkerboard-coupling": (coupling(checkerboard_mask((2, 4, 4), 1)), (2, 4, 4)),
        "channel-coupling": (coupling(channel_mask((4, 2, 2), first=False)), (4, 2, 2)),
        "logit": (LogitTransform(0.05), (1, 4, 4)),
        "squeeze": (Squeeze(), (2, 4, 4)),
        "actnorm": (ActNorm(2), (2, 4, 4)),
        "batchnorm-eval": (BatchNormFlow(2), (2, 4, 4)),
    }


@pytest.mark.parametrize("name", list(_layers()))
def test_layer_log_det_equals_the_autograd_jacobian(name):
    layer, shape = _layers()[name]
    layer = perturb(layer.double()).eval()
    x = torch.rand(3, *shape, dtype=torch.float64)
    y, log_det = layer(x)
    for b in range(3):
        expected = jacobian_log_det(lambda v: layer(v)[0], x[b])
        assert torch.allclose(log_det[b], expected, atol=1e-9), (log_det[b], expected)
    x_back, log_det_inverse = layer.inverse(y)
    assert torch.allclose(x_back, x, atol=1e-10)
    assert torch.allclose(log_det_inverse, -log_det, atol=1e-10)


def test_squeeze_moves_each_2x2_square_into_channels():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    y, _ = Squeeze()(x)
    assert y.shape == (1, 4, 2, 2)
    assert y[0, :, 0, 0].tolist() == [0.0, 1.0, 4.0, 5.0]  # the top-left square
    assert y[0, :, 1, 1].tolist() == [10.0, 11.0, 14.0, 15.0]


def test_masks_alternate_and_the_coupling_keeps_the_masked_part():
    b0, b1 = checkerboard_mask((1, 2, 2), 0), checkerboard_mask((1, 2, 2), 1)
    assert b0.flatten().tolist() == [1, 0, 0, 1] and torch.equal(b0 + b1, torch.ones(1, 1, 2, 2))
    assert channel_mask((4, 1, 1), True).flatten().tolist() == [1, 1, 0, 0]
    layer = perturb(AffineCoupling(b0, CouplingResNet(1, 2, width=4, blocks=1)))
    x = torch.randn(5, 1, 2, 2)
    y, _ = layer(x)
    assert torch.equal(y * b0, x * b0) and not torch.allclose(y * b1, x * b1)


# ----------------------------------------------------------------------------- densities
def test_log_prob_integrates_to_one_on_a_grid():
    m = perturb(make(VECTOR, norm="actnorm"), scale=0.2).eval()
    with torch.no_grad():
        for layer in m.modules():  # a non-trivial ActNorm: shift and shrink
            if isinstance(layer, ActNorm):
                layer.loc.copy_(torch.tensor([0.5, -0.3]))
                layer.log_scale.copy_(torch.tensor([0.2, 0.1]))
        h = 0.05
        axis = torch.arange(-10, 10, h, dtype=torch.float64) + h / 2
        grid = torch.cartesian_prod(axis, axis)
        mass = torch.exp(m.log_prob(grid)).sum() * h * h
    assert abs(mass.item() - 1) < 2e-3, mass.item()


def test_log_prob_of_an_actnorm_flow_is_the_gaussian_it_defines():
    m = make(VECTOR, norm="actnorm", num_couplings=1).eval()
    (norm,) = [layer for layer in m.modules() if isinstance(layer, ActNorm)]
    (coupling,) = [layer for layer in m.modules() if isinstance(layer, AffineCoupling)]
    with torch.no_grad():
        norm.loc.copy_(torch.tensor([1.0, -2.0]))
        norm.log_scale.copy_(torch.tensor([0.5, -0.25]))
        for p in coupling.net.parameters():  # s = t = 0: the coupling is the identity
            p.zero_()
    x = inputs(VECTOR, 32)
    # y = (x + loc) exp(log_scale) ~ N(0, I)  <=>  x ~ N(-loc, exp(-log_scale)^2)
    std = torch.exp(-norm.log_scale.detach())
    expected = torch.distributions.Normal(-norm.loc.detach(), std).log_prob(x).sum(1)
    assert torch.allclose(m.log_prob(x), expected, atol=1e-12)


def test_untrained_image_flow_is_a_gaussian_in_logit_space():
    """Couplings start as the identity, so with no normalization p(x) is N(0, I) on the
    logits, times the logit transform's Jacobian; bits/dim follows by the formula."""
    m = make(IMAGE, norm="none").eval()
    x = inputs(IMAGE, 4)
    alpha = 0.05
    p = alpha + (1 - 2 * alpha) * x
    y = torch.log(p / (1 - p))
    log_det = (math.log(1 - 2 * alpha) - torch.log(p * (1 - p))).flatten(1).sum(1)
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(y).flatten(1).sum(1) + log_det
    assert torch.allclose(m.log_prob(x), expected, atol=1e-10)
    torch.manual_seed(3)
    v = m.dequantize(x)
    torch.manual_seed(3)
    bpd = m.loss(Batch(x)).loss
    assert torch.allclose(bpd, ((-m.log_prob(v) / 16 + math.log(256)) / math.log(2)).mean())


def test_bits_per_dim_hand_examples():
    # the uniform density on [0, 1]^D gives each of the 256 levels probability 1/256: 8 bits
    assert torch.allclose(bits_per_dim(torch.zeros(2), 784), torch.tensor([8.0, 8.0]))
    # density 2^D on [0, 1/2]^D (the lower 128 levels, uniformly): 7 bits per dimension
    assert bits_per_dim(torch.tensor([3 * math.log(2)]), 3).item() == pytest.approx(7.0)
    # binary images (L = 2): uniform is 1 bit; log p = D ln 2 (all mass on one level) is 0
    assert bits_per_dim(torch.tensor([0.0]), 10, levels=2).item() == pytest.approx(1.0)
    assert bits_per_dim(torch.tensor([10 * math.log(2)]), 10, levels=2).item() == \
        pytest.approx(0.0, abs=1e-12)


def test_dequantization_stays_in_the_cell_of_each_level():
    m = make(IMAGE)
    k = torch.arange(16, dtype=torch.float64).view(1, 1, 4, 4) * 17  # levels 0, 17, ..., 255
    v = m.dequantize(k / 255)
    assert torch.equal((v * 256).floor(), k)


# ----------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("info", [IMAGE, VECTOR], ids=["image", "vector"])
def test_temperature_zero_samples_the_image_of_the_base_mean(info):
    m = perturb(make(info)).eval()
    x = m.sample(3, temperature=0)
    mode, _ = m.inverse(torch.zeros(1, math.prod(info.shape), dtype=torch.float64))
    if info.value_range is not None:  # quantized to the 8-bit level whose cell holds it
        mode = (mode * 256).floor().clamp(0, 255) / 255
    assert x.shape == (3, *info.shape)
    assert torch.allclose(x, mode.expand_as(x), atol=1e-12)
    torch.manual_seed(0)
    hot = m.sample(256, temperature=2.0)
    torch.manual_seed(0)
    cool = m.sample(256, temperature=0.5)
    assert hot.std(0).mean() > cool.std(0).mean()


def test_sample_overrides_are_checked():
    m = make(VECTOR)
    with pytest.raises(UserError, match="unknown key 'sampler.steps'.*temperature"):
        m.sample(2, steps=3)
    with pytest.raises(UserError, match="temperature"):
        m.sample(2, temperature=-1.0)
    with pytest.raises(UserError, match="temperature"):
        m.sample(2, temperature="hot")


def test_image_samples_are_levels_in_the_pixel_range():
    x = perturb(make(IMAGE)).eval().sample(8)
    assert x.min() >= 0 and x.max() <= 1
    assert torch.allclose(x * 255, (x * 255).round(), atol=1e-9)


# ----------------------------------------------------------------------------- ActNorm state
def test_actnorm_initializes_from_its_first_training_batch_and_keeps_it():
    layer = ActNorm(3).double()
    x = 2 + 3 * torch.randn(64, 3, 4, 4, dtype=torch.float64)
    assert torch.equal(layer.eval()(x)[0], x)  # eval before initialization: the identity
    y, _ = layer.train()(x)
    assert bool(layer.initialized)
    assert torch.allclose(y.mean((0, 2, 3)), torch.zeros(3, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(y.std((0, 2, 3), unbiased=False), torch.ones(3, dtype=torch.float64),
                          atol=1e-5)
    state = layer.state_dict()
    assert "initialized" in state
    fresh = ActNorm(3).double()
    fresh.load_state_dict(state)
    assert torch.equal(fresh.train()(x + 5)[0], layer(x + 5)[0])  # not re-initialized


def test_setup_initializes_every_actnorm_from_training_data():
    from genzoo.data.base import Dataset

    m = make(IMAGE)
    data = Dataset(torch.randint(0, 256, (40, 1, 4, 4), dtype=torch.uint8), None, IMAGE)
    m.setup(data)
    norms = [layer for layer in m.modules() if isinstance(layer, ActNorm)]
    assert len(norms) == 6 + 4 and all(bool(n.initialized) for n in norms)


def test_levels_come_from_the_value_range_and_are_checked_against_the_data():
    from genzoo.data.base import Dataset

    assert make(IMAGE).levels == 256 and make(IMAGE, levels=16).levels == 16
    binary = DatasetInfo("bin", (1, 4, 4), None, (0, 1), "image")
    assert make(binary).levels == 2
    m = make(binary)
    with pytest.raises(ConfigError, match="model.levels"):  # float pixels, not 2 levels
        m.setup(Dataset(torch.rand(8, 1, 4, 4), None, binary))
    m.setup(Dataset(torch.randint(0, 2, (8, 1, 4, 4)).float(), None, binary))


def test_bad_shapes_are_config_errors():
    with pytest.raises(ConfigError, match="num_scales"):
        make(DatasetInfo("odd", (1, 6, 6), None, (0, 255), "image"), num_scales=3)
    with pytest.raises(ConfigError, match="model.alpha"):
        from_dict(RealNVPConfig, {"alpha": 0.5}, "model")


# ----------------------------------------------------------------------------- presets, CLI
def test_presets_build_and_the_toy_joins_the_comparison():
    cfg = resolve_config("realnvp-mnist")
    info = DatasetInfo("mnist", (1, 28, 28), 10, (0, 255), "image")
    m = build_method(cfg, info)
    assert m.loss(m.prepare(torch.randint(0, 256, (2, 1, 28, 28)))).loss.isfinite()
    assert resolve_config("realnvp-toy").method == "realnvp"
    assert "realnvp" in available_families()


def test_toy_training_sampling_through_the_cli(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["--quiet", "train", "realnvp-toy", "train.steps=60", "train.eval_every=30",
                 "train.log_every=10", "train.num_samples=64", "data.options.n=512",
                 "data.val_limit=128", "--runs-dir", str(runs)]) == 0
    run = runs / "realnvp-toy"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in records if r.get("split") == "val"]
    assert len(val) == 2
    assert all(math.isfinite(r["nll"]) and r["loss"] == r["nll"] for r in val)
    train_nll = [r["nll"] for r in records if r.get("split") == "train"]
    assert train_nll[-1] < train_nll[0] - 0.1, train_nll
    out = tmp_path / "s.png"
    assert main(["--quiet", "sample", str(run), "--n", "32", "--out", str(out),
                 "sampler.temperature=0.5"]) == 0
    assert out.is_file()
    capsys.readouterr()
    assert main(["--quiet", "sample", str(run), "sampler.steps=3"]) == 2
    assert "unknown key 'sampler.steps'" in capsys.readouterr().err


def test_image_training_reports_bits_per_dim_and_inpaints(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["--quiet", "train", "realnvp-mnist", "data.name=digits", "data.limit=64",
                 "data.val_limit=32", "model.width=8", "model.blocks=1", "train.steps=4",
                 "train.batch_size=16", "train.eval_every=2", "train.num_samples=4",
                 "train.samples_every=null", "--runs-dir", str(runs)]) == 0
    run = runs / "realnvp-mnist"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in records if r.get("split") == "val"]
    assert val and all(0 < r["bits_per_dim"] < 10 and r["loss"] == r["bits_per_dim"]
                       for r in val)
    capsys.readouterr()
    assert main(["--quiet", "inpaint", str(run), "--n", "8", "--steps", "3"]) == 0
    numbers = json.loads(capsys.readouterr().out)
    assert numbers["n"] == 8 and 0 <= numbers["mse_model"] <= 1
    assert (numbers["step_size"], numbers["noise_scale"]) == (1e-3, 0.01)  # model.inpaint


def test_inpainting_ascends_the_flow_log_density_and_keeps_known_pixels():
    from genzoo.analyze.inpaint import model_score
    from genzoo.samplers.inpaint import inpaint

    m = perturb(make(IMAGE), scale=0.1).eval()
    observed = inputs(IMAGE, 4)
    known = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    known[..., 1::2, :] = True
    restored = inpaint(model_score(m), observed, known, steps=20, step_size=1e-3,
                       noise_scale=0.0, init="corrupted", value_range=(0.0, 1.0),
                       clip_grad=10.0)
    assert torch.equal(restored[known.expand_as(restored)], observed[known.expand_as(observed)])
    with torch.no_grad():
        assert (m.log_prob(restored) > m.log_prob(observed)).all()
