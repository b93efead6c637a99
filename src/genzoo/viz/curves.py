"""Training curves from ``metrics.jsonl``: one panel per metric, train and validation lines.

Example:
    >>> from genzoo.viz.curves import read_metrics, plot_curves
    >>> recs = read_metrics("runs/clf-digits")                        # doctest: +SKIP
    >>> plot_curves({"clf-digits": recs}, "runs/clf-digits/curves.png")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from genzoo.viz._io import atomic_write_bytes, figure_png_bytes

#: Keys of a metrics line that are coordinates, labels or counters, never plotted as a curve
#: (restarts are drawn as vertical lines instead).
NOT_METRICS = frozenset({"step", "epoch", "time", "split", "event", "reason", "resumed_from",
                         "restarts", "lr_scale"})


def read_metrics(run_dir: str | os.PathLike[str]) -> list[dict]:
    """The records of ``run_dir/metrics.jsonl`` (``[]`` when absent).

    A line that does not parse (the last line of a process killed mid-write) is skipped.
    """
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def metric_keys(records: Sequence[dict]) -> list[str]:
    """Numeric metric names that occur in train or validation records, in first-seen order."""
    keys: dict[str, None] = {}
    for r in records:
        if "event" in r:
            continue
        for k, v in r.items():
            if k not in NOT_METRICS and isinstance(v, (int, float)) and not isinstance(v, bool):
                keys.setdefault(k, None)
    return list(keys)


def _series(records: Sequence[dict], key: str, split: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for r in records:
        value = r.get(key)
        if r.get("split") == split and isinstance(value, (int, float)) and math.isfinite(value):
            xs.append(r["step"])
            ys.append(value)
    return xs, ys


def plot_curves(records_by_run: dict[str, Sequence[dict]], path: str | os.PathLike[str],
                keys: Sequence[str] | None = None) -> Path | None:
    """Plot every metric of several runs against the step and save a PNG.

    Args:
        records_by_run: run name -> its ``metrics.jsonl`` records.
        path: destination PNG (written atomically).
        keys: metrics to plot; default every numeric metric of any run (``lr`` included).

    Train lines are solid and validation lines dashed, one colour per run; restart events are
    vertical dotted lines. A positive metric spanning more than two decades gets a log axis.

    Returns:
        ``path``, or ``None`` when there is nothing to plot.
    """
    if keys is None:
        seen: dict[str, None] = {}
        for records in records_by_run.values():
            for k in metric_keys(records):
                seen.setdefault(k, None)
        keys = list(seen)
    if not keys:
        return None
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.0 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    colours = [f"C{i % 10}" for i in range(len(records_by_run))]
    for ax, key in zip(axes, keys, strict=False):
        values: list[float] = []
        for colour, (run, records) in zip(colours, records_by_run.items(), strict=True):
            label = run if len(records_by_run) > 1 else None
            for split, style in (("train", "-"), ("val", "--")):
                xs, ys = _series(records, key, split)
                if xs:
                    tag = split if label is None else f"{label} ({split})"
                    ax.plot(xs, ys, style, color=colour, label=tag, lw=1.3,
                            marker="o" if len(xs) < 3 else None, ms=3)
                    values += ys
            for r in records:
                if r.get("event") == "restart":
                    ax.axvline(r["step"], color=colour, ls=":", lw=1)
        if values and min(values) > 0 and max(values) / min(values) > 100:
            ax.set_yscale("log")
        ax.set_title(key, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    for ax in axes[len(keys):]:
        ax.set_visible(False)
    return atomic_write_bytes(path, figure_png_bytes(fig))
