"""Shared plumbing of the preset-variant studies (``genzoo compare ebm-init``, ``jem``): the
variant check, training each variant in turn, and the numbers read back from its metrics."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from genzoo.errors import UserError
from genzoo.io import read_metrics
from genzoo.runs import read_run_config, train


def check_variants(variants: Sequence[str], known: Sequence[str]) -> None:
    """UserError naming the first of ``variants`` that is not ``known``."""
    unknown = [v for v in variants if v not in known]
    if unknown:
        raise UserError(f"unknown variant {unknown[0]!r}; choose from {', '.join(known)}")


def train_variants(configs: dict, out: Path, command: str, quiet: bool,
                   resume: bool = False) -> Iterator[tuple[str, object, Path]]:
    """Train each ``{variant: RunConfig}`` into ``out/runs`` in turn, yielding
    ``(variant, config, run directory)`` after each; ``command`` (the lab's command line) is
    recorded in every run.

    With ``resume``, a variant whose run ``out/runs/<name>`` exists is continued from its last
    checkpoint (a finished run is kept as it is) instead of trained again in a new directory;
    a run saved with a different config is refused (UserError), so a study never mixes
    variants trained under different settings.
    """
    if resume:  # check every variant before any training starts
        for cfg in configs.values():
            if (out / "runs" / cfg.name / "config.yaml").is_file():
                _check_same_config(read_run_config(out / "runs" / cfg.name), cfg,
                                   out / "runs" / cfg.name)
    for variant, cfg in configs.items():
        run = train(cfg, runs_dir=out / "runs", quiet=quiet, resume=resume,
                    command=f"{command} (variant {variant})")
        yield variant, cfg, run


def _check_same_config(saved, cfg, run: Path) -> None:
    """UserError naming the first config key where a saved run differs from ``cfg``."""
    def flat(d: dict, prefix: str = "") -> dict:
        items: dict = {}
        for k, v in d.items():
            items.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v})
        return items

    a, b = flat(saved.to_dict()), flat(cfg.to_dict())
    diff = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    if diff:
        raise UserError(f"cannot resume {run}: it was trained with {diff[0]}={a.get(diff[0])!r}, "
                        f"this study uses {b.get(diff[0])!r}; choose another --out")


def last_train_record(run: Path) -> dict:
    """The last ``split: train`` line of a run's metrics ({} when there is none)."""
    train = [r for r in read_metrics(run) if r.get("split") == "train"]
    return train[-1] if train else {}


def seconds_per_epoch(run: Path) -> float | None:
    """Training seconds per epoch of a run (None when its log has no epoch count)."""
    last = last_train_record(run)
    return last["time"] / last["epoch"] if last.get("epoch") else None
