"""JEM and JEM++: energies, loss signs, frozen weights while sampling, class Gaussians,
proximal SGLD, buffer checkpoints, presets."""

from __future__ import annotations

import pytest
import torch

from genzoo.cli import main
from genzoo.config import build_run_config
from genzoo.errors import ConfigError
from genzoo.io import read_metrics
from genzoo.models.base import Batch
from genzoo.nets.conv import SmallCNN
from genzoo.nets.resnet import WideResNet
from genzoo.runs import build_method, load, load_data, preset_method
from genzoo.samplers.class_gaussian import ClassGaussian
from genzoo.samplers.langevin import energy_score, proximal_sgld, sgld
from genzoo.training.checkpoint import load_checkpoint

DIGITS = ["data.name=digits", "data.val_limit=32", "model.net.width=4", "model.buffer_size=64",
          "model.sampler.steps=2", "model.sampler.sample_steps=2"]
TINY = ["train.steps=4", "train.batch_size=8", "train.eval_every=4", "train.num_samples=10",
        "train.log_every=1"]


def digits_jem(*overrides: str, preset: str = "jem-mnist"):
    return preset_method(preset, [*DIGITS, *overrides], limit=128)


def test_energies_are_minus_logsumexp_and_minus_the_logit():
    jem, data = digits_jem()
    batch = jem.prepare(data.x[:16], data.y[:16])
    logits = jem(batch.x).double()
    by_hand = -torch.log(torch.exp(logits).sum(1))
    assert torch.allclose(jem.energy(batch.x).double(), by_hand, atol=1e-5)
    picked = torch.stack([-logits[i, int(batch.y[i])] for i in range(16)])
    assert torch.allclose(jem.energy(batch.x, batch.y).double(), picked, atol=1e-6)
    # p(y|x) is the classifier: E(x, y) - E(x) = -log softmax(f(x))[y]
    log_softmax = torch.log_softmax(logits, 1).gather(1, batch.y.view(-1, 1)).squeeze(1)
    assert torch.allclose((jem.energy(batch.x, batch.y) - jem.energy(batch.x)).double(),
                          -log_softmax, atol=1e-5)


@pytest.mark.parametrize("term", ["px", "pxy"])
def test_a_step_on_the_contrastive_term_lowers_data_energy_and_raises_sample_energy(term):
    """A linear model (logits W x + b): one gradient step on the loss minus its cross-entropy
    lowers E on the data and raises it on the (fixed) negatives."""
    weights = ["model.px_weight=1", "model.pxy_weight=0"] if term == "px" else \
        ["model.px_weight=0", "model.pxy_weight=1"]
    jem, data = digits_jem("model.noise_sigma=0", "model.augment=none", *weights)
    jem.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    batch = jem.prepare(data.x[:32], data.y[:32])
    x_neg = torch.rand_like(batch.x) * 2 - 1
    jem.chain.negatives = lambda n, y=None, *, training, labelled=False: x_neg  # fixed samples
    y = batch.y if term == "pxy" else None
    jem.train()
    contrastive = jem.loss(batch).loss - torch.nn.functional.cross_entropy(jem(batch.x), batch.y)
    before_pos = jem.energy(batch.x, y).mean().item()
    before_neg = jem.energy(x_neg, y).mean().item()
    params = list(jem.parameters())
    grads = torch.autograd.grad(contrastive, params)
    with torch.no_grad():
        for p, g in zip(params, grads, strict=True):
            p -= 1e-3 * g
    assert jem.energy(batch.x, y).mean().item() < before_pos
    assert jem.energy(x_neg, y).mean().item() > before_neg


