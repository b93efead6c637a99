"""Image-EBM benchmark: conditional and unconditional MNIST EBMs judged, MLP-EBM inpainting,
and the noise-vs-buffer initialization study.

Parts (each trains from scratch on this machine's CPU, one training at a time):

- ``cebm``: ``cebm-mnist``; judge accuracy of 1000 class-conditional samples (100 per class)
  >= 90%, trained within 30 minutes.
- ``ebm``: ``ebm-mnist``; mean judge confidence >= 0.8 and predicted-class entropy >= 0.9 ln 10
  of 1000 samples (buffer draws, the preset's ``sample()``); fresh chains from noise are
  judged too and reported.
- ``inpaint``: ``ebm-mlp-mnist``, then ``genzoo inpaint`` on 1000 test images with the even
  rows corrupted: the model's MSE below the neighbour-row interpolation baseline (the chain's
  steps, step size and noise are chosen on 1000 training images first).
- ``study``: ``genzoo compare ebm-init`` on ebm-mnist with a shorter budget; the report and its
  numbers.
- ``inpaint_additive``: the MLP-EBM project's corruption (``even-rows-additive``: even rows +
  0.3 N(0, 1), clipped) restored by the posterior chain; whole-image MSE <= 0.9x neighbour-row
  interpolation's and <= 0.3x the corrupted input's (chain chosen on training images).

Run: ``python benchmarks/ebm.py [--runs-dir DIR] [--only PART,...] [--reuse]`` (parts above)
(writes benchmarks/results/ebm.json, merging the parts it ran into what is there).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from genzoo.analyze.evaluate import evaluate_run, judge_samples
from genzoo.analyze.inpaint import inpaint_run
from genzoo.io import read_metrics
from genzoo.labs.ebm_init import compare_ebm_init
from genzoo.runs import load, load_data, read_run_config

from common import check, run_parts
from common import train_timed as common_train_timed

PARTS = ("cebm", "inpaint", "ebm", "study", "inpaint_additive")
STUDY_STEPS = 600


REUSE = False  # --reuse: evaluate finished runs in runs-dir instead of training again


def train_timed(preset: str, runs_dir: Path) -> tuple[Path, dict]:
    run = runs_dir / preset
    if REUSE and (run / "checkpoints" / "last.pt").is_file():
        last = [r for r in read_metrics(run) if r.get("split") == "train"][-1]
        if last["step"] == read_run_config(run).train.steps:
            # the training loop's own clock (excludes process start and the final evaluation)
            return run, {"train_wall_minutes": last["time"] / 60, "train_cpu_minutes": None,
                         "reused": True}
    run, wall, cpu = common_train_timed(preset, runs_dir)
    return run, {"train_wall_minutes": wall / 60, "train_cpu_minutes": cpu / 60}


def part_cebm(runs: Path) -> tuple[list[dict], dict]:
    run, times = train_timed("cebm-mnist", runs)
    numbers = evaluate_run(run, num_samples=1000, figures=False)
    return ([check("cebm-mnist.judge_accuracy", numbers["judge/accuracy"], ">=", 0.9),
             check("cebm-mnist.train_wall_minutes", times["train_wall_minutes"], "<=", 30)],
            {**times, **numbers, "run": str(run)})


def part_ebm(runs: Path) -> tuple[list[dict], dict]:
    run, times = train_timed("ebm-mnist", runs)
    numbers = evaluate_run(run, num_samples=1000, figures=False)
    method = load(run)
    test = load_data(read_run_config(run), "test", 1000)
    fresh = {}
    for steps in (200, 1000):
        chains = [method.sample(100, sample_steps=steps, sample_init="noise").cpu()
                  for _ in range(10)]
        scores = judge_samples(method, test, torch.cat(chains), None)
        fresh[f"noise_chains_{steps}"] = scores
    ln10 = math.log(10)
    return ([check("ebm-mnist.judge_confidence", numbers["judge/confidence"], ">=", 0.8),
             check("ebm-mnist.class_entropy_over_ln10", numbers["judge/class_entropy"] / ln10,
                   ">=", 0.9)],
            {**times, **numbers, "fresh_chains_from_noise": fresh, "run": str(run)})


INPAINT_SETTINGS = [  # (steps, step size, noise); None: the run's sampler setting
    (steps, a, s) for steps in (20, 100) for a in (None, 1.0) for s in (None, 0.0)]


def part_inpaint(runs: Path) -> tuple[list[dict], dict]:
    """Pick the chain (steps, step size, noise) on 1000 *training* images, then measure the
    chosen one on 1000 test images (no tuning on the test set)."""
    run, times = train_timed("ebm-mlp-mnist", runs)
    tuning = []
    for steps, a, s in INPAINT_SETTINGS:
        numbers = inpaint_run(run, n=1000, split="train", steps=steps, step_size=a,
                              noise_scale=s)
        tuning.append(numbers)
    best = min(tuning, key=lambda r: r["mse_model"])
    test = inpaint_run(run, n=1000, split="test", steps=best["steps"],
                       step_size=best["step_size"], noise_scale=best["noise_scale"])
    return ([check("ebm-mlp-mnist.inpaint_mse_minus_interpolation",
                   test["mse_model"] - test["mse_interpolation"], "<", 0.0)],
            {**times, "test": test, "tuning_on_train": tuning, "run": str(run)})


ADDITIVE_SETTINGS = [  # (steps, step size, noise, init, observation weight) of the chain
    *[(steps, a, s, init, 1.0) for steps in (20, 100) for a in (None, 1.0) for s in (None, 0.0)
      for init in ("interpolate", "corrupted")],
    # a tempered likelihood (weight < 1) lets the prior move the noisy rows: at weight 1 the
    # observation term (precision 1 / 0.6^2 in [-1, 1] units) outweighs the EBM's score (mean
    # |dE/dx| ~0.003 on those pixels), and long chains settle on the corrupted rows
    *[(steps, a, 0.0, "interpolate", w) for steps in (50, 200) for a in (1e-2, 1e-3)
      for w in (0.3, 0.1, 0.03)]]


def part_inpaint_additive(runs: Path) -> tuple[list[dict], dict]:
    """The MLP-EBM project's corruption: even rows + 0.3 N(0, 1), clipped to [0, 1]; the chain
    samples the (tempered) posterior given the noisy rows. Chosen on 1000 training images,
    measured on 1000 test images; whole-image MSE (mean, std, min, max over the images)."""
    run, times = train_timed("ebm-mlp-mnist", runs)
    tuning = [inpaint_run(run, n=1000, split="train", corruption="even-rows-additive",
                          steps=steps, step_size=a, noise_scale=s, init=init,
                          observation_weight=w)
              for steps, a, s, init, w in ADDITIVE_SETTINGS]
    best = min(tuning, key=lambda r: r["mse_model"])
    test = inpaint_run(run, n=1000, split="test", corruption="even-rows-additive",
                       steps=best["steps"], step_size=best["step_size"],
                       noise_scale=best["noise_scale"], init=best["init"],
                       observation_weight=best["observation_weight"])
    return ([check("ebm-mlp-mnist.additive_mse_over_interpolation",
                   test["mse_model"] / test["mse_interpolation"], "<=", 0.9),
             check("ebm-mlp-mnist.additive_mse_over_corrupted",
                   test["mse_model"] / test["mse_corrupted"], "<=", 0.3)],
            {**times, "test": test, "tuning_on_train": tuning, "run": str(run)})


def part_study(runs: Path) -> tuple[list[dict], dict]:
    out = runs / "ebm-init-study"
    start = time.perf_counter()
    page = out / "report.html"
    reused = REUSE and page.is_file()  # --reuse: a study already run by the same command
    if not reused:
        page = compare_ebm_init(out, preset="ebm-mnist",
                                overrides=[f"train.steps={STUDY_STEPS}"], quiet=True)
    results = json.loads((out / "results.json").read_text())
    # the report (several MB of embedded grids) stays in the runs folder; its numbers are here
    return ([check("ebm-init-study.report_written", float(page.is_file()), ">=", 1.0)],
            {"minutes": None if reused else (time.perf_counter() - start) / 60,
             "reused": reused, **results})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/benchmark-ebm"))
    parser.add_argument("--only", default=",".join(PARTS))
    parser.add_argument("--reuse", action="store_true",
                        help="evaluate finished runs found in --runs-dir instead of retraining")
    args = parser.parse_args()
    global REUSE
    REUSE = args.reuse
    run_parts("ebm", {p: globals()[f"part_{p}"] for p in PARTS}, args.only, args.runs_dir)

if __name__ == "__main__":
    main()
