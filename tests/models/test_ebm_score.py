"""EBM and score models: signs, sampler isolation, and the optima of their objectives."""

from __future__ import annotations

import pytest
import torch

from genzoo.config import resolve_config
from genzoo.models.score import dsm_loss, exact_sm_loss
from genzoo.runs import build_method, load_data
from genzoo.training.checkpoint import seed_everything


def toy(preset: str, *overrides: str):
    cfg = resolve_config(preset, ["data.options.n=256", *overrides])
    data = load_data(cfg, "train")
    seed_everything(0)
    return build_method(cfg, data.info), data


def test_a_cd_step_moves_energy_down_on_data_relative_to_negatives():
    """A small gradient step on E(x+) - E(x-) shrinks the gap by about lr * |grad|^2."""
    method, data = toy("ebm-toy", "model.sampler.steps=5", "model.alpha=0")
    batch = method.prepare(data.x[:128])
    torch.manual_seed(1)
    x_neg = method.chain.negatives(128)
    loss = method.loss(batch)  # the method's own loss on the same data, for its sign
    assert loss.metrics["cd"] == pytest.approx(loss.metrics["e_pos"] - loss.metrics["e_neg"])

    def gap() -> torch.Tensor:
        return method.energy(batch.x).mean() - method.energy(x_neg).mean()

    before = gap()
    grads = torch.autograd.grad(before, list(method.parameters()))
    lr = 1e-3
    with torch.no_grad():
        for p, g in zip(method.parameters(), grads, strict=True):
            p -= lr * g
    expected = lr * sum((g**2).sum() for g in grads).item()
    assert before.item() - gap().item() == pytest.approx(expected, rel=0.05)


def test_sgld_negatives_leave_parameters_alone_and_fill_the_buffer():
    method, data = toy("ebm-toy", "model.sampler.steps=3", "model.buffer_size=100")
    method.train()
    before = [p.detach().clone() for p in method.parameters()]
    method.chain.negatives(40)
    assert all(p.grad is None for p in method.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, method.parameters(), strict=True))
    assert len(method.buffer) == 40
    noise, _ = toy("ebm-toy", "model.init=noise", "model.sampler.steps=3")
    noise.train()
    noise.chain.negatives(40)
    assert len(noise.buffer) == 0


def test_exact_sm_objective_of_the_true_gaussian_score():
    # s(x) = -(x - m) / v for x ~ N(m, v I_D): E[tr ds/dx + |s|^2 / 2] = -D / v + D / (2 v)
    torch.manual_seed(0)
    m, v, d = torch.tensor([1.0, -1.0]), 0.5, 2
    x = m + v**0.5 * torch.randn(200000, d)
    values = exact_sm_loss(lambda x: -(x - m) / v, x)
    assert values.mean().item() == pytest.approx(-d / (2 * v), rel=0.01)


@pytest.mark.numerics
def test_exact_trace_matches_the_autograd_jacobian():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Softplus(), torch.nn.Linear(16, 2))
    x = torch.randn(5, 2)
    jac = torch.stack([torch.autograd.functional.jacobian(net, xi) for xi in x])
    expected = jac.diagonal(dim1=1, dim2=2).sum(1) + 0.5 * (net(x) ** 2).sum(1)
    assert torch.allclose(exact_sm_loss(net, x), expected, atol=1e-5)


def test_dsm_is_minimised_by_the_analytic_gaussian_score():
    """For data N(m, v I) the optimal s(x, sigma) is -(x - m) / (v + sigma^2): the gradient
    of the DSM objective over an affine score a * x + c vanishes there."""
    m, v, sigma = torch.tensor([2.0, -1.0]), 0.3, 0.7
    x = m + v**0.5 * torch.randn(400000, 2, generator=torch.Generator().manual_seed(0))
    levels = torch.full((len(x),), sigma)
    a = torch.tensor(-1 / (v + sigma**2), requires_grad=True)
    c = (m / (v + sigma**2)).clone().requires_grad_(True)
    torch.manual_seed(1)
    dsm_loss(lambda x, s: a * x + c, x, levels).mean().backward()
    assert a.grad.abs().item() < 0.01 and c.grad.abs().max().item() < 0.01
    a_off = torch.tensor(-0.5 / (v + sigma**2), requires_grad=True)
    torch.manual_seed(1)
    dsm_loss(lambda x, s: a_off * x + c, x, levels).mean().backward()
    assert a_off.grad.abs().item() > 0.1  # away from the optimum the gradient is not small


def test_score_presets_sample_the_right_shape():
    for preset in ("sm-toy", "dsm-toy"):
        method, _ = toy(preset)
        x = method.sample(7, **({"sample_steps": 5} if preset == "sm-toy" else
                                {"steps_per_level": 2}))
        assert x.shape == (7, 2) and torch.isfinite(x).all()
