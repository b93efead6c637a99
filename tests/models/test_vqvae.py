"""VQ-VAE: quantization, straight-through gradients, codebook updates, restarts, end to end."""

from __future__ import annotations

import math

import pytest
import torch

from genzoo.cli import main
from genzoo.data.base import DatasetInfo
from genzoo.models.base import Batch
from genzoo.models.vqvae import VQVAE, VectorQuantizer, VQVAEConfig, perplexity

DIGITS = DatasetInfo("digits", (1, 8, 8), 10, (0, 16), "image")


def quantizer(**kw) -> VectorQuantizer:
    return VectorQuantizer(VQVAEConfig(**{"latent_dim": 2, "codebook_size": 3, **kw}))


def test_nearest_is_the_brute_force_argmin():
    torch.manual_seed(0)
    q = VectorQuantizer(VQVAEConfig(latent_dim=5, codebook_size=17))
    q.codebook.data.normal_()
    z = torch.randn(200, 5)
    assert torch.equal(q.nearest(z), torch.cdist(z, q.codebook).argmin(1))


def test_quantized_values_are_codes_and_the_gradient_passes_straight_through():
    q = quantizer(ema=False)
    q.codebook.data = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    z_e = torch.tensor([[0.9, 0.2], [0.1, -0.1], [-0.2, 0.8]]).t().reshape(1, 2, 1, 3)
    z_e.requires_grad_(True)
    out = q.eval()(z_e)
    assert out.indices.flatten().tolist() == [1, 0, 2]
    assert torch.equal(out.z_q.detach(), q.codebook.data[[1, 0, 2]].t().reshape(1, 2, 1, 3))
    w = torch.randn_like(z_e)
    (out.z_q * w).sum().backward()
    assert torch.equal(z_e.grad, w)  # d z_q / d z_e = identity


