"""GAN objectives compared on one dataset: ``genzoo compare gan [--preset gan-hoda,wgan-hoda]``.

Trains each GAN preset in turn (``key=value`` overrides apply to all, e.g. ``train.epochs=2``)
and compares, per run:

- the dataset judge's scores of ``num_samples`` samples (class-conditional GANs: equally many
  of each class): mean confidence (are the samples recognisable digits), entropy of the
  predicted classes (ln 10 when every class is equally frequent; it falls under mode collapse),
  judge-FID against the test split, and judge accuracy for conditional GANs;
- stability: the divergence guard's restarts, non-finite losses, and the spread of the last
  half of training, the standard deviation of the logged generator and critic losses
  (``g_loss_std``, ``d_loss_std``) and, for the Wasserstein objectives, of the critic's
  distance estimate ``w_dist``, next to its last value;
- seconds per epoch.

Each run also gets the latent studies of :mod:`genzoo.analyze.gan` (perturbation of each latent
dimension, latent vs data-space interpolation) and the report shows every run's sample grids
over training and its curves (D/G losses, ``w_dist``, gradient norms).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path

from genzoo.analyze.evaluate import evaluate_run
from genzoo.analyze.gan import ANALYSES, analyze_gan_run
from genzoo.config import resolve_config
from genzoo.errors import UserError
from genzoo.io import atomic_write_text, read_metrics
from genzoo.labs.variants import seconds_per_epoch, train_variants
from genzoo.viz import Section, write_report
from genzoo.viz.report_sections import fixed_decimals as fx
from genzoo.viz.report_sections import table_html

DEFAULT_PRESETS = ("gan-hoda", "wgan-hoda")


def stability(run: Path) -> dict[str, float]:
    """Stability numbers of a GAN run from its training log (see the module docstring)."""
    rows = [r for r in read_metrics(run) if r.get("split") == "train"]
    late = rows[len(rows) // 2:]
    numbers: dict[str, float] = {"restarts": float(rows[-1].get("restarts", 0)) if rows else 0.0}
    for key in ("g_loss", "d_loss", "w_dist"):
        values = [float(r[key]) for r in late if key in r]
        if not values:
            continue
        finite = [v for v in values if math.isfinite(v)]
        numbers[f"{key}_nonfinite"] = float(len(values) - len(finite))
        numbers[f"{key}_std"] = statistics.pstdev(finite) if finite else math.nan
        numbers[f"{key}_last"] = values[-1]
    return numbers


def compare_gans(out_dir: Path | str, *, presets: Sequence[str] = DEFAULT_PRESETS,
                 overrides: Sequence[str] = (), num_samples: int = 1000,
                 quiet: bool = False, resume: bool = False, judge: bool = True,
                 judge_run: Path | str | None = None) -> Path:
    """Train and compare GAN presets; returns ``out_dir/report.html`` (and ``results.json``).

    Args:
        out_dir: where the runs, results and report go.
        presets: ``gan`` presets trained on the same dataset.
        overrides: ``key=value`` applied to every preset.
        num_samples: samples scored by the judge per run.
        quiet: no progress bars.
        resume: continue the runs already in ``out_dir/runs`` (see
            :func:`genzoo.labs.variants.train_variants`) instead of training new ones.
        judge, judge_run: no judge numbers when false; ``judge_run``: a classifier run (or
            checkpoint) judging the samples instead of the dataset's default judge.
    """
    if not presets:
        raise UserError("compare gan: name at least one preset")
    configs = {p: resolve_config(p, list(overrides)) for p in presets}  # fail early
    wrong = [p for p, c in configs.items() if c.method != "gan"]
    if wrong:
        raise UserError(f"the GAN comparison needs 'gan' presets; {wrong[0]!r} is "
                        f"{configs[wrong[0]].method!r}")
    if len({c.data.name for c in configs.values()}) > 1:
        raise UserError("compare gan: the presets train on different datasets ("
                        + ", ".join(f"{p}: {c.data.name}" for p, c in configs.items()) + ")")
    out = Path(out_dir)
    results: dict[str, dict] = {}
    command = f"genzoo compare gan --preset {','.join(presets)}"
    for preset, _, run in train_variants(configs, out, command, quiet, resume):
        numbers = evaluate_run(run, num_samples=num_samples, judge=judge, judge_run=judge_run)
        numbers.update(analyze_gan_run(run, ANALYSES))
        results[preset] = {"run": str(run.relative_to(out)),
                           "objective": configs[preset].model.objective,
                           "seconds_per_epoch": seconds_per_epoch(run),
                           **{f"stability/{k}": v for k, v in stability(run).items()},
                           **numbers}
        if not quiet:
            print(f"{preset:>12s}: judge confidence {numbers.get('judge/confidence', math.nan):.3f}"
                  f", class entropy {numbers.get('judge/class_entropy', math.nan):.3f}, "
                  f"judge-FID {numbers.get('judge/fid', math.nan):.1f}", flush=True)
    atomic_write_text(out / "results.json", json.dumps(
        {"presets": list(presets), "overrides": list(overrides), "runs": results}, indent=2))
    header = ["preset", "objective", "judge confidence", "class entropy", "judge-FID",
              "judge accuracy", "restarts", "g_loss std (2nd half)", "w_dist (last)",
              "s / epoch"]
    rows = [[p, r["objective"], fx(r.get("judge/confidence")),
             fx(r.get("judge/class_entropy")), fx(r.get("judge/fid"), 1),
             fx(r.get("judge/accuracy")), str(int(r["stability/restarts"])),
             fx(r.get("stability/g_loss_std")), fx(r.get("stability/w_dist_last")),
             fx(r["seconds_per_epoch"], 1)] for p, r in results.items()]
    intro = (f"<p>{len(presets)} GAN presets on the same data"
             + (f" ({', '.join(overrides)})" if overrides else "") + f"; judge scores of "
             f"{num_samples} samples each (class entropy: ln 10 = 2.303 when all ten classes are "
             "equally frequent).</p>")
    return write_report([out / r["run"] for r in results.values()], out / "report.html",
                        title="genzoo GAN objectives compared",
                        lead_sections=[Section("Judge scores and stability",
                                               intro + table_html(header, rows))])
