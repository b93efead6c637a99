"""CNF: exact log-densities for zero and linear dynamics, exact trace vs the Jacobian,
invertibility, and a tiny end-to-end run."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import Tensor, nn

from genzoo.config import build_run_config, from_dict
from genzoo.data.base import DatasetInfo
from genzoo.models.cnf import CNF, CNFConfig, Dynamics, exact_trace
from genzoo.runs import load, load_data, train
from genzoo.training.checkpoint import load_checkpoint

INFO = DatasetInfo(name="toy", shape=(2,), num_classes=None, value_range=None, kind="vector")


def make(**cfg) -> CNF:
    net = {"name": "cond-mlp", "width": 16, "depth": 2, "act": "tanh", "emb_dim": 8}
    return CNF(from_dict(CNFConfig, {"net": net, **cfg}), INFO).eval()


class LinearField(nn.Module):
    """f(z, t) = A z."""

    def __init__(self, A: Tensor) -> None:
        super().__init__()
        self.A = nn.Parameter(A)

    def forward(self, z: Tensor, t: Tensor) -> Tensor:
        return z @ self.A.T


def test_zero_dynamics_give_the_base_density():
    m = make()
    m.dynamics.net = LinearField(torch.zeros(2, 2))
    x = torch.randn(64, 2) * 3
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(1)
    assert torch.allclose(m.log_prob(x), expected, atol=1e-6)
    assert torch.allclose(m.base_log_prob(x), expected, atol=1e-6)
    z = torch.randn(8, 2)
    assert torch.allclose(m.decode(z), z, atol=1e-6)


def test_linear_dynamics_match_the_analytic_gaussian():
    torch.manual_seed(0)
    A = torch.tensor([[0.3, -0.8], [0.5, -0.2]])
    T = 1.5
    m = make(T=T)
    m.dynamics.net = LinearField(A.clone())
    M = torch.linalg.matrix_exp(A * T)  # x = M z(0), log det M = T tr(A)
    x = torch.randn(128, 2) * 2
    target = torch.distributions.MultivariateNormal(torch.zeros(2), M @ M.T).log_prob(x)
    assert torch.allclose(m.log_prob(x), target, atol=1e-4)
    z0, delta = m.encode(x)
    assert torch.allclose(delta, torch.full((128,), T * A.trace().item()), atol=1e-4)
    assert torch.allclose(z0, x @ torch.linalg.inv(M).T, atol=1e-4)


@pytest.mark.numerics
def test_exact_trace_equals_the_jacobian_trace():
    torch.manual_seed(0)
    net = make().dynamics.net
    z = torch.randn(5, 2, requires_grad=True)
    t = torch.tensor(0.3)
    trace = exact_trace(net(z, t), z, create_graph=False)
    for b in range(5):
        J = torch.autograd.functional.jacobian(lambda v: net(v[None], t)[0], z[b].detach())
        assert torch.allclose(trace[b], J.trace(), atol=1e-6)
    # the dynamics' second output is -trace, under no_grad as well
    with torch.no_grad():
        f, neg = Dynamics(net)(t, (z.detach(), torch.zeros(5)))
    assert torch.allclose(neg, -trace, atol=1e-6) and not neg.requires_grad


def test_invertibility_and_change_of_variables():
    torch.manual_seed(0)
    m = make()
    with torch.no_grad():  # a non-trivial flow: larger weights than at initialisation
        for p in m.parameters():
            p.mul_(2.0)
    z = torch.randn(64, 2)
    with torch.no_grad():
        x = m.decode(z)
        z_back, _ = m.encode(x)
        assert (x - z).abs().max() > 0.1
        # rtol = atol = 1e-5 bound each step's local error; the round trip adds up both ways
        assert torch.allclose(z_back, z, atol=1e-3)
        # forward integration of [z, l]: l(T) = -int tr, so log p(x) = log N(z) + l(T)
        x2, l_T = m._integrate((z, torch.zeros(64)), 0.0, m.cfg.T)
        assert torch.allclose(x2, x, atol=1e-3)
        assert torch.allclose(m.log_prob(x), m.base_log_prob(z) + l_T, atol=1e-3)
    torch.manual_seed(1)
    s = m.sample(100)
    torch.manual_seed(1)
    assert torch.allclose(s, m.decode(torch.randn(100, 2)))


def test_log_prob_is_differentiable_and_adjoint_agrees():
    torch.manual_seed(0)
    x = torch.randn(16, 2)
    grads = []
    for adjoint in (False, True):
        torch.manual_seed(0)
        m = make(adjoint=adjoint, train_rtol=1e-5, train_atol=1e-5).train()
        loss = m.loss(m.prepare(x)).loss
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in m.parameters()]))
    assert grads[0].abs().max() > 1e-3
    assert torch.allclose(grads[0], grads[1], atol=1e-3 * grads[0].abs().max().item())


def test_tiny_training_lowers_validation_nll_and_round_trips(tmp_path):
    raw = {"method": "cnf", "name": "cnf-tiny",
           "model": {"net": {"name": "cond-mlp", "width": 32, "depth": 2, "act": "tanh",
                             "emb_dim": 8}},
           "data": {"name": "pinwheel", "options": {"n": 2000}, "val_split": "test",
                    "val_limit": 128},
           "train": {"steps": 40, "batch_size": 64, "lr": 1e-2, "log_every": 20,
                     "eval_every": 10, "ckpt_every": 40, "num_samples": 16}}
    cfg = build_run_config(raw)
    run = train(cfg, runs_dir=tmp_path, quiet=True)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in records if r["split"] == "val"]
    assert len(val) == 4 and all(math.isfinite(r["loss"]) for r in val)
    assert val[-1]["loss"] < val[0]["loss"] - 0.1, [r["loss"] for r in val]
    assert val[-1]["nll"] == val[-1]["loss"]
    m = load(run, ema=False)
    ck = load_checkpoint(run / "checkpoints" / "last.pt", "cnf")
    for key, value in m.state_dict().items():
        assert torch.equal(value, ck["model"][key]), key
    x = load_data(cfg, "test", 128).x
    with torch.no_grad():
        nll = -m.log_prob(m.prepare(x).x).mean().item()
    assert abs(nll - val[-1]["loss"]) < 1e-4
