"""SimSiam family: the loss and its stop-gradient, the collapse diagnostic, the kNN monitor,
the ResNet-18 backbone, presets, and a tiny ``genzoo train`` / ``genzoo eval`` run."""

from __future__ import annotations

import json
import math

import pytest
import torch

from genzoo.cli import main
from genzoo.config import build_run_config, resolve_config
from genzoo.data.base import DatasetInfo
from genzoo.data.views import image_mixtures
from genzoo.errors import ConfigError
from genzoo.losses import mixture_loss, multicrop_loss, negative_cosine, simsiam_loss
from genzoo.models.simsiam import (
    SimSiam,
    SimSiamConfig,
    collapse_std,
    effective_rank,
    nearest_neighbours,
)
from genzoo.nets.conv import SmallCNNConfig
from genzoo.nets.resnet18 import ResNet18Config
from genzoo.runs import build_method, load_data

TINY_MODEL = {"encoder": {"name": "cnn", "width": 4, "stages": 1, "norm": "batch"},
              "feature_dim": 8, "proj_dim": 8, "pred_hidden": 4, "knn_k": 5}
NO_AUGMENT = {"crop_scale": [1.0, 1.0], "flip": 0.0, "jitter": 0.0, "grayscale": 0.0}
TINY = ["data.name=digits", "data.limit=64", "data.val_limit=32", "model.encoder.width=4",
        "model.encoder.stages=1", "model.feature_dim=8", "model.proj_dim=8",
        "model.pred_hidden=4", "model.knn_k=5", "train.epochs=null", "train.steps=4",
        "train.batch_size=16", "train.eval_every=2", "train.log_every=1", "train.lr=0.01"]


def _digits(**model):
    cfg = build_run_config({"method": "simsiam", "name": "t", "model": {**TINY_MODEL, **model},
                            "data": {"name": "digits", "limit": 64, "val_limit": 32},
                            "train": {"steps": 1}})
    train, val = load_data(cfg, "train", 64), load_data(cfg, "test", 32)
    torch.manual_seed(0)
    return build_method(cfg, train.info), train, val


def _batches(method, data, size=16):
    for s in range(0, len(data), size):
        yield method.prepare(data.x[s:s + size], data.y[s:s + size])


def _loss_and_views(method, batch, seed):
    """``method.loss(batch)`` under ``seed``, and the two views' images and (z, p) that it drew,
    recomputed from the same seed (the forward passes draw no random numbers)."""
    torch.manual_seed(seed)
    out = method.loss(batch)
    torch.manual_seed(seed)
    xs = [method.augment(batch.x) for _ in range(2)]
    return out, xs, [method(x) for x in xs]


# ----------------------------------------------------------------------------- the loss
def test_loss_is_minus_one_for_equal_views_and_an_identity_predictor():
    method, train, _ = _digits(predictor="identity", **NO_AUGMENT)
    batch = method.prepare(train.x[:16], train.y[:16])
    for training in (True, False):
        method.train(training)
        out = method.loss(batch)
        assert out.loss.item() == pytest.approx(-1.0, abs=1e-6)
        assert out.metrics["cos"] == pytest.approx(1.0, abs=1e-6)
    z = torch.randn(10, 6)
    assert simsiam_loss(z, z, z, z).item() == pytest.approx(-1.0, abs=1e-6)
    assert simsiam_loss(-z, -z, 3 * z, z).item() == pytest.approx(1.0, abs=1e-6)


def test_stop_gradient_keeps_the_target_branch_out_of_the_graph():
    g = torch.Generator().manual_seed(0)
    p1, p2, z1, z2 = (torch.randn(8, 5, generator=g).requires_grad_() for _ in range(4))
    simsiam_loss(p1, p2, z1, z2, stop_gradient=True).backward()
    assert z1.grad is None and z2.grad is None
    assert p1.grad.abs().sum() > 0 and p2.grad.abs().sum() > 0
    simsiam_loss(p1, p2, z1, z2, stop_gradient=False).backward()
    assert z1.grad.abs().sum() > 0 and z2.grad.abs().sum() > 0