def test_fewer_negatives_than_data_give_the_hand_computed_loss():
    """``model.negatives=m``: each p(x) term draws m chains (p(x|y)'s with the first m labels)
    while the cross-entropy and E(x) cover the whole batch."""
    jem, data = digits_jem("model.noise_sigma=0", "model.augment=none", "model.negatives=5",
                           "model.pxy_weight=0.5", "model.energy_l2=0.1")
    batch = jem.prepare(data.x[:12], data.y[:12])
    x_neg = torch.rand(5, *batch.x.shape[1:]) * 2 - 1
    calls = []

    def fixed(n, y=None, *, training, labelled=False):
        assert training and not labelled
        calls.append((n, None if y is None else y.clone()))
        return x_neg

    jem.chain.negatives = fixed
    jem.train()
    loss = jem.loss(batch).loss
    assert calls[0] == (5, None) and calls[1][0] == 5
    assert torch.equal(calls[1][1], batch.y[:5])
    with torch.no_grad():
        logits = jem(batch.x)
        e_pos, e_neg = jem.energy(batch.x), jem.energy(x_neg)
        e_pos_y, e_neg_y = jem.energy(batch.x, batch.y), jem.energy(x_neg, batch.y[:5])
        by_hand = (torch.nn.functional.cross_entropy(logits, batch.y)
                   + (e_pos.mean() - e_neg.mean())
                   + 0.1 * ((e_pos**2).mean() + (e_neg**2).mean())
                   + 0.5 * (e_pos_y.mean() - e_neg_y.mean())
                   + 0.1 * ((e_pos_y**2).mean() + (e_neg_y**2).mean()))
    assert torch.allclose(loss, by_hand, atol=1e-5)


@pytest.mark.parametrize("proximal", [False, True])
def test_sampling_never_updates_or_accumulates_into_parameters(proximal):
    extra = ["model.sampler.inner_steps=2"] if proximal else []
    jem, data = digits_jem(*extra)
    jem.train()
    before = {k: v.clone() for k, v in jem.state_dict().items()}
    jem.chain.negatives(8)
    jem.chain.negatives(8, torch.arange(8) % 10)
    jem.sample(4, sample_init="noise")
    assert jem.training  # the chains ran in eval mode and switched back
    for name, p in jem.named_parameters():
        assert p.grad is None, name
        assert torch.equal(p, before[name]), name


def test_unconditional_chains_are_stored_under_the_predicted_class():
    jem, _ = digits_jem()
    jem.train()
    x = jem.chain.negatives(16)
    stored, labels = jem.buffer.items(torch.arange(16))
    assert torch.allclose(stored, x)
    assert torch.equal(labels, jem(x).argmax(1))
    assert torch.equal(jem.predict(x), jem(x).argmax(1))


def _spec_jem(*overrides: str):
    """A digits JEM of the JEM project's step (jem-mnist-spec: labelled chains, [0, 1] pixels,
    less the stabilizers the CPU twin adds: no energy penalty, no p_new decay), without SGLD
    noise."""
    jem, data = digits_jem("model.sampler.noise_scale=0", "model.energy_l2=0",
                           "model.p_new_decay=0", *overrides, preset="jem-mnist-spec")
    assert jem.cfg.px_chains == "labelled" and jem.data_range == (0.0, 1.0)
    return jem, data


def test_labelled_chains_step_along_the_gradient_of_the_drawn_labels_energy():
    """The JEM project's chains: E(x', y') = -f(x')[y'] with y' the label drawn with each
    start; one noise-free step is x0 - a dE(x0, y0)/dx0 exactly, not the marginal's step."""
    a = 1000.0  # the untrained net's input gradients are ~1e-5: steps of ~0.01
    jem, data = _spec_jem("model.sampler.steps=1", f"model.sampler.step_size={a}")
    jem.train()
    x_store = jem.prepare(data.x[:40]).x
    jem.buffer.push(x_store, torch.arange(40) % 10)
    jem.buffer.p_new = 0.0
    torch.manual_seed(3)
    x0, y0, _ = jem.buffer.sample(16)
    torch.manual_seed(3)
    x1 = jem.chain.negatives(16, labelled=True)

    def step(energy):
        v = x0.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(energy(v).sum(), v)
        return (x0 - a * g).clamp(0, 1)

    jem.eval()
    expected = step(lambda v: jem.energy(v, y0))
    marginal = step(jem.energy)
    assert torch.allclose(x1, expected, atol=1e-5)
    assert (x1 - marginal).abs().max() > 1e-3  # the marginal energy's step is another one


