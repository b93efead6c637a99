"""Shared plumbing of the preset-variant studies (``genzoo compare ebm-init``, ``jem``): the
variant check, training each variant in turn, and the numbers read back from its metrics."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from genzoo.errors import UserError


def check_variants(variants: Sequence[str], known: Sequence[str]) -> None:
    """UserError naming the first of ``variants`` that is not ``known``."""
    unknown = [v for v in variants if v not in known]
    if unknown:
        raise UserError(f"unknown variant {unknown[0]!r}; choose from {', '.join(known)}")


def train_variants(configs: dict, out: Path, command: str,
                   quiet: bool) -> Iterator[tuple[str, object, Path]]:
    """Train each ``{variant: RunConfig}`` into ``out/runs`` in turn, yielding
    ``(variant, config, run directory)`` after each; ``command`` (the lab's command line) is
    recorded in every run."""
    from genzoo.runs import train

    for variant, cfg in configs.items():
        run = train(cfg, runs_dir=out / "runs", quiet=quiet,
                    command=f"{command} (variant {variant})")
        yield variant, cfg, run


def last_train_record(run: Path) -> dict:
    """The last ``split: train`` line of a run's metrics ({} when there is none)."""
    from genzoo.viz.curves import read_metrics

    train = [r for r in read_metrics(run) if r.get("split") == "train"]
    return train[-1] if train else {}


def seconds_per_epoch(run: Path) -> float | None:
    """Training seconds per epoch of a run (None when its log has no epoch count)."""
    last = last_train_record(run)
    return last["time"] / last["epoch"] if last.get("epoch") else None
