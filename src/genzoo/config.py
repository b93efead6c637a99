"""Configuration: dataclasses, YAML presets, dotted ``key=value`` overrides, validation.

A run's configuration is a :class:`RunConfig`: the method's own config dataclass (``model``), a
:class:`DataConfig` and a :class:`TrainConfig`. Presets are YAML files shipped in
``genzoo/presets/`` (or any path to a YAML file) of the form::

    method: classifier
    model: {net: {name: cnn, width: 32}, noise_sigma: 0.03}
    data: {name: mnist}
    train: {epochs: 5, lr: 1.0e-3}

Values are checked against the dataclass type hints and the bounds given with :func:`param`
(``ge``, ``gt``, ``le``, ``lt``); an unknown key lists the valid ones. A field whose type is a
dataclass with a ``registry`` class attribute (e.g. network configs) is polymorphic: its ``name``
picks the registered subclass that validates the rest of the section.

Example:
    >>> cfg = resolve_config("clf-digits", ["train.epochs=2", "model.noise_sigma=0.0"])
    >>> cfg.train.epochs
    2
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from genzoo.errors import ConfigError


def param(default: Any = dataclasses.MISSING, help: str = "", *, ge: float | None = None,
          gt: float | None = None, le: float | None = None, lt: float | None = None,
          default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with a help text and numeric bounds checked by :func:`from_dict`."""
    meta = {"help": help, "ge": ge, "gt": gt, "le": le, "lt": lt}
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


# ----------------------------------------------------------------------------- shared sections
@dataclass
class DataConfig:
    """Which dataset a run trains on and how it is read."""

    name: str = param("digits", "registered dataset name (genzoo list datasets)")
    train_split: str | None = param(None, "split used for training; null: the first split")
    val_split: str | None = param(None, "split used for validation; null for none")
    root: str | None = param(None, "data folder; default $GENZOO_DATA or ~/.cache/genzoo/data")
    verify: bool = param(True, "check every file against its published checksum")
    download: bool = param(True, "download missing files from their origin")
    options: dict = param(default_factory=dict, help="loader options, e.g. {n: 2000, seed: 1}")
    limit: int | None = param(None, "use only the first N training items", ge=1)
    val_limit: int | None = param(None, "use only the first N validation items", ge=1)


@dataclass
class GuardConfig:
    """Divergence guard: roll back to the last good checkpoint on a non-finite/exploding loss
    (or when the method says its own state diverged, e.g. the EBMs' ``model.max_gap``)."""

    enabled: bool = param(True, "watch the loss for divergence")
    max_restarts: int = param(3, "give up after this many roll-backs", ge=0)
    lr_factor: float = param(1.0, "multiply the learning rate by this at each restart",
                             gt=0, le=1)
    max_abs_loss: float = param(1e6, "a loss larger than this in magnitude counts as diverged",
                                gt=0)