def test_labelled_chains_push_back_the_drawn_labels_and_fresh_labels_are_uniform():
    jem, _ = _spec_jem("model.sampler.steps=0", "model.buffer_size=6000")
    jem.train()
    torch.manual_seed(0)
    _, drawn, _ = jem.buffer.sample(5000)  # all fresh: the buffer is empty
    torch.manual_seed(0)
    x = jem.chain.negatives(5000, labelled=True)
    stored, labels = jem.buffer.items(torch.arange(5000))
    assert torch.equal(labels, drawn) and torch.allclose(stored, x)
    counts = torch.bincount(labels, minlength=10).double()
    # Binomial(5000, 0.1): std 21.2; 6 std leaves a false alarm at about 1e-8 per class
    assert (counts - 500).abs().max() < 6 * (5000 * 0.1 * 0.9) ** 0.5
    assert not torch.equal(labels, jem.predict(x))  # not the classifier's labels


def test_unit_pixel_range_reaches_batches_fresh_starts_and_clamped_chains():
    jem, data = _spec_jem("model.sampler.step_size=1e6", "model.sampler.steps=3")
    assert jem.data_range == (0.0, 1.0)
    batch = jem.prepare(data.x[:8], data.y[:8])
    assert torch.allclose(batch.x, data.x[:8].float() / 16)  # digits are stored in 0..16
    fresh = jem.chain.fresh(500)
    assert fresh.min() >= 0 and fresh.max() <= 1 and fresh.min() < 0.01 and fresh.max() > 0.99
    x = jem.chain.negatives(64, labelled=True)
    assert x.min() >= 0 and x.max() <= 1 and ((x == 0) | (x == 1)).float().mean() > 0.1


def test_the_jem_project_loss_is_ce_plus_marginal_energy_gap():
    """CE(f(x), y) + E(x) - E(x'+) with marginal energies, whatever labels ran the chains."""
    jem, data = _spec_jem("model.noise_sigma=0", "model.augment=none")
    batch = jem.prepare(data.x[:12], data.y[:12])
    x_neg = torch.rand(12, *batch.x.shape[1:])
    jem.chain.negatives = lambda n, y=None, *, training, labelled: (
        x_neg if labelled and y is None and n == 12 else None)
    jem.train()
    loss = jem.loss(batch).loss
    with torch.no_grad():
        by_hand = (torch.nn.functional.cross_entropy(jem(batch.x), batch.y)
                   + jem.energy(batch.x).mean() - jem.energy(x_neg).mean())
    assert torch.allclose(loss, by_hand, atol=1e-5)


def test_training_logs_the_buffers_label_entropy():
    jem, data = digits_jem("model.pxy_weight=1")
    jem.train()
    metrics = jem.loss(jem.prepare(data.x[:8], data.y[:8])).metrics
    assert metrics["buffer_label_entropy"] == jem.buffer.label_entropy()
    assert 0 <= metrics["buffer_label_entropy"] <= 1
    assert {"cd", "e_neg", "cd_y", "e_neg_y"} <= metrics.keys()


def test_class_gaussian_fit_is_the_data_mean_and_covariance_and_draws_reproduce_them():
    torch.manual_seed(0)
    means = torch.tensor([[0.0, 1.0, -1.0], [2.0, 0.0, 0.5]])
    mix = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.1, -0.3, 0.5]])
    y = torch.arange(4000) % 2
    x = means[y] + torch.randn(4000, 3) @ mix.T
    g = ClassGaussian.fit(x.view(4000, 1, 3), y, 2, jitter=1e-3)
    for k in range(2):
        xk = x[y == k].double()
        assert torch.allclose(g.mean[k].double(), xk.mean(0), atol=1e-6)
        cov = torch.cov(xk.T, correction=0) + 1e-3 * torch.eye(3, dtype=torch.float64)
        assert torch.allclose(g.covariance(k).double(), cov, atol=1e-5)
        draws = g.sample(torch.full((20000,), k)).view(20000, 3).double()
        assert draws.shape == (20000, 3)
        assert torch.allclose(draws.mean(0), xk.mean(0), atol=0.03)
        assert torch.allclose(torch.cov(draws.T), cov, atol=0.04)
    boxed = ClassGaussian(g.mean, g.chol, (1, 3), box=(-0.5, 0.5)).init(100, "cpu", (1, 3))
    assert boxed.shape == (100, 1, 3) and boxed.abs().max() <= 0.5
    with pytest.raises(ValueError, match="class 2 has no items"):
        ClassGaussian.fit(x, y, 3)


