"""Self-contained HTML report of one run, or a comparison of several.

The page has no external resources at all: images are ``data:image/png;base64`` URIs, CSS and
the one script are inline, and a Content-Security-Policy forbids anything else. It can be mailed,
attached to an issue, or opened from a copied folder.

Example:
    >>> from genzoo.viz import write_report
    >>> a = genzoo.train("clf-digits", ["train.epochs=1"], quiet=True)
    >>> b = genzoo.train("clf-digits", ["train.epochs=1", "model.noise_sigma=0.0"], quiet=True)
    >>> print(write_report(a))                                   # the run's own page
    runs/clf-digits/report.html
    >>> print(write_report([a, b], out="compare.html"))          # one page comparing both
    compare.html
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genzoo.viz._io import atomic_write_bytes
from genzoo.viz.curves import curves_png, metric_keys
from genzoo.viz.report_sections import (
    ReportImage,
    Section,
    esc,
    format_value,
    gallery_html,
    section_html,
    table_html,
)
from genzoo.viz.run_data import RunData, flatten_mapping, load_run, summary_metrics

_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'")

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
 max-width:1200px;padding:1rem 2rem;color:#1d1d1f;line-height:1.4}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
.sub{color:#555;margin-top:0}nav a{margin-right:1rem}
pre{background:#f5f5f7;padding:.6rem;overflow-x:auto;font-size:.85rem}
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .6rem;text-align:right;white-space:nowrap;
 font-variant-numeric:tabular-nums}th{background:#f5f5f7}
td:first-child,th:first-child{text-align:left}
ul.runs{padding-left:1.2rem}
.gallery{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}
figure{margin:0}figcaption{font-size:.85rem;color:#555;text-align:center}
img{max-width:100%;height:auto}img.pixelated{image-rendering:pixelated}
.note{color:#a15c00}footer{margin-top:3rem;color:#888;font-size:.8rem}
"""

