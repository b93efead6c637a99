"""Langevin in the paper form inside LangevinChain (eps_t decay on step and noise together),
and the Gaussian-mixture chain starts of JEM++ without a buffer."""

from __future__ import annotations

import pytest
import torch

from genzoo.config import from_dict
from genzoo.errors import ConfigError
from genzoo.samplers.chain import ChainRuntime, LangevinChain, SGLDConfig
from genzoo.samplers.mixture import DataMixture


def test_eps_t_decays_geometrically_over_t_over_T():
    cfg = SGLDConfig(form="paper", eps=0.1, eps_end=0.01)
    expected = [0.1 * 0.1 ** (t / 4) for t in range(4)]
    assert cfg.eps_t(4) == pytest.approx(expected)
    assert cfg.noise(4) == pytest.approx(expected)
    assert cfg.sizes(4) == pytest.approx([e * e / 2 for e in expected])
    constant = SGLDConfig(form="paper", eps=0.3)
    assert constant.sizes(3) == pytest.approx([0.045] * 3) and constant.noise(3) == [0.3] * 3
    jem = SGLDConfig(step_size=2.0, noise_scale=0.5)  # the jem form is untouched
    assert jem.sizes(3) == [2.0] * 3 and jem.noise(3) == [0.5] * 3


def test_paper_form_chain_is_x_minus_half_eps_squared_grad_plus_eps_noise():
    """A linear energy E(x) = w.x + b: dE/dx = w, so after T steps
    x_T = x_0 - sum_t (eps_t^2 / 2) w + sum_t eps_t eta_t exactly."""
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    cfg = SGLDConfig(steps=5, form="paper", eps=0.2, eps_end=0.02)
    chain = LangevinChain(net, lambda out, y: out.squeeze(-1), cfg,
                          ChainRuntime(channels_last=False), shape=(3,), box=(-10.0, 10.0))
    x0 = torch.randn(64, 3)
    torch.manual_seed(1)
    x = chain.run(x0)
    torch.manual_seed(1)
    etas = [torch.randn(64, 3) for _ in range(5)]
    eps = cfg.eps_t(5)
    w = net.weight.detach()[0]
    expected = x0 - sum(e * e / 2 for e in eps) * w + sum(e * n for e, n in zip(eps, etas,
                                                                                 strict=True))
    assert torch.allclose(x, expected, atol=1e-5)


def test_paper_form_refuses_proximal_steps():
    with pytest.raises(ConfigError, match="form=paper"):
        from_dict(SGLDConfig, {"form": "paper", "inner_steps": 2}, "model.sampler")


def test_mixture_fit_recovers_two_components_and_draws_follow_them():
    torch.manual_seed(0)
    a = torch.randn(3000, 2) * 0.1 + torch.tensor([1.0, 1.0])
    b = torch.randn(1000, 2) * 0.1 - torch.tensor([1.0, 1.0])
    for covariance in ("full", "diag"):
        gmm = DataMixture.fit(torch.cat([a, b]), components=2, covariance=covariance)
        big = int(gmm.weights.argmax())
        assert gmm.weights[big] == pytest.approx(0.75, abs=0.01)
        assert torch.allclose(gmm.mean[big], torch.tensor([1.0, 1.0]), atol=0.02)
        draws = gmm.sample(20000)
        assert (draws.sum(1) > 0).float().mean() == pytest.approx(0.75, abs=0.02)
        assert draws[draws.sum(1) > 0].std(0) == pytest.approx(torch.full((2,), 0.1),
                                                               abs=0.01)


def test_jem_with_mixture_starts_fits_at_setup_and_restores_it(tmp_path):
    from genzoo.runs import load, preset_method, train

    quick = ["data.name=digits", "model.net.width=4", "model.gmm_components=3",
             "model.gmm_covariance=diag", "model.sampler.steps=0"]
    jem, data = preset_method("jempp-mnist-gmm", quick, limit=300)
    jem.setup(data)
    x = jem.chain.negatives(500)
    assert x.min() >= -1 and x.max() <= 1 and len(jem.buffer) == 0  # no buffer in use
    x_data = jem.prepare(data.x).x.flatten(1)
    assert torch.allclose(x.flatten(1).mean(0), x_data.mean(0), atol=0.15)
    run = train("jempp-mnist-gmm", [*quick, "model.sampler.steps=1", "train.steps=2",
                                    "train.epochs=null", "train.batch_size=8",
                                    "train.num_samples=4", "data.limit=200"],
                runs_dir=tmp_path, quiet=True)
    loaded = load(run)
    assert loaded.mixture is not None and loaded.mixture.covariance_type == "diag"
    assert loaded.sample(4).shape == (4, 1, 8, 8)


def test_ebm_init_lab_schedules_eps_in_the_paper_form():
    from genzoo.labs.ebm_init import _variant_config

    paper = ["model.sampler.form=paper", "model.sampler.eps=0.05"]
    sched = _variant_config("ebm-mnist", paper, "buffer-sched").model.sampler
    plain = _variant_config("ebm-mnist", [*paper, "model.sampler.eps_end=0.001"],
                            "noise").model.sampler
    assert sched.form == "paper" and sched.eps_end == pytest.approx(0.005)
    assert sched.noise_schedule == "constant"  # the decay is eps_t's, not the jem form's
    assert plain.eps_end is None and plain.sizes(2) == pytest.approx([0.05**2 / 2] * 2)
    jem_form = _variant_config("ebm-mnist", [], "noise-sched").model.sampler
    assert jem_form.form == "jem" and jem_form.noise_schedule == "geometric"