@pytest.mark.numerics
def test_quantizer_runs_in_float32_under_bf16_autocast():
    """Under train.amp's autocast the codes are those float32 picks: vectors far from the
    origin with two close codes, where a bf16 distance (terms ~800 rounded to ~4) would pick at
    random. z_q is float32 and the straight-through gradient still reaches z_e."""
    torch.manual_seed(0)
    q = VectorQuantizer(VQVAEConfig(latent_dim=8, codebook_size=2, ema=True)).eval()
    centre = 10 * torch.randn(8)
    q.codebook.data = centre + 0.2 * torch.randn(2, 8)
    z = (centre + 0.2 * torch.randn(1, 8, 10, 10).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    z = z.bfloat16().float().requires_grad_(True)  # what a bf16 encoder hands over
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto = q(z.bfloat16())
    exact = q(z.detach())
    assert len(set(exact.indices.flatten().tolist())) == 2  # both codes are in play
    assert torch.equal(auto.indices, exact.indices) and auto.z_q.dtype == torch.float32
    auto.z_q.sum().backward()
    assert torch.equal(z.grad, torch.ones_like(z))


def test_straight_through_gradient_reaches_the_encoder():
    torch.manual_seed(0)
    model = VQVAE(VQVAEConfig(width=4, latent_dim=3, codebook_size=8, beta=0.0, ema=True),
                  DIGITS)
    x = torch.rand(6, 1, 8, 8)
    out = model.loss(Batch(x))
    # beta = 0 and an EMA codebook: the only path from the loss to the encoder is the
    # reconstruction through the straight-through copy of z_q
    assert out.metrics["codebook"] == 0.0
    out.loss.backward()
    grads = [p.grad for p in model.encoder.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0


def test_ema_update_moves_each_code_to_the_smoothed_mean_of_its_vectors():
    q = quantizer(decay=0.9, eps=1e-5)
    e0 = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    q.codebook.data, q.ema_sum = e0.clone(), e0.clone()
    z = torch.tensor([[2.0, 0.1], [1.5, -0.1], [0.1, 2.0]])  # codes 1, 1, 2
    idx = q.nearest(z)
    assert idx.tolist() == [1, 1, 2]
    q.update(z, idx, torch.bincount(idx, minlength=3))
    count = torch.tensor([0.9, 0.9 + 0.1 * 2, 0.9 + 0.1])
    total = count.sum()
    smoothed = (count + 1e-5) / (total + 3e-5) * total
    sums = 0.9 * e0 + 0.1 * torch.stack([torch.zeros(2), z[0] + z[1], z[2]])
    assert torch.allclose(q.codebook.data, sums / smoothed[:, None], atol=1e-6)
    # the used codes moved toward the mean of their vectors; the unused one stayed put
    mean1 = (z[0] + z[1]) / 2
    assert (q.codebook[1] - mean1).norm() < (e0[1] - mean1).norm()
    assert (q.codebook[2] - z[2]).norm() < (e0[2] - z[2]).norm()
    assert torch.allclose(q.codebook[0], e0[0], atol=1e-5)


def test_codebook_loss_gradient_moves_codes_toward_their_vectors():
    q = quantizer(ema=False)
    q.codebook.data = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    z_e = torch.tensor([[2.0, 0.1], [0.1, 2.0]]).t().reshape(1, 2, 1, 2)
    out = q.eval()(z_e)
    out.codebook_loss.backward()
    # ||sg(z) - e||^2 averaged over the 4 elements: gradient 2 (e - z) / 4 on the used rows
    expected = torch.zeros(3, 2)
    expected[1] = 2 * (q.codebook.data[1] - z_e[0, :, 0, 0]) / 4
    expected[2] = 2 * (q.codebook.data[2] - z_e[0, :, 0, 1]) / 4
    assert torch.allclose(q.codebook.grad, expected)
    before = (q.codebook.data[1:] - torch.tensor([[2.0, 0.1], [0.1, 2.0]])).norm(dim=1)
    q.codebook.data -= 0.5 * q.codebook.grad
    after = (q.codebook.data[1:] - torch.tensor([[2.0, 0.1], [0.1, 2.0]])).norm(dim=1)
    assert (after < before).all()


def test_a_dead_code_is_restarted_at_an_encoder_output():
    torch.manual_seed(0)
    q = quantizer(decay=0.5, dead_below=0.03, ema=False)  # no EMA: only restarts move codes
    q.codebook.data = torch.tensor([[0.0, 0.0], [1.0, 0.0], [50.0, 50.0]])
    z = torch.tensor([[0.1, 0.0], [0.9, 0.1], [1.1, -0.1], [0.0, 0.2]])
    restarted_at = None
    for step in range(12):
        idx = q.nearest(z)
        q.update(z, idx, torch.bincount(idx, minlength=3))
        if not torch.equal(q.codebook[2], torch.tensor([50.0, 50.0])) and restarted_at is None:
            restarted_at = step
            assert any(torch.equal(q.codebook[2], v) for v in z)
            assert q.usage[2] == 1.0 and torch.equal(q.ema_sum[2], q.codebook[2])
    # usage 1 * 0.5**k falls below 0.03 at k = 6 (0.0156)
    assert restarted_at == 5


def test_perplexity_of_uniform_and_one_hot_usage():
    assert perplexity(torch.tensor([5, 5, 5, 5])) == pytest.approx(4.0)
    assert perplexity(torch.tensor([0, 9, 0])) == pytest.approx(1.0)
    p = torch.tensor([1.0, 3.0])
    assert perplexity(p) == pytest.approx(math.exp(-(0.25 * math.log(0.25)
                                                     + 0.75 * math.log(0.75))))


@pytest.mark.parametrize("stages, grid", [(2, (7, 7)), (3, (4, 4)), (5, (1, 1))])
def test_images_are_padded_to_the_grid_and_cropped_back(stages, grid):
    info = DatasetInfo("mnist", (1, 28, 28), 10, (0, 255), "image")
    model = VQVAE(VQVAEConfig(width=4, latent_dim=3, codebook_size=8, stages=stages), info)
    x = torch.rand(2, 1, 28, 28)
    assert model.grid == grid and model.encode(x).shape == (2, *grid)
    assert model.reconstruct(x).shape == x.shape
    assert model.features(x).shape == (2, 3 * grid[0] * grid[1])


def test_train_eval_figures_on_digits(tmp_path):
    runs = tmp_path / "runs"
    assert main(["--quiet", "train", "vqvae-mnist", "data.name=digits", "data.limit=64",
                 "data.val_split=test", "data.val_limit=32", "model.width=8",
                 "model.codebook_size=16", "model.latent_dim=4", "train.epochs=null",
                 "train.steps=6", "train.batch_size=16", "train.log_every=2",
                 "train.eval_every=3", "--runs-dir", str(runs)]) == 0
    run = runs / "vqvae-mnist"
    assert main(["--quiet", "eval", str(run), "--no-judge"]) == 0
    figures = run / "figures"
    assert (figures / "reconstructions.png").is_file()
    assert (figures / "codebook-usage.png").is_file()
    import json

    numbers = json.loads((run / "eval.json").read_text())
    assert 1.0 <= numbers["test/perplexity"] <= 16.0
    assert numbers["test/codes_used"] >= 1
