"""Config validation: types, bounds, unknown keys, presets and overrides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from genzoo.config import (
    DataConfig,
    TrainConfig,
    build_run_config,
    from_dict,
    load_preset,
    param,
    parse_overrides,
    preset_names,
    resolve_config,
)
from genzoo.errors import ConfigError
from genzoo.nets.conv import SmallCNNConfig
from genzoo.nets.mlp import MLPConfig


@dataclass
class Toy:
    a: int = param(1, ge=0)
    b: float | None = param(None, gt=0)
    c: Literal["x", "y"] = "x"
    d: tuple[float, float] = (0.0, 1.0)
    e: bool = False


def test_types_are_coerced():
    t = from_dict(Toy, {"a": "1e2", "b": 3, "c": "y", "d": [1, 2], "e": True})
    assert (t.a, t.b, t.c, t.d, t.e) == (100, 3.0, "y", (1.0, 2.0), True)
    assert from_dict(Toy, {"b": "null"}).b is None


@pytest.mark.parametrize("data, words", [
    ({"zz": 1}, ["unknown key 'zz'", "valid keys: a, b, c, d, e"]),
    ({"a": -1}, ["a: expected a number >= 0", "-1"]),
    ({"a": 1.5}, ["a: expected int"]),
    ({"a": True}, ["a: expected int"]),
    ({"b": 0}, ["b: expected a number > 0"]),
    ({"b": "abc"}, ["b: expected float or null"]),
    ({"c": "z"}, ["c: expected one of 'x', 'y'"]),
    ({"d": [1]}, ["d: expected 2 values"]),
    ({"e": "yes"}, ["e: expected bool"]),
])
def test_bad_values_name_what_was_expected(data, words):
    with pytest.raises(ConfigError) as info:
        from_dict(Toy, data)
    for w in words:
        assert w in str(info.value)


def test_nested_section_paths_in_errors():
    with pytest.raises(ConfigError, match=r"train\.guard\.max_restarts: expected a number >= 0"):
        from_dict(TrainConfig, {"epochs": 1, "guard": {"max_restarts": -2}}, "train")
    with pytest.raises(ConfigError,
                       match=r"unknown key 'train\.lrr'; valid keys in 'train': seed, epochs"):
        from_dict(TrainConfig, {"epochs": 1, "lrr": 1}, "train")


def test_negative_learning_rate_rejected():
    with pytest.raises(ConfigError, match=r"train\.lr: expected a number > 0, got -0\.1"):
        from_dict(TrainConfig, {"epochs": 1, "lr": -0.1}, "train")


def test_epochs_or_steps_required():
    with pytest.raises(ConfigError, match="train.epochs or train.steps"):
        from_dict(TrainConfig, {}, "train")


def test_polymorphic_net_section():
    raw = {"method": "classifier", "model": {"net": {"name": "mlp", "width": 8}},
           "train": {"steps": 1}}
    cfg = build_run_config(raw)
    assert isinstance(cfg.model.net, MLPConfig) and cfg.model.net.width == 8
    raw["model"]["net"] = {"name": "cnn", "width": 8}
    assert isinstance(build_run_config(raw).model.net, SmallCNNConfig)
    raw["model"]["net"] = {"name": "cnn", "depth": 3}
    with pytest.raises(ConfigError, match=r"unknown key 'model\.net\.depth'.*width, stages"):
        build_run_config(raw)
    raw["model"]["net"] = {"name": "nope"}
    with pytest.raises(ConfigError, match="unknown network 'nope'; valid: .*cnn.*mlp"):
        build_run_config(raw)


def test_overrides_nest_and_parse_yaml_values():
    assert parse_overrides(["train.lr=1e-3", "train.guard.enabled=false", "data.name=mnist",
                            "train.betas=[0.5, 0.9]"]) == {
        "train": {"lr": "1e-3", "guard": {"enabled": False}, "betas": [0.5, 0.9]},
        "data": {"name": "mnist"}}
    for bad in ["train.lr", "=3", "train..lr=1"]:
        with pytest.raises(ConfigError, match="key=value"):
            parse_overrides([bad])


def test_resolve_applies_overrides_and_validates():
    cfg = resolve_config("clf-digits", ["train.epochs=2", "model.net.width=8"])
    assert cfg.train.epochs == 2 and cfg.model.net.width == 8 and cfg.name == "clf-digits"
    assert isinstance(cfg.data, DataConfig)
    with pytest.raises(ConfigError, match="unknown preset 'nope'; valid: .*clf-digits"):
        resolve_config("nope")
    with pytest.raises(ConfigError, match="unknown key 'modle'"):
        resolve_config("clf-digits", ["modle.x=1"])


def test_round_trip_through_dict():
    cfg = resolve_config("clf-digits", ["train.milestones=[5, 10]"])
    again = build_run_config(cfg.to_dict())
    assert again == cfg


@pytest.mark.parametrize("name", preset_names())
def test_every_shipped_preset_resolves(name):
    raw = load_preset(name)
    assert "method" in raw
    cfg = resolve_config(name)
    assert cfg.method == raw["method"]