@dataclass
class TrainConfig:
    """The training loop's settings (shared by every method)."""

    seed: int = param(0, "seed of every random number generator")
    epochs: int | None = param(None, "number of passes over the training set", ge=1)
    steps: int | None = param(None, "number of optimizer steps (overrides epochs)", ge=1)
    batch_size: int = param(64, "examples per step (per process under torchrun)", ge=1)
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = param("adam", "optimizer")
    lr: float = param(1e-3, "learning rate", gt=0)
    betas: tuple[float, float] = param((0.9, 0.999), "Adam betas")
    momentum: float = param(0.9, "SGD momentum", ge=0, lt=1)
    weight_decay: float = param(0.0, "weight decay", ge=0)
    warmup_steps: int = param(0, "linear learning-rate warm-up from 0 over this many steps", ge=0)
    schedule: Literal["constant", "cosine", "linear", "step"] = param(
        "constant", "learning-rate schedule after warm-up")
    min_lr_ratio: float = param(0.0, "final lr / lr for cosine and linear schedules", ge=0, le=1)
    milestones: tuple[int, ...] = param((), "steps where the 'step' schedule multiplies by gamma")
    gamma: float = param(0.1, "factor of the 'step' schedule", gt=0)
    grad_clip: float | None = param(None, "clip the gradient norm to this", gt=0)
    ema_decay: float | None = param(None, "keep an exponential moving average of the weights",
                                    gt=0, lt=1)
    device: str = param("auto", "auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps")
    amp: bool | Literal["auto"] = param(
        False, "autocast the training step to amp_dtype. auto: where the device has it natively "
        "(bf16: CUDA, CPUs with AVX512-BF16 or AMX; fp16: CUDA), decided and logged at start; "
        "true: always (bf16 on a CPU without it is ~2.5x slower); false: never")
    amp_dtype: Literal["bf16", "fp16"] = param("bf16", "with amp (fp16: CUDA, scaled)")
    num_threads: int | None = param(None, "torch CPU threads", ge=1)
    channels_last: bool = param(False, "keep the method's 4-d weights (convolutions) in "
                                "channels-last memory format, so image batches flow through "
                                "the convolutions channels-last (faster on CPU with oneDNN)")
    log_every: int | Literal["epoch"] = param(50, "steps between training log lines (means "
                                              "over the steps), or epoch", ge=1)
    eval_every: int | None = param(None, "steps between validations (default: 1 epoch)", ge=1)
    ckpt_every: int | None = param(None, "steps between checkpoints (default: 1 epoch)", ge=1)
    ckpt_minutes: float = param(10.0, "also checkpoint when this many minutes have passed", gt=0)
    samples_every: int | None = param(None, "steps between sample grids (default: at the end)",
                                      ge=1)
    num_samples: int = param(64, "samples drawn for each grid", ge=1)
    best_metric: str = param("loss", "validation metric that selects best.pt")
    best_mode: Literal["min", "max"] = param("min", "whether smaller or larger is better")
    init_from: str | None = param(None, "initial weights: a checkpoint or run (its best.pt, "
                                  "else last.pt) of this method or one it starts from (jem: "
                                  "a classifier)")
    guard: GuardConfig = param(default_factory=GuardConfig, help="divergence guard")

    def validate(self) -> None:
        if self.epochs is None and self.steps is None:
            raise ConfigError("train: set train.epochs or train.steps")


@dataclass
class RunConfig:
    """A resolved run: the method name, its config, and the shared sections."""

    method: str
    name: str
    model: Any
    data: DataConfig
    train: TrainConfig

    def to_dict(self) -> dict:
        return to_dict(self)


