"""JEM vs JEM++ vs the plain classifier on the same budget, in one report.

``genzoo compare jem [--preset jem-mnist] [--from RUN] [key=value ...]`` trains three variants
(five with ``--from``) with the same backbone, data, augmentation, input noise, optimizer and
number of steps:

============== =====================================================================
``classifier``  the JEM preset's classifier alone (cross-entropy only)
``jem``         the preset: + log p(x) with 20-step SGLD from a replay buffer
``jem++``       the preset with :data:`JEMPP` (class-Gaussian starts, 7 outer + 5 proximal
                inner steps without noise)
``jem-ft``      with ``--from RUN``: ``jem`` whose weights start from a classifier run
``jem++-ft``    with ``--from RUN``: ``jem++`` likewise
============== =====================================================================

and compares test accuracy, calibration (ECE), out-of-distribution AUROC of log p(x) (MNIST <->
Fashion-MNIST), the dataset judge's scores of 1000 class-conditional samples (for the plain
classifier: SGLD chains of ``sample_steps`` from uniform noise on its E(x, y)), seconds per
epoch and the divergence guard's restarts. Every run also gets the analyses of
:mod:`genzoo.analyze.jem` in its figures.

References:
    Grathwohl et al., ICLR 2020; Yang & Ji, "JEM++: Improved Techniques for Training JEM",
    ICCV 2021 (table 1: accuracy, table 5: time per epoch).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import torch

from genzoo.analyze.evaluate import evaluate_run, judge_samples
from genzoo.analyze.jem import ANALYSES, analyze_run, chain, uniform_images
from genzoo.analyze.jem_questions import analyze_questions
from genzoo.analyze.judges import judge_from_run
from genzoo.config import build_run_config, resolve_config
from genzoo.errors import UserError
from genzoo.io import atomic_write_text
from genzoo.labs.variants import (
    check_variants,
    last_train_record,
    seconds_per_epoch,
    train_variants,
)
from genzoo.runs import load, load_data, read_run_config, run_checkpoint
from genzoo.training.checkpoint import load_checkpoint
from genzoo.viz import Section, write_report
from genzoo.viz.report_sections import fixed_decimals as fx
from genzoo.viz.report_sections import table_html

#: JEM++'s sampler on top of a JEM preset (the jempp-* presets are exactly this).
JEMPP = ["model.start=class-gaussian", "model.sampler.steps=7", "model.sampler.noise_scale=0.0",
         "model.sampler.inner_steps=5", "model.sampler.inner_step=0.2",
         "model.sampler.inner_clip=1.0", "model.sampler.buffer_steps=10",
         "model.sampler.sample_steps=25", "model.p_new_decay=0"]
VARIANTS = ("classifier", "jem", "jem++")
#: the variants ``--from RUN`` adds: JEM and JEM++ whose weights start from a classifier run
FINETUNED = {"jem-ft": "jem", "jem++-ft": "jem++"}
CLASSIFIER_KEYS = ("net", "noise_sigma", "clamp_noisy", "label_smoothing", "augment",
                   "crop_padding", "pixel_range")


def variant_config(preset: str, overrides: Sequence[str], variant: str,
                   from_run: Path | None = None):
    """The run config of one variant of a ``jem`` preset (a :data:`FINETUNED` one starts from
    ``from_run``'s weights)."""
    if variant in FINETUNED:
        if from_run is None:
            raise UserError(f"variant {variant!r} needs a classifier run to start from (--from)")
        overrides = [*overrides, f"train.init_from={from_run}"]
    base = FINETUNED.get(variant, variant)
    cfg = resolve_config(preset, list(overrides) + (JEMPP if base == "jem++" else []))
    if cfg.method != "jem":
        raise UserError(f"the JEM comparison needs a 'jem' preset; {preset!r} is {cfg.method!r}")
    if variant == "classifier":
        raw = cfg.to_dict()
        raw["method"] = "classifier"
        raw["model"] = {k: raw["model"][k] for k in CLASSIFIER_KEYS}
        raw["train"]["samples_every"] = None
        cfg = build_run_config(raw)
    cfg.name = variant.replace("+", "p")
    return cfg


def _check_start(source: Path, preset: str, overrides: Sequence[str]) -> None:
    """Fail before training when ``--from`` is no classifier/JEM checkpoint of the preset's
    network (the fine-tuned runs train last)."""
    ckpt = load_checkpoint(run_checkpoint(source))
    if ckpt["method"] not in ("classifier", "jem"):
        raise UserError(f"--from: {source} is a {ckpt['method']!r} run; expected a classifier")
    net = resolve_config(preset, list(overrides)).to_dict()["model"]["net"]
    theirs = ckpt.get("config", {}).get("model", {}).get("net")
    if theirs != net:
        raise UserError(f"--from: {source} has model.net {theirs}; the preset's is {net}")


def _classifier_samples(run: Path, n: int, steps: int,
                        judge_run: Path | str | None = None) -> dict[str, float]:
    """Judge scores of class-conditional SGLD chains from noise on a plain classifier."""
    model = load(run)
    k = model.info.num_classes
    labels = torch.arange(n) % k
    chunks = [chain(model, uniform_images(model, len(y)), steps, y)[0]
              for y in labels.split(100)]
    test = load_data(read_run_config(run), "test", 1000)
    judge = None if judge_run is None else judge_from_run(judge_run, model.info)
    return judge_samples(model, test, torch.cat(chunks), labels, judge)


def compare_jem(out_dir: Path | str, *, preset: str = "jem-mnist", overrides: Sequence[str] = (),
                variants: Sequence[str] = VARIANTS, num_samples: int = 1000,
                quiet: bool = False, resume: bool = False,
                from_run: Path | str | None = None, judge: bool = True,
                judge_run: Path | str | None = None) -> Path:
    """Train and compare the variants; returns ``out_dir/report.html`` (and ``results.json``).

    Args:
        out_dir: where the runs, results and report go.
        preset: a ``jem`` preset (jem-mnist, jem-fashion, ...).
        overrides: ``key=value`` applied to every variant (e.g. ``train.epochs=2``).
        variants: a subset of :data:`VARIANTS`.
        num_samples: class-conditional samples scored by the judge per variant.
        quiet: no progress bars.
        resume: continue the runs already in ``out_dir/runs`` (see
            :func:`genzoo.labs.variants.train_variants`) instead of training new ones.
        from_run: a classifier run (or checkpoint) with the preset's network: adds the
            :data:`FINETUNED` variants, JEM and JEM++ starting from its weights.
        judge, judge_run: no judge numbers when false; ``judge_run``: a classifier run (or
            checkpoint) judging the samples instead of the dataset's default judge.
    """
    check_variants(variants, (*VARIANTS, *FINETUNED))
    if from_run is not None:
        from_run = Path(from_run)
        _check_start(from_run, preset, overrides)
        variants = (*variants, *(v for v in FINETUNED if v not in variants))
    configs = {v: variant_config(preset, overrides, v, from_run) for v in variants}
    out = Path(out_dir)
    results: dict[str, dict] = {}
    for variant, cfg, run in train_variants(configs, out, f"genzoo compare jem --preset {preset}",
                                            quiet, resume):
        numbers = evaluate_run(run, num_samples=num_samples, judge=judge, judge_run=judge_run)
        if variant == "classifier" and judge:
            steps = resolve_config(preset, list(overrides)).model.sampler.sample_steps
            numbers.update(_classifier_samples(run, num_samples, steps, judge_run))
        analyses = [a for a in ANALYSES if a != "ood" or cfg.data.name in ("mnist",
                                                                          "fashion-mnist")]
        numbers.update(analyze_run(run, analyses))
        questions = ["energy-grid", "top-generated", "epoch-losses"]
        numbers.update(analyze_questions(run, questions + (["buffer-draws"] if variant !=
                                                           "classifier" else [])))
        results[variant] = {"run": str(run.relative_to(out)),
                            "seconds_per_epoch": seconds_per_epoch(run),
                            "restarts": int(last_train_record(run).get("restarts", 0)),
                            **numbers}
        if not quiet:
            print(f"{variant:>10s}: accuracy {numbers.get('test/acc', math.nan):.4f}, "
                  f"judge accuracy {numbers.get('judge/accuracy', math.nan):.3f}, "
                  f"{results[variant]['seconds_per_epoch']:.1f} s/epoch", flush=True)
    atomic_write_text(out / "results.json", json.dumps(
        {"preset": preset, "overrides": list(overrides), "variants": results}, indent=2))
    ood = next((k for r in results.values() for k in r if k.endswith("/auroc_log_px")), None)
    header = ["variant", "test accuracy", "ECE", "OOD AUROC log p(x)", "judge accuracy",
              "judge confidence", "judge-FID", "s / epoch", "restarts"]
    rows = [[v, fx(r.get("test/acc")), fx(r.get("calibration/ece")),
             fx(r.get(ood)) if ood else "-", fx(r.get("judge/accuracy")),
             fx(r.get("judge/confidence")), fx(r.get("judge/fid"), 1),
             fx(r["seconds_per_epoch"], 1), str(r["restarts"])] for v, r in results.items()]
    intro = (f"<p>{len(results)} variants of <code>{preset}</code> on the same budget"
             + (f" ({', '.join(overrides)})" if overrides else "") + ". Judge scores are of "
             f"{num_samples} class-conditional samples (JEM, JEM++: the preset's sampler; "
             "classifier: SGLD from noise on its E(x, y)). OOD: "
             + (ood.split("/")[1] if ood else "none") + " as out-of-distribution data.</p>")
    return write_report([out / r["run"] for r in results.values()], out / "report.html",
                        title="genzoo JEM vs JEM++ vs classifier",
                        lead_sections=[Section("Same budget", intro + table_html(header, rows))])
