"""Value-range transforms: exact maps, round trips, dequantization, logit and its log-det."""

from __future__ import annotations

import pytest
import torch

from genzoo.data.transforms import (
    dequantize,
    from_float,
    inverse_logit_transform,
    logit_transform,
    logit_transform_log_det,
    to_float,
)
from genzoo.errors import ConfigError

U8 = torch.arange(256, dtype=torch.uint8).reshape(4, 1, 8, 8)


def test_to_float_exact():
    x = to_float(U8, (0, 255))
    assert x.dtype == torch.float32 and x.shape == U8.shape
    assert torch.equal(x, U8.float() / 255)
    y = to_float(U8, (0, 255), target=(-1.0, 1.0))
    assert y.min() == -1 and y.max() == 1
    assert torch.equal(to_float(torch.tensor([0, 8, 16]), (0, 16)), torch.tensor([0, 0.5, 1]))
    v = torch.randn(5, 2)
    assert torch.equal(to_float(v, None), v)


@pytest.mark.parametrize("target", [(0.0, 1.0), (-1.0, 1.0), (-0.5, 0.5)])
def test_uint8_round_trip(target):
    back = from_float(to_float(U8, (0, 255), target), (0, 255), target)
    assert back.dtype == torch.uint8 and torch.equal(back, U8)


def test_from_float_clamps_and_keeps_other_ranges_float():
    assert torch.equal(
        from_float(torch.tensor([-0.2, 0.5, 1.3]), (0, 255)),
        torch.tensor([0, 128, 255], dtype=torch.uint8),
    )
    b = from_float(torch.tensor([-2.0, 0.0, 0.25, 3.0]), (0, 1), target=(-1.0, 1.0))
    assert b.dtype == torch.float32 and torch.equal(b, torch.tensor([0.0, 0.5, 0.625, 1.0]))
    v = torch.randn(3)
    assert from_float(v, None) is v


def test_dequantize():
    g = torch.Generator().manual_seed(0)
    x = dequantize(U8, generator=g)
    assert x.shape == U8.shape and x.dtype == torch.float32
    assert (x >= 0).all() and (x < 1).all()
    assert torch.equal((x * 256).floor().to(torch.uint8), U8)
    g2 = torch.Generator().manual_seed(0)
    assert torch.equal(dequantize(U8, generator=g2), x)
    binary = dequantize(torch.tensor([0, 1, 1]), levels=2)
    assert torch.equal((binary * 2).floor().long(), torch.tensor([0, 1, 1]))


def test_logit_round_trip_and_log_det():
    x = torch.rand(3, 2, 4, 4, dtype=torch.float64)
    y = logit_transform(x, alpha=0.05)
    assert torch.allclose(inverse_logit_transform(y, alpha=0.05), x, atol=1e-12)
    edges = logit_transform(torch.tensor([0.0, 1.0]), alpha=0.05)
    assert torch.isfinite(edges).all() and torch.allclose(
        edges, torch.tensor([-2.9444, 2.9444]), atol=1e-4
    )
    jac = torch.autograd.functional.jacobian(lambda v: logit_transform(v, 0.05), x[0])
    expected = torch.logdet(jac.reshape(32, 32))
    assert torch.allclose(logit_transform_log_det(x, 0.05)[0], expected)
    with pytest.raises(ConfigError, match="0 <= alpha < 0.5"):
        logit_transform(x, alpha=0.5)