def test_multicrop_loss_is_the_mean_over_its_pairs_with_global_targets_only():
    g = torch.Generator().manual_seed(0)
    p1, p2, z1, z2, q1, q2, q3 = (torch.randn(6, 5, generator=g).requires_grad_()
                                  for _ in range(7))
    assert multicrop_loss([p1, p2], [z1, z2], []).item() == pytest.approx(
        simsiam_loss(p1, p2, z1, z2).item(), abs=1e-6)
    pairs = [(p1, z2), (p2, z1)] + [(q, z) for q in (q1, q2, q3) for z in (z1, z2)]
    expected = sum(negative_cosine(p, z).item() for p, z in pairs) / len(pairs)
    loss = multicrop_loss([p1, p2], [z1, z2], [q1, q2, q3])
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    loss.backward()
    assert z1.grad is None and z2.grad is None  # targets: stop-gradient
    assert all(q.grad.abs().sum() > 0 for q in (q1, q2, q3))
    same = torch.randn(4, 3)
    assert multicrop_loss([same, same], [same, same], [same] * 2).item() == pytest.approx(-1.0)


def test_multicrop_small_views_train_and_reach_the_encoder():
    method, train, _ = _digits(local_crops=2, local_size=6)
    method.train()
    torch.manual_seed(0)
    small = method.augment(method.prepare(train.x[:4]).x, local=True)
    assert small.shape == (4, 1, 6, 6)
    out = method.loss(method.prepare(train.x[:16], train.y[:16]))
    out.loss.backward()
    assert -1 <= out.loss.item() <= 1 and out.metrics["cos"] != pytest.approx(-out.loss.item())
    assert all(p.grad is not None for p in method.encoder.parameters())
    with pytest.raises(ConfigError, match="local_scale"):
        _digits(local_crops=2, local_scale=[0.5, 0.1])


def test_three_views_average_the_six_ordered_pairs():
    """views = 3: the loss is the mean of D(p_i, sg(z_j)) over i != j of three views; with no
    augmentation all views are equal, so an identity predictor gives exactly -1."""
    g = torch.Generator().manual_seed(0)
    ps, zs = ([torch.randn(6, 5, generator=g) for _ in range(3)] for _ in range(2))
    pairs = [(ps[i], zs[j]) for i in range(3) for j in range(3) if i != j]
    expected = sum(negative_cosine(p, z).item() for p, z in pairs) / 6
    assert multicrop_loss(ps, zs, []).item() == pytest.approx(expected, abs=1e-6)
    method, train, _ = _digits(views=3, predictor="identity", **NO_AUGMENT)
    batch = method.prepare(train.x[:16], train.y[:16])
    assert method.loss(batch).loss.item() == pytest.approx(-1.0, abs=1e-6)
    method, _, _ = _digits(views=3)
    method.train()
    calls = []
    method.augment = lambda x, local=False: calls.append(local) or x + 0.01 * len(calls)
    out = method.loss(batch)
    out.loss.backward()
    assert calls == [False] * 3 and -1 <= out.loss.item() <= 1
    assert all(p.grad is not None for p in method.encoder.parameters())
    with pytest.raises(ConfigError, match="views"):
        _digits(views=1)


def test_nearest_neighbours_pick_the_most_cosine_similar_support_row():
    support = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.1], [0.6, 0.6]])
    z = torch.tensor([[5.0, 0.1], [0.05, 1.0], [-1.0, -0.1], [1.0, 1.1]], requires_grad=True)
    nn = nearest_neighbours(z, support)
    assert torch.equal(nn, support[[0, 1, 2, 3]])  # by angle, not by length
    assert not nn.requires_grad
    g = torch.Generator().manual_seed(0)
    z, support = torch.randn(7, 5, generator=g), torch.randn(30, 5, generator=g)
    sims = torch.nn.functional.cosine_similarity(z[:, None], support[None], dim=2)
    assert torch.equal(nearest_neighbours(z, support), support[sims.argmax(1)])