# Counts images that decoded (naturalWidth > 0) once the window's load event says every image
# has settled; headless-browser tests read the two numbers from <body data-...>.
_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; }
  }
  document.body.dataset.imagesLoaded = String(ok);
  document.body.dataset.imagesTotal = String(imgs.length);
});
"""


def _unique_names(paths: list[Path]) -> list[str]:
    """Directory names, prefixed with their parent where two runs share a name."""
    names = [p.resolve().name for p in paths]
    out = []
    for p, n in zip(paths, names, strict=True):
        out.append(f"{p.resolve().parent.name}/{n}" if names.count(n) > 1 else n)
    return [f"{n} ({i + 1})" if out.count(n) > 1 else n for i, n in enumerate(out)]


def _runs_list(runs: list[RunData]) -> str:
    """One line per run: name, method and the command that made it."""
    items = []
    for run in runs:
        method = f" &middot; {esc(run.method)}" if run.method else ""
        cmd = f": <code>{esc(run.command)}</code>" if run.command else ""
        items.append(f"<li><b>{esc(run.name)}</b>{method}{cmd}</li>")
    return f'<ul class="runs">{"".join(items)}</ul>'


def _metrics_section(runs: list[RunData]) -> Section:
    summaries = [summary_metrics(r) for r in runs]
    if not any(summaries):
        return Section("Metrics", "<p>No metrics recorded yet.</p>")
    if len(runs) == 1:
        return Section("Metrics", table_html(["metric", "value"], list(summaries[0].items())))
    keys = list(dict.fromkeys(k for s in summaries for k in s))
    rows = [[r.name, *(s.get(k, "") for k in keys)] for r, s in zip(runs, summaries, strict=True)]
    return Section("Metrics", table_html(["run", *keys], rows))


def _curves_section(runs: list[RunData]) -> Section:
    by_run = {r.name: r.records for r in runs if r.records}
    if not metric_keys([rec for recs in by_run.values() for rec in recs]):
        return Section("Training curves", "<p>No metrics recorded yet.</p>")
    caption = "solid: train, dashed: validation, vertical dashed: divergence-guard restarts"
    # runs that log once per epoch (train.log_every: epoch) are drawn against epochs
    per_epoch = all(((r.config or {}).get("train") or {}).get("log_every") == "epoch"
                    for r in runs if r.records)
    x = "epoch" if per_epoch else "step"
    return Section("Training curves", images=[ReportImage(curves_png(by_run, x=x), caption)])


def _event_text(e: dict[str, Any]) -> str:
    text = f"step {format_value(e.get('step', '?'))}: {e.get('event')}"
    if e.get("reason"):
        text += f": {e['reason']}"
    if "resumed_from" in e:
        text += f", rolled back to step {format_value(e['resumed_from'])}"
    if "lr_scale" in e:
        text += f", learning rate x{format_value(e['lr_scale'])}"
    if "restarts" in e:
        text += f" (restart {format_value(e['restarts'])})"
    return text


def _events_section(runs: list[RunData]) -> Section:
    parts = []
    for run in runs:
        if run.events:
            items = "".join(f"<li>{esc(_event_text(e))}</li>" for e in run.events)
            head = f"<h3>{esc(run.name)}</h3>" if len(runs) > 1 else ""
            parts.append(f"{head}<ul>{items}</ul>")
    return Section("Restarts and events", "".join(parts) or "<p>None.</p>")


def _config_diff_section(runs: list[RunData]) -> Section | None:
    """Table of the config keys whose values differ between runs (None for one run)."""
    if len(runs) < 2:
        return None
    configs = [flatten_mapping(r.config or {}) for r in runs]
    keys = list(dict.fromkeys(k for c in configs for k in c))
    differ = [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1 and k != "command"]
    if not differ:
        return Section("Config differences", "<p>The configs are identical.</p>")
    rows = [[r.name, *(c.get(k, "") for k in differ)] for r, c in zip(runs, configs, strict=True)]
    return Section("Config differences", table_html(["run", *differ], rows))


def _run_section(run: RunData) -> Section:
    """Everything specific to one run: where it is, config, problems, samples, figures."""
    parts = [f'<p class="sub">{esc(run.path)}</p>']
    if run.command:
        parts.append(f"<p>Command:</p><pre><code>{esc(run.command)}</code></pre>")
    if run.config_text is not None:
        parts.append("<details><summary>Config (config.yaml)</summary>"
                     f"<pre>{esc(run.config_text)}</pre></details>")
    parts.extend(f'<p class="note">{esc(n)}</p>' for n in run.notes)
    for title, images in (("Samples", run.samples), ("Figures", run.figures)):
        parts.append(f"<h3>{title}</h3>")
        parts.append(gallery_html(images) if images else "<p>None.</p>")
    return Section(run.name, "".join(parts))


def write_report(
    run_dirs: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    extra_sections: Sequence[Section] = (),
    lead_sections: Sequence[Section] = (),
    title: str | None = None,
) -> Path:
    """Write a self-contained ``report.html`` for one run, or one page comparing several.

    Layout: the title and one line per run (method, command); ``lead_sections`` (a study's own
    headline tables and figures); then the sections Metrics (see
    :func:`genzoo.viz.run_data.summary_metrics`; one run: one row per metric, several: one row
    per run, one column per metric), Training curves, Restarts and events, Config differences
    (several runs only), ``extra_sections`` in order, and finally one section per run, headed by
    its name, with its path, command, config (collapsible), any problem found in its files,
    sample grids (``samples/*.png``, ``step-N`` by N, then names without a number such as
    ``final.png``) and figures (``figures/*.png``, captioned from ``figures/captions.json``).
    A missing or unreadable file is noted on the page, never raised.

    Args:
        run_dirs: one or more ``runs/<name>`` directories.
        out: the HTML file; defaults to ``<run_dir>/report.html`` for a single run and is
            required for several.
        extra_sections: further sections after the generic ones, e.g. JEM analyses.
        lead_sections: sections shown first, before the generic metrics (e.g. the toy-2-D
            comparison's protocol and tables).
        title: page title; default ``"genzoo report: <names>"``.

    Returns:
        The path written (atomically: temp file + ``os.replace``).

    Raises:
        UserError: a run directory does not exist.
        ValueError: no run given, or several runs without ``out``.
    """
    if isinstance(run_dirs, str | os.PathLike):
        run_dirs = [run_dirs]
    paths = [Path(p) for p in run_dirs]
    if not paths:
        raise ValueError("write_report needs at least one run directory")
    if out is None and len(paths) > 1:
        raise ValueError("several runs need an explicit output path (`out`)")
    runs = [load_run(p, name) for p, name in zip(paths, _unique_names(paths), strict=True)]
    out_path = Path(out) if out is not None else paths[0] / "report.html"

    names = ", ".join(r.name for r in runs)
    title = title or f"genzoo report: {names}"
    sections = [
        *lead_sections,
        _metrics_section(runs),
        _curves_section(runs),
        _events_section(runs),
        _config_diff_section(runs),
        *extra_sections,
        *(_run_section(r) for r in runs),
    ]
    shown = [s for s in sections if s is not None]
    anchors = [f"s{i}" for i in range(len(shown))]
    nav = " ".join(f'<a href="#{a}">{esc(s.title)}</a>' for a, s in zip(anchors, shown,
                                                                         strict=True))
    when = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head>\n<body>"
        f"<h1>{esc(title)}</h1>{_runs_list(runs)}<nav>{nav}</nav>\n"
        + "\n".join(section_html(s, a) for s, a in zip(shown, anchors, strict=True))
        + f"\n<footer>Written by genzoo.viz.write_report at {esc(when)}.</footer>"
        f"<script>{_SCRIPT}</script></body></html>\n"
    )
    return atomic_write_bytes(out_path, page.encode("utf-8"))

