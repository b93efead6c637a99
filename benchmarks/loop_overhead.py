"""Overhead of genzoo's training loop over a bare PyTorch loop, same model, batches and steps.

Both train the clf-digits CNN for the same number of steps from the same weights; the bare loop
indexes batches, converts them, and does forward, cross-entropy, backward and an Adam step,
nothing else. genzoo's loop additionally schedules the lr, checks for divergence, logs to
metrics.jsonl every 50 steps and checkpoints at the end (no validation, no samples). Runs are
alternated and the median of each is reported.

Run: ``python benchmarks/loop_overhead.py`` (writes benchmarks/results/loop_overhead.json).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from genzoo.config import resolve_config
from genzoo.runs import build_method, load_data
from genzoo.training import BatchStream, fit
from genzoo.training.checkpoint import seed_everything

from common import write_result

STEPS, REPEATS = 600, 5


def bare(method, data, cfg) -> float:
    stream = BatchStream(data, cfg.train.batch_size, cfg.train.seed)
    opt = torch.optim.Adam(method.parameters(), lr=cfg.train.lr)
    start = time.perf_counter()
    for step in range(STEPS):
        x, y = stream.batch(step)
        x = x.float() / 8.0 - 1.0
        loss = F.cross_entropy(method(x + 0.03 * torch.randn_like(x)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def genzoo_fit(method, data, cfg) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        fit(method, data, cfg, Path(tmp), quiet=True)
        return time.perf_counter() - start


def main() -> None:
    cfg = resolve_config("clf-digits", [f"train.steps={STEPS}", "data.val_split=null",
                                        "train.ckpt_every=100000", "train.warmup_steps=0",
                                        "train.schedule=constant"])
    data = load_data(cfg, "train")
    times: dict[str, list[float]] = {"bare": [], "genzoo": []}
    for _ in range(REPEATS):
        for name, fn in (("bare", bare), ("genzoo", genzoo_fit)):
            seed_everything(0)
            method = build_method(cfg, data.info)
            times[name].append(fn(method.train(), data, cfg))
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["genzoo"] / med["bare"]
    print(f"bare {med['bare']:.3f}s, genzoo {med['genzoo']:.3f}s for {STEPS} steps: "
          f"ratio {ratio:.3f}")
    write_result("loop_overhead", [], {
        "steps": STEPS, "repeats": REPEATS, "model": "clf-digits CNN (8x8 inputs, batch 64)",
        "seconds": times, "median_seconds": med, "ratio_genzoo_over_bare": round(ratio, 4),
        "ms_per_step": {k: round(1000 * v / STEPS, 3) for k, v in med.items()}})


if __name__ == "__main__":
    main()