def test_neighbour_targets_replace_z_once_the_queue_holds_a_batch():
    """nn_queue: the first batch trains on the plain targets and enters the queue (FIFO, one
    view's z); later batches predict their z's nearest neighbours in the queue; evaluation
    reports the plain loss and leaves the queue alone."""
    method, train, _ = _digits(nn_queue=24)
    batch = method.prepare(train.x[:16], train.y[:16])
    method.train()
    first, _, ((z1, p1), (z2, p2)) = _loss_and_views(method, batch, 1)
    plain = simsiam_loss(p1, p2, z1, z2)
    assert first.loss.item() == pytest.approx(plain.item(), abs=1e-6)
    assert first.metrics["nn_cos"] == 1.0
    assert int(method.queue_pushed) == 16
    assert torch.allclose(method.queue[:16], z1.detach(), atol=1e-6)
    assert torch.equal(method.queue[16:], torch.zeros(8, 8))

    queue = method.queue[:16].clone()
    out, _, ((z1, p1), (z2, p2)) = _loss_and_views(method, batch, 2)
    n1, n2 = nearest_neighbours(z1, queue), nearest_neighbours(z2, queue)
    assert out.loss.item() == pytest.approx(simsiam_loss(p1, p2, n1, n2).item(), abs=1e-6)
    cos = torch.nn.functional.cosine_similarity(z1, n1, dim=1).mean().item()
    assert out.metrics["nn_cos"] == pytest.approx(cos, abs=1e-6)
    # the FIFO wrapped: slots 16..23 then 0..7 hold the second batch's z
    assert int(method.queue_pushed) == 32
    assert torch.allclose(method.queue[16:], z1[:8].detach(), atol=1e-6)
    assert torch.allclose(method.queue[:8], z1[8:].detach(), atol=1e-6)
    assert torch.equal(method.queue[8:16], queue[8:16])
    out.loss.backward()  # the gradient reaches the encoder through the predictions
    assert all(p.grad is not None for p in method.encoder.parameters())

    method.eval()
    before = method.queue.clone()
    out, _, ((z1, p1), (z2, p2)) = _loss_and_views(method, batch, 3)
    assert out.loss.item() == pytest.approx(simsiam_loss(p1, p2, z1, z2).item(), abs=1e-6)
    assert "nn_cos" not in out.metrics
    assert torch.equal(method.queue, before) and int(method.queue_pushed) == 32
    fresh, _, _ = _digits(nn_queue=24)  # the queue travels with the checkpoint (resume)
    fresh.load_state_dict(method.state_dict())
    assert torch.equal(fresh.queue, method.queue) and int(fresh.queue_pushed) == 32
    with pytest.raises(ConfigError, match="nn_queue"):
        _digits(nn_queue=8, stop_gradient=False)


def test_image_mixtures_blend_each_image_with_its_mirror_in_the_batch():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 3, 3, generator=g)
    lam = torch.tensor([1.0, 0.0, 0.5, 0.25])
    out = image_mixtures(x, lam)
    assert torch.equal(out[0], x[0]) and torch.equal(out[1], x[2])
    assert torch.allclose(out[2], (x[2] + x[1]) / 2)
    assert torch.allclose(out[3], 0.25 * x[3] + 0.75 * x[0])


def test_mixture_loss_weighs_both_sources_and_stops_their_gradient():
    """Un-Mix's term: -mean_b [lam_b cos(p_b, z_b) + (1 - lam_b) cos(p_b, z_{B-1-b})]; -1
    when each prediction points along its own source (lam 1) or its mirror's (lam 0)."""
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, 5, generator=g, requires_grad=True)
    p = torch.randn(6, 5, generator=g, requires_grad=True)
    lam = torch.rand(6, generator=g)
    cos = torch.nn.functional.cosine_similarity
    expected = -(lam * cos(p, z, dim=1) + (1 - lam) * cos(p, z.flip(0), dim=1)).mean()
    loss = mixture_loss(p, z, lam)
    assert loss.item() == pytest.approx(expected.item(), abs=1e-6)
    assert mixture_loss(2 * z, z, torch.ones(6)).item() == pytest.approx(-1.0, abs=1e-6)
    assert mixture_loss(z.flip(0), z, torch.zeros(6)).item() == pytest.approx(-1.0, abs=1e-6)
    loss.backward()
    assert z.grad is None and p.grad is not None
    mixture_loss(p, z, lam, stop_gradient=False).backward()
    assert z.grad is not None


def test_mix_adds_the_mixture_term_in_training_only():
    method, train, _ = _digits(mix=0.5)
    batch = method.prepare(train.x[:16], train.y[:16])
    method.train()
    out, (x1, _), ((z1, p1), (z2, p2)) = _loss_and_views(method, batch, 1)
    lam = torch.rand(16)
    _, p_mix = method(image_mixtures(x1, lam))
    term = mixture_loss(p_mix, z2, lam)
    expected = simsiam_loss(p1, p2, z1, z2) + 0.5 * term
    assert out.loss.item() == pytest.approx(expected.item(), abs=1e-5)
    assert out.metrics["mix_cos"] == pytest.approx(-term.item(), abs=1e-5)
    out.loss.backward()
    assert all(p.grad is not None for p in method.encoder.parameters())
    method.eval()
    assert "mix_cos" not in method.loss(batch).metrics


@pytest.mark.numerics
def test_with_an_identity_predictor_the_stop_gradient_halves_every_gradient():
    # L = -(cos(z1, sg z2) + cos(z2, sg z1)) / 2 back-propagates half of -cos(z1, z2) into
    # each z; without it both terms do. Same views (same seed): the gradients differ by 2x.
    grads = {}
    for stop in (True, False):
        method, train, _ = _digits(predictor="identity", stop_gradient=stop)
        method.train()
        torch.manual_seed(1)
        method.loss(method.prepare(train.x[:16], train.y[:16])).loss.backward()
        grads[stop] = [p.grad.clone() for p in method.parameters()]
    for half, full in zip(grads[True], grads[False], strict=True):
        assert torch.allclose(2 * half, full, atol=1e-6, rtol=1e-4)
    assert any(g.abs().sum() > 0 for g in grads[True])


