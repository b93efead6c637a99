"""The optimized chains of LangevinChain (frozen weights, channels-last, in-place update and
noise) follow the plain reference loop step for step; the speed options keep their contracts."""

from __future__ import annotations

import pytest
import torch

from genzoo.runs import preset_method
from genzoo.samplers.langevin import energy_score, frozen, sgld_trajectory

DIGITS = ["data.name=digits", "data.val_limit=32", "model.buffer_size=64",
          "model.sampler.step_size=1.0", "model.sampler.noise_scale=0.01",
          "model.sampler.clip_grad=null"]


def reference_loop(net, x0, steps, step_size, noise, box):
    """JEM's plain loop: a leaf with requires_grad, grad of the summed logsumexp, update,
    noise (randn_like of a contiguous tensor), clamp."""
    net.eval()
    x = x0.clone().requires_grad_(True)
    for _ in range(steps):
        g = torch.autograd.grad(net(x).logsumexp(1).sum(), [x])[0]
        x.data += step_size * g + noise * torch.randn_like(x)
        x.data.clamp_(*box)
    return x.detach()


def twins(*option):
    """A small jem-mnist on digits and a copy of it (same weights) with sampler ``option``."""
    jem, data = preset_method("jem-mnist", [*DIGITS, "model.net.width=4"], limit=64)
    other, _ = preset_method("jem-mnist", [*DIGITS, "model.net.width=4", *option], limit=64)
    other.load_state_dict(jem.state_dict())
    return jem, other, data


def same_seed_chains(a, b, x0, steps, seed=0):
    """The chains of ``a`` and ``b`` from ``x0``, each after seeding with ``seed``."""
    torch.manual_seed(seed)
    first = a.chain.run(x0, steps)
    torch.manual_seed(seed)
    return first, b.chain.run(x0, steps)


def plain_copy(jem):
    """The backbone as a user builds it (contiguous weights), with jem's weights."""
    net = jem.cfg.net.build(jem.info.shape, jem.num_classes)
    net.load_state_dict(jem.net.state_dict())
    return net


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device"))]


@pytest.fixture
def float32_convolutions():
    """cuDNN without TF32 (on by default for convolutions on recent GPUs), so that a CUDA chain
    can be compared with the reference to float32 tolerance; restored after."""
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32 = before


@pytest.mark.parametrize("preset, net", [("jem-mnist", ["model.net.width=4"]),
                                         ("jem-cifar10", ["model.net.depth=10",
                                                          "model.net.widen=1"])])
@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.numerics
def test_chains_match_the_reference_loop_for_the_same_seed(preset, net, channels_last, device,
                                                           float32_convolutions):
    # an untrained net's energy gradients are ~1e-5: a large step makes them count
    jem, data = preset_method(preset, [*DIGITS, *net, "model.sampler.step_size=2000",
                                       f"model.runtime.channels_last={channels_last}"],
                              limit=64)
    weights = next(p for p in jem.net.parameters() if p.dim() == 4 and p.shape[1] > 1)
    assert weights.is_contiguous(memory_format=torch.channels_last) == channels_last
    x0 = jem.prepare(data.x[:16]).x.to(device)
    plain = plain_copy(jem).to(device)  # built before seeding: its initialization draws too
    jem.to(device)
    torch.manual_seed(3)
    ours = jem.chain.run(x0, 12)
    torch.manual_seed(3)
    theirs = reference_loop(plain, x0, 12, 2000.0, 0.01, jem.chain.box)
    torch.manual_seed(3)
    noise_only = reference_loop(plain, x0, 12, 0.0, 0.01, jem.chain.box)
    assert ours.is_contiguous() and ours.device.type == device
    assert (ours - noise_only).abs().mean() > 0.01  # the energy moved the chains
    torch.testing.assert_close(ours, theirs, atol=2e-5, rtol=0)


