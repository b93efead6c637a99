"""Self-contained HTML reports of one or more runs (``genzoo report RUN [RUN ...]``).

The page embeds every image as a ``data:`` URI and carries its CSS inline, so the single file can
be mailed or archived. It shows the command, a metrics table (final training numbers, final and
best validation numbers, ``eval.json``), training curves, restart events, the config, sample
grids and method figures. Later features add their own :class:`Section` s (e.g. the toy-2-D
comparison, JEM analyses).

Example:
    >>> from genzoo.viz.report import write_report
    >>> write_report([Path("runs/clf-digits")])          # doctest: +SKIP
    PosixPath('runs/clf-digits/report.html')
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from genzoo.atomic import atomic_write_text
from genzoo.viz.curves import metric_keys, plot_curves, read_metrics


@dataclass
class Section:
    """A block of the report: a title, a trusted HTML fragment, and captioned PNG images.

    ``html`` is inserted as is (escape user text with :func:`html.escape`); ``images`` are
    ``(caption, PNG path or bytes)`` pairs, embedded as data URIs.
    """

    title: str
    html: str = ""
    images: list[tuple[str, Path | bytes]] = field(default_factory=list)


CSS = """
body{font-family:system-ui,-apple-system,sans-serif;margin:2rem auto;max-width:1100px;
color:#1d1d1f;padding:0 1rem}h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;
border-bottom:1px solid #ddd;padding-bottom:.3rem}table{border-collapse:collapse;
font-size:.85rem;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .5rem;
text-align:right}th{background:#f5f5f7}td:first-child,th:first-child{text-align:left}
code,pre{background:#f5f5f7;border-radius:4px}pre{padding:.6rem;overflow:auto;font-size:.8rem}
figure{display:inline-block;margin:.5rem;vertical-align:top}figcaption{font-size:.8rem;
color:#555;text-align:center}img{max-width:100%;image-rendering:pixelated}
.muted{color:#777;font-size:.85rem}
"""

# Counts images that loaded, for people (console) and for the browser test (data attributes).
SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.dataset.imagesTotal = String(imgs.length);
  document.body.dataset.imagesLoaded = String(ok);
});
"""


def _img(source: Path | bytes, caption: str) -> str:
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    alt = html.escape(caption, quote=True)
    return (f'<figure><img src="{uri}" alt="{alt}"><figcaption>{html.escape(caption)}'
            "</figcaption></figure>")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return html.escape(str(value))


def _read_yaml(path: Path) -> dict:
    try:
        raw = yaml.safe_load(path.read_text()) if path.is_file() else None
    except yaml.YAMLError:
        return {}
    return raw if isinstance(raw, dict) else {}


def _read_json(path: Path) -> dict:
    try:
        raw = json.loads(path.read_text()) if path.is_file() else None
    except json.JSONDecodeError:
        return {}
    return raw if isinstance(raw, dict) else {}


def summary_numbers(run_dir: Path, records: Sequence[dict]) -> dict[str, object]:
    """The run's headline numbers: last train values, last and best val values, eval.json."""
    out: dict[str, object] = {}
    train = [r for r in records if r.get("split") == "train"]
    val = [r for r in records if r.get("split") == "val"]
    if train:
        out["step"] = train[-1].get("step")
        for key in metric_keys(train):
            if key in train[-1]:
                out[f"train/{key}"] = train[-1][key]
    restarts = sum(r.get("event") == "restart" for r in records)
    if restarts:
        out["restarts"] = restarts
    if val:
        for key in metric_keys(val):
            if key in val[-1]:
                out[f"val/{key}"] = val[-1][key]
    for key, value in _read_json(run_dir / "eval.json").items():
        if isinstance(value, (int, float, str)):
            out[f"eval {key}"] = value
    return out


def _table(rows: dict[str, dict[str, object]]) -> str:
    columns: dict[str, None] = {}
    for numbers in rows.values():
        for key in numbers:
            columns.setdefault(key, None)
    if not columns:
        return '<p class="muted">No metrics recorded yet.</p>'
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["run", *columns])
    body = "".join(
        "<tr>" + f"<td>{html.escape(run)}</td>" +
        "".join(f"<td>{_fmt(numbers.get(c, ''))}</td>" for c in columns) + "</tr>"
        for run, numbers in rows.items())
    return f"<table><tr>{head}</tr>{body}</table>"


def _pngs(folder: Path) -> list[Path]:
    """PNG files of a folder, oldest first (so the final grid comes last)."""
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.png"), key=lambda p: (p.stat().st_mtime_ns, p.name))


def _run_section(run_dir: Path, config: dict, records: Sequence[dict]) -> str:
    parts = [f"<h2>{html.escape(run_dir.name)}</h2>"]
    command = config.get("command")
    if command:
        parts.append(f"<p>Command: <code>{html.escape(str(command))}</code></p>")
    restarts = [r for r in records if r.get("event") == "restart"]
    if restarts:
        items = "".join(
            f"<li>step {_fmt(r.get('step'))}: {html.escape(str(r.get('reason', '')))}, "
            f"rolled back to step {_fmt(r.get('resumed_from', '?'))}</li>" for r in restarts)
        parts.append(f"<p>Divergence guard restarts:</p><ul>{items}</ul>")
    shown = {k: v for k, v in config.items() if k != "command"}
    if shown:
        parts.append("<details><summary>Config</summary><pre>"
                     f"{html.escape(yaml.safe_dump(shown, sort_keys=False))}</pre></details>")
    samples = _pngs(run_dir / "samples")
    if samples:
        parts.append("<h3>Samples</h3>" + "".join(_img(p, p.stem) for p in samples))
    captions = _read_json(run_dir / "figures" / "captions.json")
    figures = _pngs(run_dir / "figures")
    if figures:
        parts.append("<h3>Figures</h3>" + "".join(
            _img(p, str(captions.get(p.name, p.stem))) for p in figures))
    return "\n".join(parts)


def write_report(run_dirs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str] |
                 None = None, *, title: str | None = None,
                 extra_sections: Sequence[Section] = ()) -> Path:
    """Write a self-contained HTML report of one or more runs.

    Args:
        run_dirs: run directories (files that are missing are left out of the page).
        out: the HTML path; default ``run_dir/report.html`` for one run (required for several).
        title: page title; default from the run names.
        extra_sections: more sections, after the summary and curves.

    Returns:
        The path written (atomically).
    """
    runs = [Path(r) for r in run_dirs]
    if not runs:
        raise ValueError("write_report needs at least one run directory")
    if out is None:
        if len(runs) > 1:
            raise ValueError("several runs need an explicit output path")
        out = runs[0] / "report.html"
    names = [r.name for r in runs]
    if len(set(names)) < len(names):  # same name under different parents
        names = [str(r) for r in runs]
    configs = {n: _read_yaml(r / "config.yaml") for n, r in zip(names, runs, strict=True)}
    records = {n: read_metrics(r) for n, r in zip(names, runs, strict=True)}
    title = title or "genzoo report: " + ", ".join(names)

    body = [f"<h1>{html.escape(title)}</h1>"]
    methods = ", ".join(sorted({str(c.get("method", "?")) for c in configs.values()}))
    body.append(f'<p class="muted">method: {html.escape(methods)}</p>')
    body.append("<h2>Metrics</h2>")
    body.append(_table({n: summary_numbers(r, records[n])
                        for n, r in zip(names, runs, strict=True)}))
    with tempfile.TemporaryDirectory() as tmp:
        curves = plot_curves(records, Path(tmp) / "curves.png")
        if curves is not None:
            body.append("<h2>Training curves</h2>" + _img(curves, "solid: train, dashed: "
                        "validation, dotted: divergence-guard restarts"))
    for section in extra_sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>{section.html}")
        body.extend(_img(img, caption) for caption, img in section.images)
    for name, run in zip(names, runs, strict=True):
        body.append(_run_section(run, configs[name], records[name]))
    page = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            + "\n".join(body) + f"<script>{SCRIPT}</script></body></html>\n")
    return atomic_write_text(out, page)
