"""Conditional VAE (``method: vae`` with ``model.conditional: true``): samples and likelihoods
respect the labels, on a model whose decoder ignores z and maps each label to its own image."""

from __future__ import annotations

import json
import math

import pytest
import torch
from PIL import Image

from genzoo.analyze.evaluate import draw_samples, evaluate_run, sample_run
from genzoo.config import build_run_config
from genzoo.data.base import DatasetInfo
from genzoo.errors import ConfigError, UserError
from genzoo.losses import log_likelihood_bernoulli_logits, log_mean_exp
from genzoo.models.base import Batch
from genzoo.models.vae import VAE, VAEConfig
from genzoo.nets.conv import ConvEncoderConfig, DeconvConfig
from genzoo.nets.mlp import MLPConfig
from genzoo.runs import load, train

INFO = DatasetInfo("patterns", (1, 4, 4), 3, (0, 1), "image")
L = 2


def _cvae(**kw) -> VAE:
    cfg = VAEConfig(encoder=MLPConfig(width=8, depth=1), decoder_net=MLPConfig(depth=0),
                    latent_dim=L, decoder="bernoulli", conditional=True, **kw)
    torch.manual_seed(0)
    return VAE(cfg, INFO)


def _label_decoder(vae: VAE, prior_proposal: bool = False) -> torch.Tensor:
    """Make p(x|z, y) ignore z: the (linear) decoder puts logits +-30 on label y's own binary
    pattern. With ``prior_proposal``, also q(z|x, y) = N(0, I), the prior. Returns the patterns
    (C, 1, 4, 4)."""
    g = torch.Generator().manual_seed(0)
    patterns = torch.bernoulli(torch.full((3, 16), 0.5), generator=g)
    patterns[:, 0] = torch.tensor([0.0, 1.0, 1.0])
    patterns[:, 1] = torch.tensor([0.0, 0.0, 1.0])  # all three differ
    with torch.no_grad():
        head = vae.decoder_net.head
        head.weight.zero_()
        head.weight[:, L:] = (60 * patterns - 30).T  # the one-hot's columns
        head.bias.zero_()
        if prior_proposal:
            vae.encoder.head.weight.zero_()
            vae.encoder.head.bias.zero_()
            vae.label_to_q.weight.zero_()
    return patterns.view(3, 1, 4, 4)


def test_samples_show_their_labels():
    vae = _cvae()
    patterns = _label_decoder(vae)
    y = torch.tensor([0, 1, 2, 2, 1, 0])
    torch.testing.assert_close(vae.sample(6, y=y), patterns[y])  # x ~ p(x|z, y)
    torch.testing.assert_close(vae.sample(6, y=y, sample_noise=False), patterns[y])  # means
    with pytest.raises(UserError, match="labels in 0..2"):
        vae.sample(2, y=torch.tensor([0, 3]))


def test_labels_default_to_uniform():
    vae = _cvae()
    patterns = _label_decoder(vae)
    torch.manual_seed(0)
    n = 3000
    x = vae.sample(n).flatten(1)
    match = (x[:, None] == patterns.flatten(1)[None]).all(-1)  # (n, C)
    assert (match.sum(1) == 1).all()  # every sample is one class's image
    counts = match.sum(0).double()
    p = 1 / 3
    assert ((counts - n * p).abs() < 4 * math.sqrt(n * p * (1 - p))).all(), counts


def test_loss_conditions_on_the_batch_labels():
    vae = _cvae()
    patterns = _label_decoder(vae)
    y = torch.tensor([0, 1, 2, 0])
    right = vae.loss(Batch(patterns[y], y)).metrics["recon"]
    wrong = vae.loss(Batch(patterns[y], (y + 1) % 3)).metrics["recon"]
    assert right < 1e-6 < 100 < wrong
    with pytest.raises(UserError, match="needs labels"):
        vae.loss(Batch(patterns[y]))
    out = vae.loss(Batch(patterns[y], y))
    out.loss.backward()
    assert vae.label_to_q.weight.grad.abs().sum() > 0  # the label reaches q(z|x, y)


