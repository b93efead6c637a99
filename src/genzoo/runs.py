"""Run directories: start, resume and reload runs (``runs/<name>/``).

Everything a user can get wrong (preset, keys, values, data files, checkpoints) is checked
before the run directory is created or touched, so a failed command never harms an existing run.
A run directory alone is enough to rebuild the method: ``config.yaml`` names the method and its
config, and each checkpoint carries the dataset info, so sampling and evaluation need no
training data.

Example:
    >>> import genzoo
    >>> run = genzoo.train("clf-digits", ["train.epochs=1"], quiet=True)
    >>> print(run)
    runs/clf-digits
    >>> sorted(p.name for p in run.iterdir())
    ['checkpoints', 'config.yaml', 'metrics.jsonl']
    >>> m = genzoo.load(run)                                    # the directory is enough
    >>> m.name, m.training
    ('classifier', False)
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import torch
import yaml

from genzoo.config import RunConfig, build_run_config, resolve_config
from genzoo.data import load_dataset
from genzoo.data.base import Dataset, DatasetInfo
from genzoo.errors import CheckpointError, ConfigError, UserError
from genzoo.io import atomic_write_text
from genzoo.models.base import Method
from genzoo.registry import datasets, methods
from genzoo.training import distributed, fit, training_device
from genzoo.training.checkpoint import load_checkpoint, seed_everything

_META_KEYS = ("command",)


def load_data(cfg: RunConfig, split: str | None, limit: int | None = None) -> Dataset:
    """The configured dataset's ``split`` (None: its first split), first ``limit`` items."""
    d = cfg.data
    data = load_dataset(d.name, split, root=d.root, verify=d.verify, download=d.download,
                        **d.options)
    return data.subset(slice(0, limit)) if limit else data


def build_method(cfg: RunConfig, info: DatasetInfo) -> Method:
    """The method named by ``cfg.method``, built for data described by ``info``."""
    try:
        return methods.get(cfg.method)(cfg.model, info)
    except (ValueError, RuntimeError, TypeError) as e:  # e.g. a net that cannot take this shape
        raise ConfigError(f"cannot build method {cfg.method!r} for dataset {info.name!r} "
                          f"(shape {info.shape}): {e}") from None


def describe(preset: str, overrides: list[str] | None = None) -> tuple[RunConfig, Method]:
    """A preset's resolved config and its untrained method (``genzoo info``): the dataset's
    item shape comes from its registry entry where that knows it (CIFAR-10, SVHN: no files
    needed), else from its training split."""
    cfg = resolve_config(preset, overrides)
    spec = datasets.get(cfg.data.name)
    info = spec.info if spec.info is not None and not cfg.data.options else \
        load_data(cfg, cfg.data.train_split, 1).info
    return cfg, build_method(cfg, info)


def parameter_counts(method: Method) -> dict[str, int]:
    """Parameters of each top-level module of ``method`` (e.g. ``net``; a GAN's generator and
    discriminator), and ``total`` / ``trainable``."""
    counts = {name: sum(p.numel() for p in child.parameters())
              for name, child in method.named_children()}
    counts = {k: v for k, v in counts.items() if v}
    counts["total"] = sum(p.numel() for p in method.parameters())
    counts["trainable"] = sum(p.numel() for p in method.parameters() if p.requires_grad)
    return counts


def preset_method(preset: str, overrides: list[str] | None = None, *, limit: int | None = None,
                  seed: int = 0) -> tuple[Method, Dataset]:
    """An untrained method of a preset (with overrides) and its training split's first
    ``limit`` items, seeded: for notebooks and tests that need the model without a run."""
    cfg = resolve_config(preset, overrides)
    data = load_data(cfg, cfg.data.train_split, limit)
    seed_everything(seed)
    return build_method(cfg, data.info), data


def _load_weights(method: Method, ckpt: dict, source: Path) -> None:
    try:
        method.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise CheckpointError(f"checkpoint {source} does not fit this {method.name!r} config: "
                              f"{first}") from None


def init_weights(method: Method, source: Path) -> Path:
    """``train.init_from``: load the weights of a checkpoint, or of a run directory's best.pt
    (else last.pt), into ``method``; the checkpoint's method must be the same family or one
    in ``method.init_from_methods`` (a classifier for JEM), and its network the same. Returns
    the checkpoint used."""
    source = run_checkpoint(source)
    ckpt = load_checkpoint(source)
    allowed = (method.name, *method.init_from_methods)
    if ckpt["method"] not in allowed:
        raise CheckpointError(f"train.init_from: {source} is a {ckpt['method']!r} checkpoint; "
                              f"{method.name!r} starts from {' or '.join(map(repr, allowed))}")
    mine = method.state_dict()
    theirs = ckpt["model"]
    missing = [k for k in mine if k not in theirs]
    extra = [k for k in theirs if k not in mine]
    shapes = [k for k in mine if k in theirs and tuple(mine[k].shape) != tuple(theirs[k].shape)]
    if missing or extra or shapes:
        detail = (f"{shapes[0]} is {tuple(theirs[shapes[0]].shape)} there and "
                  f"{tuple(mine[shapes[0]].shape)} here" if shapes else
                  f"{(missing or extra)[0]} is {'missing there' if missing else 'not here'}")
        raise CheckpointError(f"train.init_from: the network of {source} differs from this "
                              f"config's ({detail}); use the same model.net")
    _load_weights(method, ckpt, source)
    return source


