"""Sweeps: a preset trained over a grid of settings and seeds, every run evaluated, one report.

``genzoo sweep PRESET key=a,b [key2=c,d ...] [key3=v] [--seeds 0,1]`` trains every point of
the grid (the cartesian product of the comma-separated values) once per seed, evaluates each
run (``genzoo eval``: the method's numbers on the validation split, the judge's scores of its
samples), and writes ``OUT/results.json`` and ``OUT/report.html``: a table of every number's
mean and spread (sample standard deviation) over the seeds per point, the training curves of
all runs overlaid, and their sample grids. A ``key=value`` without a comma (or a YAML list or
mapping, ``key=[0, 1]``) applies to every run. An interrupted sweep resumes: ``genzoo sweep``
with the same arguments continues the unfinished runs from their last checkpoints and keeps the
finished ones (a run saved with other settings is refused).

This is how the "why" and "try several" questions of a study are answered, e.g.
``genzoo sweep clf-mnist model.noise_sigma=0,0.03 --seeds 0,1,2``.

Example:
    >>> page = sweep("clf-digits", ["model.noise_sigma=0,0.03", "train.epochs=1"],
    ...              out="runs/sweep-digits", judge=False, quiet=True)
    >>> results = json.loads((page.parent / "results.json").read_text())
    >>> [p["point"] for p in results["points"]]
    [{'model.noise_sigma': '0'}, {'model.noise_sigma': '0.03'}]
"""

from __future__ import annotations

import itertools
import json
import math
import re
import statistics
from collections.abc import Sequence
from pathlib import Path

from genzoo.analyze.evaluate import evaluate_run
from genzoo.config import resolve_config
from genzoo.errors import UserError
from genzoo.io import atomic_write_text, merge_json
from genzoo.labs.variants import last_train_record, train_variants
from genzoo.viz import Section, write_report
from genzoo.viz.report_sections import table_html


def parse_grid(items: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Split ``key=value`` items into the overrides every run gets and the swept axes
    (``key=a,b,...``: two or more comma-separated values; YAML lists and mappings, which start
    with ``[`` or ``{``, are single values)."""
    fixed: list[str] = []
    axes: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"expected key=value or key=a,b, got {item!r}")
        values = [value] if value[:1] in "[{" else value.split(",")
        if len(values) == 1:
            fixed.append(item)
        elif key in axes or any(not v for v in values):
            raise UserError(f"{item!r}: each swept key once, with non-empty values")
        else:
            axes[key] = values
    return fixed, axes


def _run_name(point: dict[str, str], seed: int) -> str:
    parts = [f"{k.split('.')[-1]}-{v}" for k, v in point.items()] + [f"seed-{seed}"]
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", "_".join(parts))


def _summary(runs: list[dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    """Mean and sample standard deviation (nan for one run) of every number all runs have."""
    keys = [k for k in runs[0] if all(isinstance(r.get(k), int | float) and not
                                      isinstance(r.get(k), bool) for r in runs)]
    mean = {k: statistics.fmean(r[k] for r in runs) for k in keys}
    spread = {k: statistics.stdev([r[k] for r in runs]) if len(runs) > 1 else math.nan
              for k in keys}
    return mean, spread


def sweep(preset: str, items: Sequence[str], *, seeds: Sequence[int] = (0,),
          out: Path | str | None = None, num_samples: int = 1000, judge: bool = True,
          judge_run: Path | str | None = None, quiet: bool = False) -> Path:
    """Train, evaluate and report a grid of a preset's settings over seeds; returns the
    report's path (``results.json`` beside it). See the module docstring."""
    fixed, axes = parse_grid(items)
    seeds = list(dict.fromkeys(seeds))
    if not axes and len(seeds) < 2:
        raise UserError("a sweep needs a key with several values (key=a,b) or several seeds "
                        "(--seeds 0,1)")
    points = [dict(zip(axes, values, strict=True))
              for values in itertools.product(*axes.values())]
    configs, where = {}, {}
    for i, point in enumerate(points):  # every config is checked before anything trains
        for seed in seeds:
            cfg = resolve_config(preset, [*fixed, *(f"{k}={v}" for k, v in point.items()),
                                          f"train.seed={seed}"])
            cfg.name = _run_name(point, seed)
            configs[cfg.name] = cfg
            where[cfg.name] = i
    out = Path(out or f"runs/sweep-{preset}")
    command = "genzoo sweep " + " ".join([preset, *items, "--seeds",
                                          ",".join(map(str, seeds))])
    numbers: dict[str, dict[str, float]] = {}
    for name, _, run in train_variants(configs, out, command, quiet, resume=True):
        evaluated = run / "eval.json"
        newer = evaluated.is_file() and evaluated.stat().st_mtime_ns > \
            (run / "checkpoints" / "last.pt").stat().st_mtime_ns
        before = json.loads(evaluated.read_text()) if newer else {}
        if "sweep/train_minutes" in before:  # finished and evaluated by an earlier sweep
            numbers[name] = before
            continue
        record = last_train_record(run)
        result = evaluate_run(run, num_samples=num_samples, judge=judge, judge_run=judge_run)
        extra = {"sweep/train_minutes": record.get("time", math.nan) / 60,
                 "sweep/final_train_loss": record.get("loss", math.nan)}
        merge_json(evaluated, extra)
        numbers[name] = {**result, **extra}
    summary = []
    for i, point in enumerate(points):
        runs = [n for n in configs if where[n] == i]
        mean, spread = _summary([numbers[n] for n in runs])
        summary.append({"point": point, "runs": runs, "mean": mean, "std": spread})
    atomic_write_text(out / "results.json", json.dumps(
        {"preset": preset, "fixed": fixed, "axes": axes, "seeds": seeds, "points": summary},
        indent=2))
    return _report(out, preset, axes, seeds, summary)


def _report(out: Path, preset: str, axes: dict[str, list[str]], seeds: list[int],
            summary: list[dict]) -> Path:
    keys = [k for k in summary[0]["mean"] if all(k in p["mean"] for p in summary)]
    shown = [k for k in keys if not k.endswith(("_stderr", "/n"))]

    def cell(p: dict, k: str) -> str:
        m, s = p["mean"][k], p["std"][k]
        return f"{m:.4g}" if math.isnan(s) else f"{m:.4g} ± {s:.2g}"

    header = [*axes, *shown]
    rows = [[*p["point"].values(), *(cell(p, k) for k in shown)] for p in summary]
    intro = (f"<p><code>{preset}</code> over {len(summary)} settings x {len(seeds)} seed(s) "
             f"({', '.join(map(str, seeds))}): mean ± sample standard deviation over the "
             "seeds.</p>")
    runs = [out / "runs" / n for p in summary for n in p["runs"]]
    return write_report(runs, out / "report.html", title=f"genzoo sweep {preset}",
                        lead_sections=[Section("Sweep", intro + table_html(header, rows))])
