"""Learning-rate schedules and the weight EMA: exact values."""

from __future__ import annotations

import math

import pytest
import torch

from genzoo.config import TrainConfig as TC
from genzoo.config import from_dict
from genzoo.training.optim import EMA, lr_factor


def cfg(**kw) -> TC:
    return from_dict(TC, {"steps": 100, **kw})


def test_warmup_is_linear_then_constant():
    c = cfg(warmup_steps=4)
    assert [lr_factor(s, c, 100) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_cosine_endpoints_and_midpoint():
    c = cfg(schedule="cosine", min_lr_ratio=0.1)
    assert lr_factor(0, c, 100) == pytest.approx(1.0)
    assert lr_factor(50, c, 100) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_factor(99, c, 100) > 0.1
    assert lr_factor(100, c, 100) == pytest.approx(0.1)


def test_linear_and_step_schedules():
    c = cfg(schedule="linear")
    assert lr_factor(25, c, 50) == pytest.approx(0.5)
    c = cfg(schedule="step", milestones=[10, 20], gamma=0.5)
    assert [lr_factor(s, c, 100) for s in (9, 10, 19, 20, 99)] == [1, 0.5, 0.5, 0.25, 0.25]


def test_ema_is_exponential_average():
    m = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        m.weight.fill_(0.0)
    ema = EMA(m, decay=0.9)
    for _ in range(3):
        with torch.no_grad():
            m.weight.fill_(1.0)
        ema.update(m)
    assert ema.shadow["weight"].item() == pytest.approx(1 - 0.9**3)
    with ema.applied(m):
        assert m.weight.item() == pytest.approx(1 - 0.9**3)
    assert m.weight.item() == 1.0
    assert math.isclose(ema.state_dict()["weight"].item(), 1 - 0.9**3, rel_tol=1e-6)
