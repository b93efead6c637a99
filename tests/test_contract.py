"""The method contract, checked for every registered method.

Adding a family = one file in models/, one registry entry, one preset, and one entry in CASES
below: the test fails for a registered method that has no case.
"""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from torch import nn

from genzoo.config import build_run_config
from genzoo.errors import UserError
from genzoo.models.base import CAPABILITIES, Method
from genzoo.models.classifier import Classifier
from genzoo.registry import methods
from genzoo.runs import build_method, load, load_data, train
from genzoo.samplers.chain import LangevinChain
from genzoo.training.checkpoint import load_checkpoint, seed_everything
from genzoo.training.optim import Optimizers

TINY_TRAIN = {"steps": 4, "batch_size": 8, "log_every": 1, "ckpt_every": 2, "num_samples": 4}

TOY = {"name": "pinwheel", "options": {"n": 64}, "limit": 32, "val_split": "test",
       "val_limit": 16}

# method -> raw config (preset-shaped) small enough to run in a second
CASES: dict[str, dict] = {
    "classifier": {"model": {"net": {"name": "cnn", "width": 4, "stages": 1}},
                   "data": {"name": "digits", "limit": 32, "val_limit": 16}},
    "test-buffered": {"model": {"capacity": 16},
                      "data": {"name": "digits", "limit": 32, "val_limit": 16}},
    "test-nan": {"model": {"net": {"name": "mlp", "width": 8, "depth": 1}},
                 "data": {"name": "digits", "limit": 32, "val_limit": 16}},
    "ebm": {"model": {"net": {"name": "mlp", "width": 8, "depth": 1}, "buffer_size": 16,
                      "sampler": {"steps": 2, "sample_steps": 2}},
            "data": TOY},
    "jem": {"model": {"net": {"name": "cnn", "width": 4, "stages": 1}, "buffer_size": 16,
                      "pxy_weight": 1.0, "sampler": {"steps": 2, "sample_steps": 2}},
            "data": {"name": "digits", "limit": 32, "val_limit": 16}},
    "sm": {"model": {"net": {"name": "mlp", "width": 8, "depth": 1, "act": "softplus"},
                     "sample_steps": 2}, "data": TOY},
    "dsm": {"model": {"net": {"name": "mlp", "width": 8, "depth": 1}, "levels": 3,
                      "steps_per_level": 2}, "data": TOY},
    "vae": {"model": {"encoder": {"name": "mlp", "width": 8, "depth": 1},
                      "decoder_net": {"name": "mlp", "width": 8, "depth": 1}}, "data": TOY},
    "gan": {"model": {"generator": {"name": "mlp", "width": 8, "depth": 1},
                      "critic": {"name": "mlp", "width": 8, "depth": 1}}, "data": TOY},
    "ddpm": {"model": {"net": {"name": "cond-mlp", "width": 8, "depth": 1, "emb_dim": 4},
                       "timesteps": 10}, "data": TOY},
    "cnf": {"model": {"net": {"name": "cond-mlp", "width": 8, "depth": 1, "act": "tanh",
                              "emb_dim": 4}}, "data": TOY},
    "realnvp": {"model": {"num_scales": 2, "width": 4, "blocks": 1},
                "data": {"name": "digits", "limit": 32, "val_limit": 16}},
    "simsiam": {"model": {"encoder": {"name": "cnn", "width": 4, "stages": 1, "norm": "batch"},
                          "feature_dim": 8, "proj_dim": 8, "pred_hidden": 4, "knn_k": 5},
                "data": {"name": "digits", "limit": 32, "val_limit": 16}},
    "vqvae": {"model": {"width": 4, "latent_dim": 3, "codebook_size": 8, "res_blocks": 1},
              "data": {"name": "digits", "limit": 32, "val_limit": 16}},
}


def raw_config(name: str, **train) -> dict:
    case = CASES[name]
    return {"method": name, "name": name, **case, "train": {**TINY_TRAIN, **train}}


def test_every_registered_method_has_a_case():
    assert set(methods.names()) == set(CASES)


@pytest.fixture(params=sorted(CASES))
def built(request):
    cfg = build_run_config(raw_config(request.param))
    data = load_data(cfg, cfg.data.train_split)
    seed_everything(0)
    method = build_method(cfg, data.info)
    batch = method.prepare(data.x[:8], None if data.y is None else data.y[:8])
    return cfg, method, batch


def _optimizers(cfg, method) -> Optimizers:
    """The optimizers the training loop would build for ``method`` (no gradient scaler)."""
    return Optimizers(method.param_groups(), cfg.train, torch.amp.GradScaler("cpu",
                                                                             enabled=False))


def test_loss_is_finite_and_gradients_reach_every_parameter(built):
    cfg, method, batch = built
    out = method.loss(batch)
    assert out.loss.dim() == 0 and math.isfinite(out.loss.item())
    assert all(math.isfinite(v) for v in out.metrics.values())
    method.train()
    opt = _optimizers(cfg, method)
    metrics = method.train_step(batch, opt)
    assert "loss" in metrics
    for name, p in method.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"no gradient reaches {name}"
            assert torch.isfinite(p.grad).all(), name


