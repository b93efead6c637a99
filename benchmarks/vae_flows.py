"""VAE and flow benchmark: VAE on fixed binarized MNIST, conditional VAE judged, RealNVP bits/dim
and inpainting.

Parts (each trains from scratch on this machine's CPU, one training at a time):

- ``bmnist``: ``vae-bmnist``; validation ELBO >= -97 nats (the whole validation split) and
  importance-sampled test log-likelihood with K = 200 (the whole test split) >= -92 nats, trained
  within 15 minutes; K in {1, 10, 50, 200, 1000} reported (seeded per K).
- ``cvae``: ``cvae-mnist``; MNIST-judge accuracy of 1000 class-conditional samples (100 per
  class) >= 98.5%.
- ``realnvp``: ``realnvp-mnist``; test bits/dim (the whole test split, one uniform
  dequantization) <= 1.5, trained within 60 minutes; inpainting MSE of 1000 test images with the
  even rows corrupted and with the bottom half missing, against the corrupted input and the
  neighbour-row interpolation (reported, no target).

Minutes are the training loop's wall clock on this machine (2 cores, 2 threads).

Run: ``python benchmarks/vae_flows.py [--runs-dir DIR] [--only bmnist,cvae,realnvp]``
(writes benchmarks/results/vae_flows.json, merging the parts it ran into what is there).
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from genzoo.analyze.evaluate import evaluate_run
from genzoo.analyze.inpaint import inpaint_run

from common import check, run_parts, train_timed

PARTS = ("bmnist", "cvae", "realnvp")
IS_K = (1, 10, 50, 200, 1000)


def _train(preset: str, runs: Path) -> tuple[Path, dict]:
    run, wall, cpu = train_timed(preset, runs)
    return run, {"run": str(run), "train_wall_minutes": wall / 60, "train_cpu_minutes": cpu / 60}


def part_bmnist(runs: Path, is_k: tuple[int, ...] = IS_K) -> tuple[list[dict], dict]:
    run, info = _train("vae-bmnist", runs)
    valid = evaluate_run(run, split="valid", figures=False, judge=False)
    test = evaluate_run(run, split="test", figures=True, judge=True, is_k=is_k)
    reported = {f"test/log_px_k{k}": test[f"test/log_px_k{k}"] for k in is_k}
    return ([check("vae-bmnist.valid_elbo", valid["valid/elbo"], ">=", -97.0),
             check("vae-bmnist.test_log_px_k200", test["test/log_px_k200"], ">=", -92.0),
             check("vae-bmnist.train_wall_minutes", info["train_wall_minutes"], "<=", 15.0)],
            {**info, **valid, **test, "is_k": list(is_k), "log_px_by_k": reported})


def part_cvae(runs: Path) -> tuple[list[dict], dict]:
    run, info = _train("cvae-mnist", runs)
    numbers = evaluate_run(run, split="test", num_samples=1000)
    return ([check("cvae-mnist.judge_accuracy", numbers["judge/accuracy"], ">=", 0.985)],
            {**info, **numbers})


def part_realnvp(runs: Path) -> tuple[list[dict], dict]:
    run, info = _train("realnvp-mnist", runs)
    numbers = evaluate_run(run, split="test", num_samples=100)
    inpainting = {c: inpaint_run(run, n=1000, corruption=c) for c in ("even-rows", "bottom-half")}
    return ([check("realnvp-mnist.test_bits_per_dim", numbers["test/bits_per_dim"], "<=", 1.5),
             check("realnvp-mnist.train_wall_minutes", info["train_wall_minutes"], "<=", 60.0)],
            {**info, **numbers, "inpainting": inpainting})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/benchmark-vae-flows"))
    parser.add_argument("--only", default=",".join(PARTS))
    parser.add_argument("--is-k", default=",".join(map(str, IS_K)),
                        help="bmnist: the K of the importance-sampled test log-likelihood "
                        "(must include 200 for the check; K = 1000 alone takes ~20 min)")
    args = parser.parse_args()
    parts = {p: globals()[f"part_{p}"] for p in PARTS}
    parts["bmnist"] = partial(part_bmnist, is_k=tuple(int(k) for k in args.is_k.split(",")))
    run_parts("vae_flows", parts, args.only, args.runs_dir)


if __name__ == "__main__":
    main()