def test_chains_leave_the_weights_trainable_and_gradient_free():
    jem, data = preset_method("jem-mnist", [*DIGITS, "model.net.width=4"], limit=64)
    jem.net.head.weight.requires_grad_(False)  # a user's own frozen layer stays frozen
    jem.train()
    jem.chain.run(jem.prepare(data.x[:8]).x, 3)
    assert jem.training
    flags = {name: p.requires_grad for name, p in jem.net.named_parameters()}
    assert flags.pop("head.weight") is False and all(flags.values())
    assert all(p.grad is None for p in jem.parameters())


def test_frozen_restores_every_flag_after_an_error():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    net[1].bias.requires_grad_(False)
    with pytest.raises(RuntimeError), frozen(net):
        assert not any(p.requires_grad for p in net.parameters())
        raise RuntimeError
    assert [p.requires_grad for p in net.parameters()] == [True, True, True, False]


def test_recorded_frames_are_copies_of_the_chain():
    frames = []
    x0 = torch.zeros(4, 2)
    out = sgld_trajectory(lambda x: -x + 1, x0, 3, 0.5, 0.0,
                          lambda t, x: frames.append(x))
    assert torch.equal(x0, torch.zeros(4, 2))  # the caller's start is not modified
    # x_t = 1 - 0.5^t, each frame as it was at its step
    for t, frame in enumerate(frames):
        torch.testing.assert_close(frame, torch.full((4, 2), 1 - 0.5**t))
    assert frames[-1] is not out


@pytest.mark.numerics
def test_channels_last_weights_survive_a_checkpoint_round_trip():
    jem, other, data = twins("model.runtime.channels_last=false")
    x = jem.prepare(data.x[:8]).x
    torch.testing.assert_close(other.energy(x), jem.energy(x), atol=1e-5, rtol=0)


@pytest.mark.numerics
def test_bf16_chains_stay_close_to_float32():
    jem, fast, data = twins("model.runtime.precision=bf16")
    x0 = jem.prepare(data.x[:16]).x
    exact, approx = same_seed_chains(jem, fast, x0, 5)
    assert approx.dtype == torch.float32 and torch.isfinite(approx).all()
    moved = (exact - x0).abs().mean()
    assert (approx - exact).abs().mean() < 0.1 * moved  # bf16 rounding, not another chain
    grad = energy_score(lambda v: fast.energy(v))(x0)  # the energy itself stays float32
    assert grad.dtype == torch.float32


def test_float32_chains_stay_float32_inside_an_amp_training_step():
    """train.amp autocasts the training step; sampler.precision alone decides the chains':
    float32 chains inside the autocast are the very chains run outside it (backward passes
    included, whose matmuls an enclosing autocast would otherwise reach)."""
    # a large step, so that the energy gradients move the chains
    options = [*DIGITS, "model.net.width=4", "model.sampler.step_size=2000"]
    jem, data = preset_method("jem-mnist", options, limit=64)
    same, _ = preset_method("jem-mnist", options, limit=64)
    same.load_state_dict(jem.state_dict())
    x0 = jem.prepare(data.x[:16]).x
    torch.manual_seed(0)
    outside = jem.chain.run(x0, 4)
    torch.manual_seed(0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = same.chain.run(x0, 4)
    assert (outside - x0).abs().mean() > 0.02
    assert torch.equal(inside, outside)


@pytest.mark.slow
@pytest.mark.numerics
def test_compiled_chains_match_eager_chains():
    jem, comp, data = twins("model.runtime.compile=true")
    eager, compiled = same_seed_chains(jem, comp, jem.prepare(data.x[:16]).x, 4)
    torch.testing.assert_close(compiled, eager, atol=1e-4, rtol=0)
    assert "_compiled_net" not in dict(comp.named_modules())  # not a submodule: no extra weights
    assert set(comp.state_dict()) == set(jem.state_dict())


def test_chains_are_the_same_with_and_without_the_kept_heap():
    jem, other, data = twins("model.runtime.keep_heap=false")
    kept, plain = same_seed_chains(jem, other, jem.prepare(data.x[:8]).x, 5, seed=5)
    assert torch.equal(kept, plain)