def test_train_step_under_bf16_autocast(built):
    """``train.amp`` (bf16) autocasts the whole training step, on CPU too: every method's step
    must run under it, keep float32 weights and give finite float32 gradients."""
    cfg, method, batch = built
    method.train()
    opt = _optimizers(cfg, method)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        metrics = method.train_step(batch, opt)
    assert math.isfinite(metrics["loss"]) and all(math.isfinite(v) for v in metrics.values())
    for name, p in method.named_parameters():
        assert p.dtype == torch.float32, name
        if p.requires_grad and p.grad is not None:
            assert p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all(), name


def _overrides(cls: type, name: str, base: type = Method) -> bool:
    """Whether ``cls`` defines ``name`` itself rather than inheriting ``base``'s."""
    return getattr(cls, name, None) is not getattr(base, name, None)


#: how the contract test recognizes that a family implements each capability
IMPLEMENTS = {
    "sample": lambda cls: cls.SampleOptions is not None and _overrides(cls, "draw"),
    "log_prob": lambda cls: hasattr(cls, "log_prob")
    and "k" not in inspect.signature(cls.log_prob).parameters,
    "importance_log_prob": lambda cls: hasattr(cls, "log_prob")
    and "k" in inspect.signature(cls.log_prob).parameters,
    "energy": lambda cls: callable(getattr(cls, "energy", None)),
    "logits": lambda cls: _overrides(cls, "forward", nn.Module)
    and issubclass(cls, Classifier),
    "features": lambda cls: callable(getattr(cls, "features", None)),
    "codes": lambda cls: callable(getattr(cls, "decode_codes", None)),
    "generator": lambda cls: callable(getattr(cls, "latents", None))
    and callable(getattr(cls, "generate", None)),
    "langevin": lambda cls: False,  # an instance attribute: checked on the built method
    "figures": lambda cls: _overrides(cls, "figures"),
    "attach": lambda cls: _overrides(cls, "attach"),
}


def test_the_capability_table_is_the_one_in_base():
    assert set(IMPLEMENTS) == set(CAPABILITIES)


def test_declared_capabilities_match_what_the_family_implements(built):
    _, method, _ = built
    cls = type(method)
    assert cls.capabilities <= set(CAPABILITIES), cls.capabilities - set(CAPABILITIES)
    implemented = {c for c, check in IMPLEMENTS.items() if check(cls)}
    if isinstance(getattr(method, "chain", None), LangevinChain):
        implemented.add("langevin")
    assert set(cls.capabilities) == implemented


def test_sample_shape(built):
    _, method, _ = built
    if "sample" not in method.capabilities:
        with pytest.raises(UserError, match="does not generate samples"):
            method.sample(5)
        return
    x = method.sample(5)
    assert x.shape == (5, *method.info.shape) and torch.isfinite(x).all()
    if method.info.value_range is not None:  # images live in the method's range
        low, high = method.data_range
        assert x.min() >= low - 1e-4 and x.max() <= high + 1e-4


def test_sample_options_and_labels_follow_one_contract(built):
    """Every sampling family validates its options through the config system (an unknown key
    names the valid ones) and labels by one rule: an unconditional method refuses them, a
    conditional one takes n classes in range."""
    _, method, _ = built
    if "sample" not in method.capabilities:
        return
    with pytest.raises(UserError, match=r"unknown key 'sampler\.foo'; valid keys"):
        method.sample(2, foo=1)
    with pytest.raises(UserError, match="n: expected a positive number"):
        method.sample(0)
    if not method.conditional:
        with pytest.raises(UserError, match="unconditional: it takes no labels"):
            method.sample(2, y=torch.zeros(2, dtype=torch.long))
        return
    k = method.num_classes
    with pytest.raises(UserError, match=f"need 2 labels in 0..{k - 1}"):
        method.sample(2, y=torch.tensor([0, k]))
    assert method.sample(2, y=torch.tensor([0, k - 1])).shape == (2, *method.info.shape)


@pytest.mark.parametrize("name", sorted(CASES))
def test_save_load_round_trip_and_resume(name, tmp_path):
    straight = train(build_run_config(raw_config(name)), runs_dir=tmp_path / "a", quiet=True)
    loaded = load(straight, ema=False)
    ck = load_checkpoint(straight / "checkpoints" / "last.pt", name)
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, ck["model"][key]), key

    half = build_run_config(raw_config(name, steps=2))
    run = train(half, runs_dir=tmp_path / "b", quiet=True)
    resumed = train(build_run_config(raw_config(name)), runs_dir=tmp_path / "b", name=run.name,
                    resume=True, quiet=True)
    other = load_checkpoint(resumed / "checkpoints" / "last.pt", name)
    assert other["loop"]["step"] == ck["loop"]["step"] == 4
    for key in ck["model"]:
        assert torch.equal(ck["model"][key], other["model"][key]), key