def test_collapse_std_is_zero_when_collapsed_and_one_over_sqrt_d_when_isotropic():
    d = 64
    assert collapse_std(torch.randn(1, d).expand(512, d) * 3).item() == pytest.approx(0, abs=1e-6)
    z = torch.randn(20000, d, generator=torch.Generator().manual_seed(0)) * 5 + 0.0
    assert collapse_std(z).item() == pytest.approx(1 / math.sqrt(d), rel=0.02)


def test_effective_rank_matches_the_entropy_of_the_singular_values():
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=torch.Generator().manual_seed(1)))
    # centred rows spanning two orthogonal directions with singular values 3 and 1
    basis = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    z = (basis * torch.tensor([3.0, 1.0]) / math.sqrt(2)) @ q[:2] + 7.0  # offset: centring
    p = torch.tensor([0.75, 0.25])
    assert effective_rank(z).item() == pytest.approx(math.exp(-(p * p.log()).sum().item()),
                                                     rel=1e-5)
    # one direction only: rank 1; d equal orthogonal directions: rank d
    line = torch.linspace(-1, 1, 50).view(-1, 1) * torch.randn(1, 8)
    assert effective_rank(line).item() == pytest.approx(1.0, rel=1e-4)
    cross = torch.cat([torch.eye(8), -torch.eye(8)]) * 2.5
    assert effective_rank(cross).item() == pytest.approx(8.0, rel=1e-5)


def test_loss_logs_the_collapse_diagnostics():
    method, train, _ = _digits()
    out = method.loss(method.prepare(train.x[:16], train.y[:16]))
    m = out.metrics
    assert set(m) == {"cos", "z_std", "z_std_sqrt_d", "z_rank"}
    assert 1 <= m["z_rank"] <= 8
    assert m["cos"] == pytest.approx(-out.loss.item())
    assert m["z_std_sqrt_d"] == pytest.approx(m["z_std"] * math.sqrt(8))
    assert 0 < m["z_std"] <= 1


# ----------------------------------------------------------------------------- kNN monitor
def test_knn_monitor_appears_after_attach_and_finds_each_item_itself():
    method, train, val = _digits()
    method.eval()
    assert "knn_acc" not in method.evaluate(_batches(method, val))
    method.attach(train)
    numbers = method.evaluate(_batches(method, val))
    assert 0 <= numbers["knn_acc"] <= 1 and {"loss", "cos", "z_std"} <= set(numbers)
    # with the validation set as its own bank and k = 1, every image is its own neighbour:
    # the bank is encoded without augmentation, in the range the batches are in
    method.cfg.knn_k = 1
    method.attach(val)
    assert method.evaluate(_batches(method, val))["knn_acc"] == 1.0
    method.cfg.knn_bank = 0
    assert "knn_acc" not in method.evaluate(_batches(method, val))


def test_features_are_the_encoder_output_in_eval_mode_without_grad():
    method, train, _ = _digits()
    method.train()
    x = method.prepare(train.x[:5]).x
    h = method.features(x)
    assert h.shape == (5, 8) and not h.requires_grad and method.training
    method.eval()
    assert torch.equal(h, method.encoder(x))
    assert torch.equal(method.encode(train, limit=5), h)


def test_pooled_encoder_output_is_the_backbone_without_its_head():
    """encoder_output: pooled hands the projector the backbone's pooled activations (the
    paper's ResNet without fc): width * 2**(stages - 1) * pool**2 of them, feature_dim unused."""
    method, train, _ = _digits(encoder_output="pooled",
                               encoder={"name": "cnn", "width": 4, "stages": 2, "pool": 2,
                                        "norm": "batch"})
    method.eval()
    x = method.prepare(train.x[:5]).x
    h = method.features(x)
    assert method.feature_dim == 8 * 4 and h.shape == (5, 32)
    assert torch.equal(h, method.encoder.features(x))
    assert not any("head" in name for name, _ in method.encoder.named_parameters())
    assert method.projector[0].in_features == 32
    z, p = method(x)
    assert z.shape == p.shape == (5, 8)
    with pytest.raises(ConfigError, match="encoder_output: pooled needs a backbone"):
        _digits(encoder_output="pooled", feature_dim=64,
                encoder={"name": "deconv", "size": 8, "stages": 1})