def test_jempp_fills_its_buffer_from_class_gaussians_fitted_at_setup():
    jem, data = digits_jem(preset="jempp-mnist")
    with pytest.raises(ConfigError, match="class Gaussians"):
        jem.chain.negatives(4)
    jem.setup(data)
    images = jem.prepare(data.x).x.flatten(1)
    assert torch.allclose(jem.gaussian.mean[3], images[data.y == 3].mean(0), atol=1e-5)
    starts = jem.chain.fresh(2000, torch.full((2000,), 3))
    # clamping to [-1, 1] only trims the tails: the mean stays close to the class mean
    assert (starts.flatten(1).mean(0) - jem.gaussian.mean[3]).abs().mean() < 0.05


def test_stem_split_reproduces_the_forward_pass():
    torch.manual_seed(0)
    for channels, net in ((1, SmallCNN(1, 10, width=4, stages=2)),
                          (3, WideResNet(3, 10, depth=10, widen=1))):
        x = torch.randn(2, channels, 8, 8)
        assert torch.allclose(net.from_stem(net.stem(x)), net(x), atol=1e-6)


@pytest.mark.numerics
def test_proximal_sgld_without_inner_steps_is_sgld():
    energy = lambda x: 0.5 * (x**2).sum(1)  # noqa: E731
    x0 = torch.randn(64, 3)
    torch.manual_seed(1)
    a = sgld(energy_score(energy), x0, 5, 0.1, 0.05)
    torch.manual_seed(1)
    b = proximal_sgld(lambda x: x, energy, x0, 5, 0.1, 0.05, inner_steps=0, inner_step=1.0,
                      inner_clip=1.0)
    assert torch.allclose(a, b, atol=1e-6)


def test_proximal_outer_step_clips_the_gradient_entries():
    energy = lambda x: 10.0 * (x**2).sum(1)  # noqa: E731 - gradients far above the clip
    x0 = torch.randn(32, 4) + 3.0
    out = proximal_sgld(lambda x: x, energy, x0, 3, 1.0, 0.0, inner_steps=0, inner_step=1.0,
                        inner_clip=1.0, clip_grad=0.01)
    assert torch.allclose(out, x0 - 3 * 0.01 * torch.sign(x0), atol=1e-6)


def test_proximal_inner_steps_follow_the_clipped_first_layer_hamiltonian():
    """Linear stem z = W x and E = 0.5 |z - t|^2: with a = 0 and no noise, one outer step moves
    x by exactly -K * b * clip(W^T (W x - t), c)."""
    torch.manual_seed(0)
    w, t = torch.randn(4, 3), torch.randn(4)
    stem = lambda x: x @ w.T  # noqa: E731
    head = lambda z: 0.5 * ((z - t) ** 2).sum(1)  # noqa: E731
    x0 = torch.randn(16, 3)
    out = proximal_sgld(stem, head, x0, 1, 0.0, 0.0, inner_steps=3, inner_step=0.05,
                        inner_clip=0.5)
    expected = x0 - 3 * 0.05 * ((x0 @ w.T - t) @ w).clamp(-0.5, 0.5)
    assert torch.allclose(out, expected, atol=1e-6)
    # many outer steps descend the energy; clamping keeps the box
    far = proximal_sgld(stem, head, x0, 50, 0.02, 0.0, inner_steps=2, inner_step=0.02,
                        inner_clip=1.0, clamp=(-2.0, 2.0))
    assert head(stem(far)).mean() < head(stem(x0)).mean() and far.abs().max() <= 2


