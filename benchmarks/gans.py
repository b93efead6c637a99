"""GAN benchmark: the conditional GAN on MNIST, and GAN vs WGAN-LP on HODA Persian digits.

Parts (each trains from scratch on this machine's CPU, one training at a time):

- ``cgan``: ``cgan-mnist``; judge accuracy of 1000 class-conditional samples (100 per class)
  >= 98.5%, with the judge's confidence, class entropy and judge-FID beside it, and the latent
  studies (``genzoo analyze RUN all``).
- ``hoda``: ``genzoo compare gan --preset gan-hoda,wgan-hoda``; WGAN-LP's mean HODA-judge
  confidence >= 0.9 and predicted-class entropy >= 0.95 ln 10 (2.187) on 1000 samples; the
  non-saturating GAN's numbers and both runs' stability numbers are reported beside them.

Minutes are the training loop's wall clock on this machine.

Run: ``python benchmarks/gans.py [--runs-dir DIR] [--only cgan,hoda]``
(writes benchmarks/results/gans.json, merging the parts it ran into what is there).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from genzoo.labs.variants import last_train_record

from common import check, run_parts, train_timed

PARTS = ("cgan", "hoda")


def part_cgan(runs: Path) -> tuple[list[dict], dict]:
    from genzoo.analyze.evaluate import evaluate_run
    from genzoo.analyze.gan import ANALYSES, analyze_gan_run

    run, wall, cpu = train_timed("cgan-mnist", runs)
    numbers = evaluate_run(run, num_samples=1000)
    numbers.update(analyze_gan_run(run, ANALYSES))
    data = {"run": str(run), "train_wall_minutes": wall / 60, "train_cpu_minutes": cpu / 60,
            **numbers}
    return [check("cgan-mnist.judge_accuracy", numbers["judge/accuracy"], ">=", 0.985)], data


def part_hoda(runs: Path) -> tuple[list[dict], dict]:
    from genzoo.labs.gan import compare_gans

    out = runs / "gan-vs-wgan-hoda"
    compare_gans(out, presets=("gan-hoda", "wgan-hoda"), quiet=True)
    results = json.loads((out / "results.json").read_text())["runs"]
    for r in results.values():
        r["train_wall_minutes"] = last_train_record(out / r["run"])["time"] / 60
    wgan = results["wgan-hoda"]
    return ([check("wgan-hoda.judge_confidence", wgan["judge/confidence"], ">=", 0.9),
             check("wgan-hoda.judge_class_entropy", wgan["judge/class_entropy"], ">=",
                   0.95 * math.log(10))], results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/benchmark-gans"))
    parser.add_argument("--only", default=",".join(PARTS))
    args = parser.parse_args()
    run_parts("gans", {p: globals()[f"part_{p}"] for p in PARTS}, args.only, args.runs_dir)


if __name__ == "__main__":
    main()
