"""Judge cache: each dataset's reference classifier, trained once by a preset and reused.

Judges live in ``$GENZOO_JUDGES``, else ``$GENZOO_DATA/judges`` when that folder is writable,
else ``~/.cache/genzoo/judges``: ``<dataset>.pt`` (a genzoo checkpoint) and ``<dataset>.json``
(preset, test accuracy, training time). A missing judge is trained from its preset (seeded, so
the same judge comes back on any machine) the first time it is needed, and again when the preset
has changed since the cached one was trained: ``load_judge("mnist")`` trains clf-mnist the
first time (minutes on a CPU). A judge trained with ``overrides`` (e.g. a smaller budget) is
returned but never cached.

Example:
    >>> from genzoo.analyze.judges import load_judge
    >>> judge = load_judge("digits", overrides=["train.epochs=1"])   # trained now, not cached
    >>> judge.info.name, judge.info.shape
    ('digits', (1, 8, 8))
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from genzoo.config import resolve_config
from genzoo.data.base import DatasetInfo
from genzoo.errors import UserError
from genzoo.io import atomic_write_bytes, read_metrics, write_json
from genzoo.metrics.judge import Judge
from genzoo.runs import load_checkpoint_method, method_from_checkpoint, run_checkpoint
from genzoo.runs import train as train_run
from genzoo.training.checkpoint import load_checkpoint

JUDGE_PRESETS = {
    "digits": "clf-digits",
    "mnist": "clf-mnist",
    "fashion-mnist": "clf-fashion",
    "hoda": "clf-hoda",
    "hoda-split": "clf-hoda-split",
    "cifar10": "clf-cifar10-wrn16-4",
}


def judge_dir() -> Path:
    """Where judges are cached (see the module docstring)."""
    explicit = os.environ.get("GENZOO_JUDGES")
    if explicit:
        return Path(explicit).expanduser()
    data = os.environ.get("GENZOO_DATA")
    if data:
        candidate = Path(data).expanduser() / "judges"
        parent = candidate if candidate.exists() else candidate.parent
        if os.access(parent, os.W_OK):
            return candidate
    return Path("~/.cache/genzoo/judges").expanduser()


def judge_cost(dataset: str, overrides: list[str] | None = None) -> str:
    """One line saying what training the default judge of ``dataset`` costs (printed before it
    trains, so that a long judge, e.g. CIFAR-10's 200 epochs, never starts silently)."""
    cfg = resolve_config(JUDGE_PRESETS[dataset], overrides)
    budget = f"{cfg.train.steps} steps" if cfg.train.steps else f"{cfg.train.epochs} epochs"
    return (f"genzoo: training the {dataset} judge ({JUDGE_PRESETS[dataset]}: {budget} of "
            f"{cfg.model.net.name}, batch {cfg.train.batch_size}) once, cached in "
            f"{judge_dir()}; --no-judge skips the judge, --judge RUN uses a classifier run of "
            "yours")


def judge_from_run(source: Path | str, info: DatasetInfo) -> Judge:
    """A classifier (or JEM) run directory or checkpoint as the judge of samples of ``info``'s
    dataset: its best.pt (else last.pt), checked to take the same items and classes."""
    source = run_checkpoint(source)
    method = load_checkpoint_method(source)
    if "logits" not in method.capabilities:
        raise UserError(f"{source} is a {method.name!r} run; a judge is a classifier",
                        param="judge")
    theirs = method.info
    if theirs.shape != info.shape or theirs.num_classes != info.num_classes:
        raise UserError(f"{source} classifies {theirs.shape} items into {theirs.num_classes} "
                        f"classes; the samples are {info.shape} of {info.num_classes}",
                        param="judge")
    return Judge(method)


def load_judge(dataset: str, *, path: str | Path | None = None, train: bool = True,
               quiet: bool = True, overrides: list[str] | None = None) -> Judge:
    """The judge of ``dataset``: loaded from ``path`` or the cache, trained if missing.

    Args:
        dataset: a dataset name in ``JUDGE_PRESETS``.
        path: a judge checkpoint to use instead of the cache.
        train: train and cache the judge when it is missing (else raise).
        quiet: no progress bar while training.
        overrides: preset overrides for training (e.g. a smaller budget in tests); a judge
            trained with overrides is not cached.
    """
    if path is not None:
        return Judge(load_checkpoint_method(path))
    if dataset not in JUDGE_PRESETS:
        raise UserError(f"no judge for dataset {dataset!r}; judges exist for "
                        + ", ".join(JUDGE_PRESETS))
    cached = judge_dir() / f"{dataset}.pt"
    if cached.is_file() and not overrides:
        ckpt = load_checkpoint(cached, "classifier")
        if ckpt["config"] == resolve_config(JUDGE_PRESETS[dataset]).to_dict():
            return Judge(method_from_checkpoint(ckpt, cached))
        if not quiet:
            print(f"genzoo: the cached {dataset} judge was trained with another version of "
                  f"{JUDGE_PRESETS[dataset]}; training it again")
    if not train:
        raise UserError(f"no judge for {dataset!r} at {cached}; train it with "
                        f"'genzoo train {JUDGE_PRESETS[dataset]}' or let genzoo train it")
    print(judge_cost(dataset, overrides), file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        run = train_run(JUDGE_PRESETS[dataset], overrides, runs_dir=tmp, quiet=quiet,
                        command=f"genzoo train {JUDGE_PRESETS[dataset]}")
        if overrides:
            return Judge(load_checkpoint_method(run / "checkpoints" / "last.pt"))
        cached.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(cached, (run / "checkpoints" / "last.pt").read_bytes())
        records = read_metrics(run)
        val = [r for r in records if r.get("split") == "val"]
        meta = {"dataset": dataset, "preset": JUDGE_PRESETS[dataset],
                "test_accuracy": val[-1].get("acc") if val else None,
                "train_seconds": records[-1].get("time") if records else None}
        write_json(cached.with_suffix(".json"), meta)
    return Judge(load_checkpoint_method(cached))
