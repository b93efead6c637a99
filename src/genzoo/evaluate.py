"""Sampling and evaluation of a trained run, from its directory alone.

``sample_run`` writes a grid (images) or a scatter plot and ``.npy`` array (vectors);
``evaluate_run`` computes the method's validation numbers on a split and merges them into
``RUN/eval.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from genzoo.atomic import atomic_write_text
from genzoo.config import parse_overrides
from genzoo.errors import UserError
from genzoo.registry import datasets
from genzoo.runs import load, load_data, read_run_config


def sample_run(run: Path | str, n: int = 64, *, y: int | None = None,
               overrides: list[str] | None = None, checkpoint: str = "last", seed: int = 0,
               out: Path | None = None) -> Path:
    """Draw ``n`` samples from a run and save them; returns the written path.

    ``overrides`` are ``sampler.KEY=VALUE`` items passed to ``method.sample`` as ``KEY=VALUE``.
    """
    from genzoo.viz.samples import save_samples

    if n < 1:
        raise UserError(f"--n: expected a positive number of samples, got {n}")
    nested = parse_overrides(overrides or [])
    unknown = [k for k in nested if k != "sampler"]
    if unknown:
        raise UserError(f"sample overrides must start with 'sampler.', got {unknown[0]!r}")
    run_dir = Path(run)
    method = load(run_dir, checkpoint=checkpoint)
    if not method.can_sample:
        raise UserError(f"method {method.name!r} does not generate samples")
    labels = None
    if y is not None:
        classes = method.info.num_classes
        if not classes or not 0 <= y < classes:
            raise UserError(f"--y: expected a class in 0..{(classes or 1) - 1}, got {y}")
        labels = torch.full((n,), y, dtype=torch.long)
    out = out or run_dir / "samples" / f"sample-{time.strftime('%Y%m%d-%H%M%S')}.png"
    torch.manual_seed(seed)
    save_samples(method, n, Path(out), None, y=labels, **nested.get("sampler", {}))
    return Path(out)


def evaluate_run(run: Path | str, *, split: str | None = None,
                 checkpoint: str = "last") -> dict[str, float]:
    """The method's evaluation numbers on ``split``; merged into ``RUN/eval.json``."""
    from genzoo.train import eval_batches

    run_dir = Path(run)
    cfg = read_run_config(run_dir)
    split = split or cfg.data.val_split or cfg.data.train_split or \
        datasets.get(cfg.data.name).splits[0]
    data = load_data(cfg, split)
    method = load(run_dir, checkpoint=checkpoint)
    torch.manual_seed(cfg.train.seed)
    numbers = {f"{split}/{k}": v for k, v in
               method.evaluate(eval_batches(method, data, cfg.train.batch_size)).items()}
    path = run_dir / "eval.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    atomic_write_text(path, json.dumps({**previous, **numbers}, indent=2))
    return numbers