def unique_run_dir(runs_dir: Path, name: str) -> Path:
    """``runs_dir/name``, or ``name-2``, ``name-3``... when it already exists."""
    candidate, k = runs_dir / name, 1
    while candidate.exists():
        k += 1
        candidate = runs_dir / f"{name}-{k}"
    return candidate


def write_run_config(run_dir: Path, cfg: RunConfig, command: str) -> None:
    text = yaml.safe_dump({"command": command, **cfg.to_dict()}, sort_keys=False)
    atomic_write_text(run_dir / "config.yaml", text)


def read_run_config(run_dir: Path | str) -> RunConfig:
    """The resolved config saved in a run directory."""
    run_dir = Path(run_dir)
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise UserError(f"{run_dir} is not a genzoo run directory (no config.yaml)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        raise UserError(f"{path} is not valid YAML") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path} is not a run config")
    return build_run_config({k: v for k, v in raw.items() if k not in _META_KEYS})


def train(preset: str | RunConfig, overrides: list[str] | None = None, *,
          runs_dir: Path | str = "runs", name: str | None = None, resume: bool = False,
          quiet: bool = False, command: str | None = None) -> Path:
    """Train a preset (name, YAML path, or RunConfig) and return its run directory.

    With ``resume``, an existing ``runs_dir/name`` with a checkpoint is continued exactly
    (overrides such as ``train.epochs`` still apply); otherwise a new directory is made, with
    a numeric suffix if the name is taken.
    """
    cfg = preset if isinstance(preset, RunConfig) else resolve_config(preset, overrides)
    if name is not None:
        cfg.name = name
        build_run_config(cfg.to_dict())  # re-validate the name
    command = command or shlex.join(["genzoo", *sys.argv[1:]])
    runs_dir = Path(runs_dir)
    ctx = distributed.setup()

    # 1. everything that can fail on user input, before the run directory is touched
    training_device(cfg.train, ctx.local_rank)
    train_data = load_data(cfg, cfg.data.train_split, cfg.data.limit)
    val_data = None if cfg.data.val_split is None else \
        load_data(cfg, cfg.data.val_split, cfg.data.val_limit)
    seed_everything(cfg.train.seed)
    method = build_method(cfg, train_data.info)
    run_dir = runs_dir / cfg.name
    ckpt = None
    if resume and (run_dir / "checkpoints" / "last.pt").is_file():
        saved = read_run_config(run_dir)
        if saved.method != cfg.method:
            raise CheckpointError(f"run {run_dir} was trained with method {saved.method!r}, "
                                  f"not {cfg.method!r}")
        ckpt = load_checkpoint(run_dir / "checkpoints" / "last.pt", cfg.method)
        _load_weights(method, ckpt, run_dir / "checkpoints" / "last.pt")
    elif not resume:
        run_dir = unique_run_dir(runs_dir, cfg.name)
    if cfg.train.init_from:
        init_weights(method, Path(cfg.train.init_from))
    distributed.barrier()  # every rank chose the directory before rank 0 creates it

    # 2. only now write
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_run_config(run_dir, cfg, command)
    distributed.barrier()

    fit(method, train_data, cfg, run_dir, val_data=val_data, resume_from=ckpt, quiet=quiet)
    return run_dir


def run_checkpoint(source: Path | str) -> Path:
    """A checkpoint file as given, or a run directory's best.pt (else its last.pt)."""
    source = Path(source)
    if not source.is_dir():
        return source
    best = checkpoint_path(source, "best")
    return best if best.is_file() else checkpoint_path(source, "last")


def checkpoint_path(run_dir: Path, which: str = "last") -> Path:
    """``last`` / ``best`` in the run's checkpoints folder, or an explicit file path."""
    if which in ("last", "best"):
        return run_dir / "checkpoints" / f"{which}.pt"
    return Path(which)


def method_from_checkpoint(ckpt: dict, path: Path, ema: bool = True) -> Method:
    """The method a checkpoint payload describes (its own config and dataset info)."""
    try:
        cfg = build_run_config(ckpt["config"])
        info = DatasetInfo(**{k: tuple(v) if isinstance(v, list) else v
                              for k, v in ckpt["info"].items()})
    except (KeyError, TypeError):
        raise CheckpointError(f"checkpoint {path} has no usable config or dataset info") \
            from None
    method = build_method(cfg, info)
    weights = ckpt["ema"] if ema and ckpt.get("ema") is not None else ckpt["model"]
    _load_weights(method, {"model": weights}, path)
    method.load_extra_state(ckpt["extra"])
    return method.eval()


def load_checkpoint_method(path: Path | str, *, ema: bool = True,
                           device: str | torch.device = "cpu") -> Method:
    """Rebuild a trained method from one checkpoint file (e.g. a cached judge)."""
    path = Path(path)
    return method_from_checkpoint(load_checkpoint(path), path, ema).to(device)


def load(run: Path | str, *, checkpoint: str = "last", ema: bool = True,
         device: str | torch.device = "cpu") -> Method:
    """Rebuild a trained method from its run directory alone (in eval mode).

    Args:
        run: the run directory.
        checkpoint: ``last``, ``best`` or a checkpoint path.
        ema: use the EMA weights when the run kept them.
        device: where to put the method.
    """
    run_dir = Path(run)
    cfg = read_run_config(run_dir)
    path = checkpoint_path(run_dir, checkpoint)
    return method_from_checkpoint(load_checkpoint(path, cfg.method), path, ema).to(device)
