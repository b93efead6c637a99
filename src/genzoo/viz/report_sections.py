"""Building blocks of the HTML report, for code that adds its own sections.

A :class:`Section` is a title, an HTML fragment and a list of embedded images. Pass a list of
them to :func:`genzoo.viz.write_report` as ``extra_sections``; they appear after the built-in
ones, in order. Every image is embedded as a ``data:image/png;base64`` URI, so the page stays
self-contained.

Example:
    >>> from matplotlib.figure import Figure
    >>> from genzoo.viz import Section, image_from_figure, table_html, write_report
    >>> fig = Figure(figsize=(3, 3))
    >>> _ = fig.add_subplot().plot([0, 1], [0, 1], "--")
    >>> sec = Section(
    ...     title="Calibration",
    ...     html=table_html(["bin", "accuracy"], [[0.1, 0.12], [0.9, 0.87]]),
    ...     images=[image_from_figure(fig, caption="reliability diagram")],
    ... )
    >>> run = genzoo.train("clf-digits", ["train.epochs=1"], quiet=True)
    >>> print(write_report(run, extra_sections=[sec]))
    runs/clf-digits/report.html
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.figure import Figure
from PIL import Image

from genzoo.viz._io import figure_png_bytes

#: Images narrower than this (sample grids of small images) are shown upscaled by an integer
#: factor with nearest-neighbour rendering, so 8x8 digits stay visible and sharp.
MIN_DISPLAY_WIDTH = 320


@dataclass(frozen=True)
class ReportImage:
    """One PNG to embed in the report.

    Attributes:
        png: the PNG file's bytes.
        caption: text under the image (escaped when rendered).
    """

    png: bytes
    caption: str = ""


@dataclass(frozen=True)
class Section:
    """A report section.

    Attributes:
        title: heading text (escaped when rendered).
        html: an HTML fragment inserted verbatim, so it must be built from escaped text (use
            :func:`esc`, :func:`table_html`); it must not reference external resources.
        images: images shown after ``html``, as a gallery.
    """

    title: str
    html: str = ""
    images: Sequence[ReportImage] = field(default_factory=tuple)


def esc(value: object) -> str:
    """``html.escape(str(value))``: the only way text should enter the page."""
    return html.escape(str(value), quote=True)


def fixed_decimals(value: float | None, digits: int = 3) -> str:
    """A table cell with a fixed number of decimals (e.g. nats), "—" for a missing value."""
    if value is None:
        return "—"
    return f"{value:.{digits}f}" if math.isfinite(value) else str(value)


def format_value(value: object) -> str:
    """Short text for a table cell: floats with 4 significant digits, ints as they are."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def image_from_file(path: str | os.PathLike[str], caption: str | None = None) -> ReportImage:
    """Read a PNG file into a :class:`ReportImage`; the caption defaults to the file name.

    Raises:
        ValueError: the file is not a readable image.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
    except Exception as e:  # PIL raises many types for a corrupt or partial file
        raise ValueError(f"{path}: not a readable image ({e})") from e
    return ReportImage(data, path.name if caption is None else caption)


def image_from_figure(fig: Figure, caption: str = "", dpi: int = 100) -> ReportImage:
    """Render a matplotlib :class:`~matplotlib.figure.Figure` (Agg) into a :class:`ReportImage`."""
    return ReportImage(figure_png_bytes(fig, dpi=dpi), caption)


def img_html(image: ReportImage, alt: str | None = None) -> str:
    """``<figure>`` with the image as a data URI and its caption.

    Images narrower than :data:`MIN_DISPLAY_WIDTH` are shown upscaled by an integer factor,
    pixelated (sample grids of 8x8 or 28x28 images).
    """
    uri = "data:image/png;base64," + base64.b64encode(image.png).decode("ascii")
    try:
        with Image.open(io.BytesIO(image.png)) as im:
            width = im.size[0]
    except Exception:  # not decodable here: let the browser show it as it can
        width = 0
    extra = ""
    if 0 < width < MIN_DISPLAY_WIDTH:
        extra = (' class="pixelated" '
                 f'style="width:{width * math.ceil(MIN_DISPLAY_WIDTH / width)}px"')
    caption = f"<figcaption>{esc(image.caption)}</figcaption>" if image.caption else ""
    alt_text = esc(image.caption if alt is None else alt)
    return f'<figure><img src="{uri}" alt="{alt_text}"{extra}>{caption}</figure>'


def gallery_html(images: Sequence[ReportImage]) -> str:
    """Images side by side, wrapping."""
    return '<div class="gallery">' + "".join(img_html(im) for im in images) + "</div>"


def table_html(header: Sequence[object], rows: Sequence[Sequence[object]]) -> str:
    """A table; every cell is formatted with :func:`format_value` and escaped.

    The report's CSS left-aligns the first column and right-aligns the others.
    """
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = ["<tr>" + "".join(f"<td>{esc(format_value(v))}</td>" for v in row) + "</tr>"
            for row in rows]
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def section_html(section: Section, anchor: str) -> str:
    """Render a :class:`Section` as ``<section id=anchor>``."""
    parts = [f'<section id="{esc(anchor)}"><h2>{esc(section.title)}</h2>', section.html]
    if section.images:
        parts.append(gallery_html(section.images))
    parts.append("</section>")
    return "".join(parts)