def test_log_prob_is_exact_given_y_and_averages_the_classes_without_y():
    """With p(x|z, y) independent of z and q = p(z), every importance weight is p(x|y)."""
    vae = _cvae()
    patterns = _label_decoder(vae, prior_proposal=True)
    x = patterns[[0, 1, 2, 2]].clone()
    x[3, 0, 0, 0] = 1 - x[3, 0, 0, 0]  # one pixel off its pattern
    logits = (60 * patterns - 30).flatten(1)  # (C, D)
    exact = torch.stack([log_likelihood_bernoulli_logits(logits[c].expand(4, -1), x.flatten(1))
                         for c in range(3)], 1)  # (B, C): log p(x|y=c)
    y = torch.tensor([0, 1, 2, 2])
    torch.testing.assert_close(vae.log_prob(x, k=5, y=y), exact.gather(1, y[:, None]).squeeze(1))
    torch.testing.assert_close(vae.log_prob(x, k=5), log_mean_exp(exact))  # log p(x), uniform y


def test_hybrid_loss_adds_the_gsnn_term():
    """GSNN = log p(x|z, y), z ~ N(0, I): with p(x|z, y) independent of z it is exactly
    log p(x|y); the loss is -((1 - w) ELBO + w GSNN)."""
    vae = _cvae(gsnn_weight=0.3)
    patterns = _label_decoder(vae)
    y = torch.tensor([0, 1, 2, 1])
    x = patterns[y].clone()
    x[0, 0, 1, 1] = 1 - x[0, 0, 1, 1]
    logits = (60 * patterns - 30).flatten(1)[y]
    torch.testing.assert_close(vae.gsnn(x, y), log_likelihood_bernoulli_logits(logits,
                                                                               x.flatten(1)))
    out = vae.loss(Batch(x, y))
    m = out.metrics
    assert out.loss.item() == pytest.approx(-(0.7 * m["elbo"] + 0.3 * m["gsnn"]), rel=1e-5)
    with pytest.raises(ConfigError, match="conditional"):
        VAE(VAEConfig(decoder="bernoulli", gsnn_weight=0.3), INFO)


def test_conditional_needs_labelled_data_and_plain_vae_takes_no_labels():
    with pytest.raises(ConfigError, match="needs labels"):
        VAE(VAEConfig(conditional=True), DatasetInfo("toy", (3,), None, None, "vector"))
    plain = VAE(VAEConfig(decoder="bernoulli"), INFO)
    x = torch.rand(4, 1, 4, 4)
    assert math.isfinite(plain.loss(Batch(x, torch.tensor([0, 1, 2, 0]))).loss.item())
    with pytest.raises(UserError, match="unconditional"):
        plain.log_prob(x, k=2, y=torch.tensor([0, 1, 2, 0]))
    assert not plain.conditional and _cvae().conditional


def test_conditional_conv_vae_on_28x28_digits():
    info = DatasetInfo("mnist", (1, 28, 28), 10, (0, 255), "image")
    cfg = VAEConfig(encoder=ConvEncoderConfig(width=4), decoder_net=DeconvConfig(width=4),
                    latent_dim=100, decoder="bernoulli", conditional=True)
    vae = VAE(cfg, info)
    assert vae.decoder_net.body[1].in_features == 110  # z and the one-hot label
    batch = vae.prepare(torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8),
                        torch.arange(5))
    assert math.isfinite(vae.loss(batch).loss.item())
    assert vae.sample(4, y=torch.tensor([1, 2, 3, 4])).shape == (4, 1, 28, 28)


def test_run_samples_eval_and_class_grid(tmp_path):
    raw = {"method": "vae", "name": "cvae-tiny",
           "model": {"encoder": {"name": "mlp", "width": 16, "depth": 1},
                     "decoder_net": {"name": "mlp", "width": 16, "depth": 1},
                     "latent_dim": 4, "decoder": "bernoulli", "conditional": True,
                     "gsnn_weight": 0.3, "sample_noise": False},
           "data": {"name": "digits", "limit": 200, "val_split": "test", "val_limit": 50},
           "train": {"steps": 10, "batch_size": 32, "log_every": 5, "ckpt_every": 10,
                     "num_samples": 20, "num_threads": 1}}
    run = train(build_run_config(raw), runs_dir=tmp_path, quiet=True)
    numbers = evaluate_run(run, judge=False, is_k=(2,))
    assert math.isfinite(numbers["test/log_px_given_y_k2"])
    captions = json.loads((run / "figures" / "captions.json").read_text())
    assert {"class-samples.png", "reconstructions.png"} <= set(captions)
    # 10 x 10 tiles of 8 px, 2 px padding: one class per column
    assert Image.open(run / "figures" / "class-samples.png").size == (102, 102)
    method = load(run)
    samples, labels = draw_samples(method, 20)  # what the judge scores: 2 of each class
    assert samples.shape == (20, 1, 8, 8) and torch.equal(labels, torch.arange(20) % 10)
    assert sample_run(run, 6, y=3).is_file()
