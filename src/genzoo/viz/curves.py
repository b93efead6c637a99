"""Training curves from ``metrics.jsonl``: read the log, plot one panel per metric.

Example:
    >>> from genzoo.viz import read_metrics, plot_curves
    >>> run = genzoo.train("clf-digits", ["train.epochs=1"], quiet=True)
    >>> recs = read_metrics(run)                                    # list of dicts
    >>> [(r["step"], r["split"]) for r in recs]                     # log_every 10, 22 steps
    [(10, 'train'), (20, 'train'), (22, 'train'), (22, 'val')]
    >>> print(plot_curves({"clf-digits": recs}, run / "curves.png"))
    runs/clf-digits/curves.png
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from matplotlib.figure import Figure

from genzoo.viz._io import atomic_write_bytes, figure_png_bytes

#: Keys of a log line that are coordinates, labels or counters, never plotted as a metric
#: (restart events, with their ``resumed_from``/``lr_scale``, are drawn as vertical lines).
NON_METRIC_KEYS = frozenset({"step", "epoch", "time", "cpu_time", "split", "event", "reason",
                             "restarts", "resumed_from", "lr_scale"})




def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def metric_keys(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Numeric keys of the non-event records, in order of first appearance, ``loss`` first."""
    keys: dict[str, None] = {}
    for rec in records:
        if "event" in rec:
            continue
        for k, v in rec.items():
            if k not in NON_METRIC_KEYS and _is_number(v):
                keys.setdefault(k)
    out = list(keys)
    return sorted(out, key=lambda k: k != "loss")


def _use_log_scale(key: str, values: list[float]) -> bool:
    """Log y for a loss whose finite values are all positive and span more than 2 decades."""
    finite = [v for v in values if math.isfinite(v)]
    return (
        "loss" in key
        and bool(finite)
        and min(finite) > 0
        and max(finite) / min(finite) > 100.0
    )


def curves_figure(
    records_by_run: Mapping[str, Sequence[Mapping[str, Any]]],
    keys: Sequence[str] | None = None,
    x: Literal["step", "epoch"] = "step",
) -> Figure:
    """Build the curves figure: one panel per metric, x = step (or epoch).

    Each run gets one colour; its train split is a solid line, val a dashed line with markers
    (other splits dotted). Restart events (``{"event": "restart", "step": ...}``) are vertical
    dashed lines: red for a single run, in the run's colour when several are overlaid.

    Args:
        records_by_run: run name -> records as returned by :func:`read_metrics`.
        keys: metrics to plot; default every numeric key except :data:`NON_METRIC_KEYS`.
        x: the horizontal axis, the log lines' ``step`` or ``epoch`` (e.g. runs with
            ``train.log_every: epoch``).
    """
    all_records = [r for recs in records_by_run.values() for r in recs]
    keys = list(keys) if keys is not None else metric_keys(all_records)
    ncols = max(1, min(3, len(keys)))
    nrows = max(1, math.ceil(len(keys) / ncols))
    fig = Figure(figsize=(4.6 * ncols, 3.3 * nrows), layout="constrained")
    if not keys:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no metrics logged yet", ha="center", va="center")
        ax.set_axis_off()
        return fig

    colours = [f"C{i % 10}" for i in range(len(records_by_run))]
    single = len(records_by_run) == 1
    for p, key in enumerate(keys):
        ax = fig.add_subplot(nrows, ncols, p + 1)
        values: list[float] = []
        for colour, (run, recs) in zip(colours, records_by_run.items(), strict=True):
            splits: dict[str, list[tuple[float, float]]] = {}
            for r in recs:
                if "event" not in r and _is_number(r.get(key)) and _is_number(r.get(x)):
                    splits.setdefault(str(r.get("split", "train")), []).append(
                        (float(r[x]), float(r[key]))
                    )
            for split, pts in splits.items():
                # log order, not sorted: a restart that rolls back shows as a step back
                xs, ys = zip(*pts, strict=True)
                values.extend(ys)
                style = {"train": "-", "val": "--"}.get(split, ":")
                ax.plot(
                    xs, ys, style, color=colour, linewidth=1.3,
                    marker="o" if split != "train" else None, markersize=3,
                    label=split if single else f"{run} {split}",
                )
            for r in recs:
                if r.get("event") == "restart" and _is_number(r.get(x)):
                    ax.axvline(float(r[x]), color="tab:red" if single else colour,
                               linestyle="--", linewidth=0.9,
                               alpha=0.7, label="restart" if single else f"{run} restart")
        if _use_log_scale(key, values):
            ax.set_yscale("log")
        ax.set_title(key)
        ax.set_xlabel(x)
        ax.grid(True, alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))  # one "restart" entry per run
        if unique:
            ax.legend(unique.values(), unique.keys(), fontsize=7)
    return fig


def curves_png(
    records_by_run: Mapping[str, Sequence[Mapping[str, Any]]],
    keys: Sequence[str] | None = None,
    x: Literal["step", "epoch"] = "step",
) -> bytes:
    """PNG bytes of :func:`curves_figure` (for embedding without a file)."""
    return figure_png_bytes(curves_figure(records_by_run, keys, x))


def plot_curves(
    records_by_run: Mapping[str, Sequence[Mapping[str, Any]]],
    path: str | os.PathLike[str],
    keys: Sequence[str] | None = None,
    x: Literal["step", "epoch"] = "step",
) -> Path | None:
    """Plot training curves of one or several runs into a PNG (written atomically).

    Args:
        records_by_run: run name -> records from :func:`read_metrics`; several runs are overlaid
            with a legend.
        path: destination ``.png``.
        keys: metrics to plot; default all numeric metric keys found.
        x: the horizontal axis, ``step`` or ``epoch``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`, or ``None`` (nothing written) when there is no
        metric to plot.
    """
    if keys is None:
        keys = metric_keys([r for recs in records_by_run.values() for r in recs])
    if not keys:
        return None
    return atomic_write_bytes(path, curves_png(records_by_run, keys, x))