def raw_jem(model: dict, data: str = "digits"):
    cfg = build_run_config({"method": "jem", "name": "jem", "model": model,
                            "data": {"name": data}, "train": {"steps": 1}})
    return build_method(cfg, load_data(cfg, "train", 8).info)


def test_proximal_sgld_needs_a_backbone_with_a_stem():
    with pytest.raises(ConfigError, match="first-layer split"):
        raw_jem({"net": {"name": "mlp"}, "sampler": {"inner_steps": 2}})


def test_jem_refuses_no_generative_term_and_vector_data():
    with pytest.raises(ConfigError, match="px_weight"):
        digits_jem("model.px_weight=0")
    with pytest.raises(ConfigError, match="known range"):
        raw_jem({"net": {"name": "mlp"}}, "pinwheel")


def test_validation_reports_the_classifier_without_sampling():
    jem, data = digits_jem()
    jem.eval()
    jem.chain.negatives = None  # would fail if called
    out = jem.loss(jem.prepare(data.x[:8], data.y[:8]))
    assert set(out.metrics) == {"ce", "acc", "e_pos"}
    assert out.loss.item() == pytest.approx(out.metrics["ce"])


@pytest.mark.parametrize("preset", ["jem-mnist", "jempp-mnist"])
def test_buffer_and_class_gaussians_are_restored_exactly_on_resume(tmp_path, preset):
    args = [*DIGITS, "model.sampler.inner_steps=0"] if preset == "jem-mnist" else DIGITS
    straight, half = tmp_path / "a", tmp_path / "b"
    assert main(["--quiet", "train", preset, *args, *TINY, "--runs-dir", str(straight)]) == 0
    assert main(["--quiet", "train", preset, *args, *TINY, "train.steps=2",
                 "--runs-dir", str(half)]) == 0
    assert main(["--quiet", "train", preset, *args, *TINY, "--resume",
                 "--runs-dir", str(half)]) == 0
    a = load_checkpoint(straight / preset / "checkpoints" / "last.pt", "jem")
    b = load_checkpoint(half / preset / "checkpoints" / "last.pt", "jem")
    assert a["loop"]["step"] == b["loop"]["step"] == 4
    for key in ("x", "y", "age"):
        assert torch.equal(a["extra"]["buffer"][key], b["extra"]["buffer"][key]), key
    assert a["extra"]["buffer"]["size"] == 32
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    if preset == "jempp-mnist":
        for key in ("mean", "chol"):
            assert torch.equal(a["extra"]["class_gaussian"][key],
                               b["extra"]["class_gaussian"][key])
        method = load(straight / preset)
        assert method.gaussian is not None
        assert method.sample(3, sample_init="noise").shape == (3, 1, 8, 8)


def test_jem_run_evaluates_as_classifier_and_generator(tmp_path):
    runs = tmp_path / "runs"
    assert main(["--quiet", "train", "jem-mnist", *DIGITS, *TINY, "--runs-dir",
                 str(runs)]) == 0
    run = runs / "jem-mnist"
    assert main(["--quiet", "eval", str(run), "--no-judge"]) == 0
    figures = set((run / "figures").iterdir())
    names = {p.name for p in figures}
    assert {"confusion.png", "buffer.png", "energies.png"} <= names
    out = tmp_path / "s.png"
    assert main(["--quiet", "sample", str(run), "--n", "10", "--y", "3", "--out", str(out)]) == 0
    assert out.is_file()


def test_jem_cifar10_preset_runs_on_a_synthetic_file(tmp_path, fake_cifar10_root):
    runs = tmp_path / "runs"
    assert main(["--quiet", "train", "jem-cifar10", f"data.root={fake_cifar10_root}",
                 "model.net.depth=10", "model.net.widen=1", "model.sampler.steps=2",
                 "model.buffer_size=32", "train.steps=3", "train.batch_size=8",
                 "train.num_samples=4", "--runs-dir", str(runs)]) == 0
    method = load(runs / "jem-cifar10")
    assert len(method.buffer) == 24 and method.info.shape == (3, 32, 32)
    assert isinstance(method.net, WideResNet)


