"""The EBM initialization study: chains from noise vs from a replay buffer, with and without a
decreasing noise schedule, trained on the same budget and compared in one report.

``genzoo compare ebm-init [--preset ebm-mnist] [key=value ...]`` trains four variants of an EBM
preset:

============== ===================================================================
``noise``       every training chain starts from uniform noise (short-run, non-persistent
                CD, Nijkamp et al. 2019); samples are fresh chains of the same length
``noise-sched`` the same with the chain's noise decreasing geometrically
``buffer``      chains start from the replay buffer (95%) or noise (5%) (persistent CD,
                IGEBM); samples are buffer draws
``buffer-sched`` the same with the decreasing noise schedule
============== ===================================================================

With ``model.sampler.form=paper`` (Langevin in the paper form, ``model.sampler.eps``) the
schedule is the decay ``eps_t = eps * (eps_end / eps) ** (t / T)`` of the step and the noise
together (``eps_end`` default ``eps / 10``), and the variants without it keep ``eps`` constant;
``genzoo compare ebm-init model.sampler.form=paper model.sampler.eps=0.05`` compares them.

Each is evaluated by its dataset's judge (confidence, predicted-class entropy, judge-FID) on
``num_samples`` samples drawn the way it was trained, and the report sets the numbers, the
seconds per training step, the loss and energy-gap curves (``cd`` = E(x+) - E(x-)), and the
sample grids over training (five per run unless ``train.samples_every`` is given) side by side.

References:
    Du & Mordatch, "Implicit Generation and Modeling with Energy-Based Models", NeurIPS 2019.
    Nijkamp, Hill, Zhu & Wu, "Learning Non-Convergent Non-Persistent Short-Run MCMC Toward
    Energy-Based Model", NeurIPS 2019.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from genzoo.analyze.evaluate import evaluate_run
from genzoo.config import resolve_config
from genzoo.errors import UserError
from genzoo.io import atomic_write_text
from genzoo.labs.variants import check_variants, last_train_record, train_variants
from genzoo.viz import Section, write_report
from genzoo.viz.report_sections import fixed_decimals as fx
from genzoo.viz.report_sections import table_html

# variant -> overrides; the schedule anneals the per-step noise from 5x to 1/5 of the preset's
SCHEDULE = ["model.sampler.noise_schedule=geometric"]
VARIANTS: dict[str, list[str]] = {
    "noise": ["model.init=noise", "model.sampler.sample_init=noise"],
    "noise-sched": ["model.init=noise", "model.sampler.sample_init=noise", *SCHEDULE],
    "buffer": ["model.init=buffer", "model.sampler.sample_init=buffer"],
    "buffer-sched": ["model.init=buffer", "model.sampler.sample_init=buffer", *SCHEDULE],
}


def _variant_config(preset: str, overrides: Sequence[str], variant: str):
    method = resolve_config(preset, list(overrides)).method
    if method != "ebm":
        raise UserError(f"the EBM initialization study needs an 'ebm' preset; {preset!r} is "
                        f"{method!r}")
    cfg = resolve_config(preset, [*overrides, *VARIANTS[variant]])
    s = cfg.model.sampler
    if s.form == "paper":  # the schedule is eps_t's decay: step and noise together
        s.noise_schedule = "constant"
        if not variant.endswith("-sched"):
            s.eps_end = None
        elif s.eps_end is None:
            s.eps_end = s.eps / 10
    elif s.noise_schedule != "constant":
        s.noise_scale, s.noise_end = 5 * s.noise_scale, s.noise_scale / 5
    if cfg.model.init == "noise":
        s.sample_steps = s.steps  # sample as trained: short-run chains from noise
    if cfg.train.steps and not any(o.startswith("train.samples_every=") for o in overrides):
        cfg.train.samples_every = max(1, cfg.train.steps // 5)  # grids over training
    cfg.name = variant
    return cfg


def _seconds_per_step(run: Path) -> float | None:
    last = last_train_record(run)
    return last["time"] / last["step"] if last else None


def compare_ebm_init(out_dir: Path | str, *, preset: str = "ebm-mnist",
                     overrides: Sequence[str] = (), variants: Sequence[str] = tuple(VARIANTS),
                     num_samples: int = 1000, quiet: bool = False,
                     resume: bool = False, judge: bool = True,
                     judge_run: Path | str | None = None) -> Path:
    """Train and compare the variants; returns ``out_dir/report.html`` (and ``results.json``).

    Args:
        out_dir: where the runs, results and report go.
        preset: an ``ebm`` preset on an image dataset with a judge (ebm-mnist, ebm-fashion).
        overrides: ``key=value`` applied to every variant (e.g. ``train.steps=1500``).
        variants: a subset of :data:`VARIANTS`.
        num_samples: samples scored by the judge per variant.
        quiet: no progress bars.
        resume: continue the runs already in ``out_dir/runs`` (see
            :func:`genzoo.labs.variants.train_variants`) instead of training new ones.
        judge, judge_run: no judge numbers when false; ``judge_run``: a classifier run (or
            checkpoint) judging the samples instead of the dataset's default judge.
    """
    check_variants(variants, VARIANTS)
    configs = {v: _variant_config(preset, overrides, v) for v in variants}  # fail early
    out = Path(out_dir)
    results: dict[str, dict] = {}
    for variant, cfg, run in train_variants(configs, out,
                                            f"genzoo compare ebm-init --preset {preset}", quiet,
                                            resume):
        numbers = evaluate_run(run, num_samples=num_samples, figures=False, judge=judge,
                               judge_run=judge_run)
        s = cfg.model.sampler
        results[variant] = {
            "run": str(run.relative_to(out)), "init": cfg.model.init,
            "noise": (f"{s.noise_scale:g} -> {s.noise_end:g} ({s.noise_schedule})"
                      if s.noise_schedule != "constant" else f"{s.noise_scale:g}"),
            "seconds_per_step": _seconds_per_step(run), **numbers}
        if not quiet:
            print(f"{variant:>13s}: " + ", ".join(
                f"{k} {v:.4g}" for k, v in numbers.items() if k.startswith("judge/")),
                flush=True)
    atomic_write_text(out / "results.json", json.dumps({"preset": preset,
                                                        "overrides": list(overrides),
                                                        "variants": results}, indent=2))
    header = ["variant", "chains start", "noise per step", "judge confidence",
              "class entropy / ln 10", "judge-FID", "s / step"]
    rows = [[v, r["init"], r["noise"], fx(r.get("judge/confidence")),
             fx(_ratio(r.get("judge/class_entropy"))), fx(r.get("judge/fid"), 1),
             fx(r["seconds_per_step"])] for v, r in results.items()]
    intro = (f"<p>Four variants of <code>{preset}</code> on the same budget"
             + (f" ({', '.join(overrides)})" if overrides else "") + ". Samples are drawn as "
             "each variant was trained: fresh short-run chains from noise, or replay-buffer "
             f"draws; {num_samples} per variant, scored by the dataset's judge. Curves: "
             "<code>cd</code> is the energy gap E(x+) - E(x-).</p>")
    page = write_report([out / r["run"] for r in results.values()], out / "report.html",
                        title="genzoo EBM initialization study",
                        lead_sections=[Section("Noise vs replay-buffer initialization",
                                               intro + table_html(header, rows))])
    return page


def _ratio(entropy: float | None) -> float | None:
    return None if entropy is None else entropy / math.log(10)