# ----------------------------------------------------------------------------- config, nets
@pytest.mark.parametrize("fixed", [True, False])
def test_the_schedule_leaves_the_predictor_lr_alone_when_fixed(fixed):
    from genzoo.config import TrainConfig
    from genzoo.training.optim import Optimizers

    method, _, _ = _digits(fixed_predictor_lr=fixed)
    opt = Optimizers(method.param_groups(), TrainConfig(steps=1, lr=0.05, optimizer="sgd"),
                     torch.amp.GradScaler("cpu", enabled=False))
    opt.set_lr_factor(0.25)
    body, head = opt.optimizers["main"].param_groups
    assert {id(p) for p in head["params"]} == {id(p) for p in method.predictor.parameters()}
    assert len(body["params"]) + len(head["params"]) == len(list(method.parameters()))
    assert body["lr"] == pytest.approx(0.0125)
    assert head["lr"] == pytest.approx(0.05 if fixed else 0.0125)


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="crop_scale"):
        _digits(crop_scale=[0.6, 0.2])
    with pytest.raises(ConfigError, match="blur_sigma"):
        _digits(blur=0.5, blur_sigma=[0.0, 1.0])
    vectors = DatasetInfo("toy", (2,), None, None, "vector")
    with pytest.raises(ConfigError, match="needs grey or RGB images"):
        SimSiam(SimSiamConfig(encoder=SmallCNNConfig(width=4)), vectors)


def test_resnet18_shapes_and_size():
    net = ResNet18Config(width=4).build((3, 32, 32), 16)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 16)
    assert net.features(torch.randn(2, 3, 32, 32)).shape == (2, 32)
    assert ResNet18Config(width=4).build((1, 28, 28), 10)(torch.randn(2, 1, 28, 28)).shape \
        == (2, 10)
    standard = ResNet18Config(width=64).build((3, 32, 32), 10)
    assert sum(p.numel() for p in standard.parameters()) == 11_173_962
    with pytest.raises(ConfigError, match="image inputs"):
        ResNet18Config().build((5,), 10)


@pytest.mark.numerics
def test_resnet18_pool_grid_averages_the_last_maps():
    """pool = g: the features are the last stage's 4x4 maps averaged over a g x g grid (here
    g = 4, the maps themselves; g = 2, 2x2 blocks); pool 1 is their global mean."""
    torch.manual_seed(0)
    x = torch.randn(3, 1, 28, 28)
    nets = {g: ResNet18Config(width=4, pool=g).build((1, 28, 28), 5).eval() for g in (1, 2, 4)}
    for g in (2, 4):
        nets[g].load_state_dict({k: v for k, v in nets[1].state_dict().items()
                                 if not k.startswith("head")}, strict=False)
    maps = nets[1].blocks(nets[1].stem(x))  # (3, 32, 4, 4)
    assert torch.equal(nets[1].features(x), maps.mean(dim=(2, 3)))
    assert torch.allclose(nets[4].features(x), maps.flatten(1), atol=1e-6)
    blocks = maps.reshape(3, 32, 2, 2, 2, 2).mean(dim=(3, 5)).flatten(1)
    assert torch.allclose(nets[2].features(x), blocks, atol=1e-6)
    assert nets[2](x).shape == (3, 5) and nets[2].head.in_features == 32 * 4


@pytest.mark.parametrize("preset", ["simsiam-fashion", "simsiam-mnist", "simsiam-cifar10"])
def test_presets_resolve(preset):
    cfg = resolve_config(preset)
    assert cfg.method == "simsiam" and cfg.data.val_split == "test"
    assert cfg.train.best_metric == "knn_acc" and cfg.train.best_mode == "max"


# ----------------------------------------------------------------------------- end to end
def test_train_then_eval_reports_knn_accuracy(tmp_path):
    runs = tmp_path / "runs"
    assert main(["--quiet", "train", "simsiam-mnist", *TINY, "--runs-dir", str(runs)]) == 0
    run = runs / "simsiam-mnist"
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all("z_std" in r for r in lines if r.get("split") == "train")
    val = [r for r in lines if r.get("split") == "val"]
    assert len(val) == 2 and all(0 <= r["knn_acc"] <= 1 for r in val)
    assert (run / "checkpoints" / "best.pt").is_file()
    assert main(["--quiet", "eval", str(run), "--checkpoint", "best"]) == 0
    numbers = json.loads((run / "eval.json").read_text())
    assert 0 <= numbers["test/knn_acc"] <= 1 and "test/loss" in numbers