def test_batch_labels_are_required():
    jem, data = digits_jem()
    with pytest.raises(Exception):  # noqa: B017 - a classifier needs labels
        jem.loss(Batch(jem.prepare(data.x[:4]).x, None))


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
    """A 2-step classifier run with the network of ``digits_jem()`` (the JEM lab's variant)."""
    from genzoo.labs.jem import variant_config
    from genzoo.runs import train

    cfg = variant_config("jem-mnist", [*DIGITS, "data.limit=64", *TINY], "classifier")
    return train(cfg, runs_dir=tmp_path_factory.mktemp("runs"), quiet=True)


def test_jem_starts_from_a_classifier_runs_weights(classifier_run):
    from genzoo.runs import init_weights

    jem, _ = digits_jem()
    used = init_weights(jem, classifier_run)
    assert used.name in ("best.pt", "last.pt")
    clf = load(classifier_run, checkpoint=used.stem)
    for (name, a), (name_b, b) in zip(jem.net.state_dict().items(), clf.net.state_dict().items(),
                                      strict=True):
        assert name == name_b and torch.equal(a, b), name


def test_init_from_refuses_another_network_or_family(classifier_run, tmp_path, capsys):
    from genzoo.errors import CheckpointError
    from genzoo.runs import init_weights

    wider, _ = digits_jem("model.net.width=8")
    with pytest.raises(CheckpointError, match="differs from this config's"):
        init_weights(wider, classifier_run)
    before = sorted(p.name for p in classifier_run.iterdir())
    code = main(["--quiet", "train", "jem-mnist", *DIGITS, "model.net.width=8", *TINY,
                 f"train.init_from={classifier_run}", "--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "model.net" in err[0]
    assert not any(tmp_path.iterdir())  # no run directory was made
    assert sorted(p.name for p in classifier_run.iterdir()) == before
    vae = genzoo_vae_run(tmp_path)
    jem, _ = digits_jem()
    with pytest.raises(CheckpointError, match="'vae' checkpoint"):
        init_weights(jem, vae)


def genzoo_vae_run(tmp_path):
    from genzoo.runs import train

    return train("vae-toy", ["train.steps=1", "train.epochs=null"], runs_dir=tmp_path / "v",
                 quiet=True)


@pytest.mark.parametrize("preset", ["jem-cifar10-spec", "clf-cifar10-spec"])
def test_the_jem_projects_cifar_presets_run_on_a_synthetic_file(tmp_path, fake_cifar10_root,
                                                                preset):
    runs = tmp_path / "runs"
    jem_keys = ["model.sampler.steps=2", "model.buffer_size=32", "train.num_samples=4"]
    assert main(["--quiet", "train", preset, f"data.root={fake_cifar10_root}",
                 "model.net.depth=10", "model.net.widen=1", "train.epochs=1",
                 "train.batch_size=8", *(jem_keys if preset.startswith("jem") else []),
                 "--runs-dir", str(runs)]) == 0
    method = load(runs / preset)
    assert method.data_range == (0.0, 1.0)
    net = method.net
    assert isinstance(net, WideResNet) and isinstance(net.act, torch.nn.Identity)
    assert net.blocks[0].act.negative_slope == 0.3
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():  # no activation between the last block's sum and the pooling
        assert torch.allclose(net(x), net.head(net.blocks(net.stem(x)).mean((2, 3))), atol=1e-6)
    train_lines = [r for r in read_metrics(runs / preset) if r.get("split") == "train"]
    assert [r["epoch"] for r in train_lines] == [1.0]  # log_every: epoch


def test_info_prints_the_resolved_config_and_the_parameter_count(capsys):
    assert main(["info", "clf-cifar10-spec"]) == 0
    out = capsys.readouterr().out
    assert "pixel_range:" in out and "final_act: false" in out
    assert out.strip().splitlines()[-1].startswith("# parameters: 2,747,082")
    assert main(["info", "jem-mnist-spec", "model.net.width=4"]) == 0
    assert "# parameters:" in capsys.readouterr().out
    assert main(["info", "jem-mnist-spec", "model.nope=1"]) == 2
