"""Run under torchrun by test_ddp.py.

1. ``runs.train`` end to end (the test checks that only rank 0 wrote one run directory).
2. ``fit`` on a method whose ranks start from *different* weights (seeded by rank): after
   training every rank must hold rank 0's broadcast-then-trained parameters. Each rank saves
   its parameters outside the run directory for the test to compare.
3. The same for a JEM (channels-last weights, replay buffer): each rank also saves its own
   replay buffer, which must differ from the other rank's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from genzoo.config import resolve_config
from genzoo.runs import build_method, load_data, train
from genzoo.training import distributed, fit
from genzoo.training.checkpoint import seed_everything

JEM = ["data.name=digits", "model.net.width=4", "model.buffer_size=64", "model.negatives=8",
       "model.sampler.steps=2", "train.steps=6", "train.batch_size=16", "train.eval_every=6",
       "train.num_samples=4", "model.sampler.sample_steps=2",
       "model.sampler.buffer_steps=1", "data.val_limit=32"]
OVERRIDES = ["train.steps=12", "train.batch_size=16", "train.log_every=1", "train.ckpt_every=5",
             "model.net.norm=batch", "train.eval_every=6"]


def fit_from_rank_seed(preset: str, overrides: list[str], seed: int, run_dir: Path,
                       ctx: distributed.Context):
    """``fit`` ``preset`` into ``run_dir`` from weights seeded by ``seed + rank``."""
    cfg = resolve_config(preset, overrides)
    data = load_data(cfg, "train")
    seed_everything(seed + ctx.rank)
    method = build_method(cfg, data.info)
    if ctx.is_main:
        run_dir.mkdir()
    distributed.barrier()
    fit(method, data, cfg, run_dir, quiet=True)
    return method


def main(out: Path) -> None:
    train("clf-digits", OVERRIDES, runs_dir=out / "runs", quiet=True)
    ctx = distributed.setup()
    method = fit_from_rank_seed("clf-digits", OVERRIDES, 100, out / "fit", ctx)
    torch.save(method.state_dict(), out / f"rank{ctx.rank}.pt")
    jem = fit_from_rank_seed("jem-mnist", JEM, 200, out / "jem", ctx)
    torch.save({"params": jem.state_dict(), "buffer": jem.buffer.state_dict()},
               out / f"jem{ctx.rank}.pt")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