# ----------------------------------------------------------------------------- conversion
def to_dict(obj: Any) -> Any:
    """A dataclass (nested) as plain YAML-safe Python values (tuples become lists)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if origin in (tuple, list):
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """``value`` converted to type ``tp``, or ConfigError naming ``key`` and the expected type."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    bad = ConfigError(f"{key}: expected {_describe(tp)}, got {value!r}")
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
            raise bad
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                continue
        raise bad
    if origin is Literal:
        if value in args:
            return value
        raise bad
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if tp is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, (float, str)):  # accept 1e4 / "1e4" when integral
            try:
                number = float(value)
            except ValueError:
                raise bad from None
            if math.isfinite(number) and number == int(number):
                return int(number)
        raise bad
    if tp is float:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise bad from None
        raise bad
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise bad
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ConfigError(f"{key}: expected {len(args)} values, got {list(value)!r}")
            pairs = enumerate(zip(value, args, strict=True))
            items = [_coerce(v, a, f"{key}[{i}]") for i, (v, a) in pairs]
        else:
            items = [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is dict or origin is dict:
        if isinstance(value, dict):
            return dict(value)
        raise bad
    if dataclasses.is_dataclass(tp):
        if dataclasses.is_dataclass(value) and isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a section (mapping), got {value!r}")
        return from_dict(tp, value, key)
    raise ConfigError(f"{key}: unsupported config type {tp!r}")  # a programming error


def _check_bounds(value: Any, f: dataclasses.Field, key: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    meta = f.metadata
    if not math.isfinite(value) and any(meta.get(b) is not None for b in ("ge", "gt", "le", "lt")):
        raise ConfigError(f"{key}: expected a finite number, got {value!r}")
    for bound, ok, words in (("ge", lambda v, b: v >= b, ">="), ("gt", lambda v, b: v > b, ">"),
                             ("le", lambda v, b: v <= b, "<="), ("lt", lambda v, b: v < b, "<")):
        limit = meta.get(bound)
        if limit is not None and not ok(value, limit):
            raise ConfigError(f"{key}: expected a number {words} {limit:g}, got {value!r}")


def from_dict(cls: type, data: dict, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping, validating keys, types and bounds.

    Args:
        cls: a dataclass; if it has a ``registry`` class attribute (a
            :class:`~genzoo.registry.Registry` of config classes), ``data["name"]`` selects the
            registered subclass to build instead.
        data: the section's values.
        prefix: the dotted path of the section, for error messages.
    """
    registry = getattr(cls, "registry", None)
    if registry is not None and isinstance(data, dict):
        name = data.get("name")
        if not isinstance(name, str):
            raise ConfigError(f"{prefix}.name: expected one of {', '.join(registry.names())}")
        cls = registry.get(name)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        where = f" in '{prefix}'" if prefix else ""
        raise ConfigError(f"unknown key '{_join(prefix, unknown[0])}'; valid keys{where}: "
                          + ", ".join(fields))
    kwargs = {}
    for name, f in fields.items():
        key = _join(prefix, name)
        if name in data:
            value = _coerce(data[name], hints[name], key)
            _check_bounds(value, f, key)
            kwargs[name] = value
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing key '{key}'")
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


# ----------------------------------------------------------------------------- presets
def preset_names() -> list[str]:
    """Names of the presets shipped with genzoo."""
    folder = resources.files("genzoo") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_preset(name_or_path: str) -> dict:
    """The raw mapping of a shipped preset, or of a YAML file given by path."""
    path = Path(name_or_path)
    if name_or_path.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise ConfigError(f"preset file {name_or_path} does not exist")
        text = path.read_text()
    else:
        resource = resources.files("genzoo") / "presets" / f"{name_or_path}.yaml"
        if not resource.is_file():
            raise ConfigError(f"unknown preset {name_or_path!r}; valid: "
                              + ", ".join(preset_names()))
        text = resource.read_text()
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"preset {name_or_path} is not valid YAML: {e}".replace("\n", " ")) \
            from None
    if not isinstance(raw, dict):
        raise ConfigError(f"preset {name_or_path} must be a mapping of sections")
    return raw


def parse_overrides(items: list[str]) -> dict:
    """``["train.lr=1e-3", "data.name=mnist"]`` as a nested mapping (values parsed as YAML)."""
    nested: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"override {item!r} is not of the form key=value "
                              "(e.g. train.epochs=5)")
        try:
            value = yaml.safe_load(text) if text else ""
        except yaml.YAMLError:
            value = text
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r} conflicts with another override")
        node[leaf] = value
    return nested


def merge(base: dict, update: dict) -> dict:
    """Recursive dict merge; ``update`` wins. Neither input is modified."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


_SECTIONS = ("method", "name", "model", "data", "train")


def build_run_config(raw: dict, default_name: str = "run") -> RunConfig:
    """Validate a raw mapping (preset merged with overrides) into a :class:`RunConfig`."""
    from genzoo.registry import methods

    unknown = [k for k in raw if k not in _SECTIONS]
    if unknown:
        raise ConfigError(f"unknown key '{unknown[0]}'; valid keys: {', '.join(_SECTIONS)}")
    if not isinstance(raw.get("method"), str):
        raise ConfigError("missing key 'method' (the family to train, e.g. classifier)")
    method_cls = methods.get(raw["method"])
    for section in ("model", "data", "train"):
        if not isinstance(raw.get(section, {}), dict):
            raise ConfigError(f"'{section}' must be a section (mapping)")
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ConfigError(f"name: expected a plain run name, got {name!r}")
    return RunConfig(
        method=raw["method"],
        name=name,
        model=from_dict(method_cls.Config, raw.get("model", {}), "model"),
        data=from_dict(DataConfig, raw.get("data", {}), "data"),
        train=from_dict(TrainConfig, raw.get("train", {}), "train"),
    )


def resolve_config(preset: str, overrides: list[str] | None = None) -> RunConfig:
    """A preset (name or YAML path) with ``key=value`` overrides, validated."""
    raw = merge(load_preset(preset), parse_overrides(overrides or []))
    default_name = Path(preset).stem if preset.endswith((".yaml", ".yml")) else preset
    return build_run_config(raw, default_name)
