"""The toy-2-D lab's figures and report page (:func:`genzoo.labs.toy2d.compare_toy2d`).

Two figures, datasets in rows: the families' samples over the data with density contours
(:func:`samples_figure`), and the density families' densities (:func:`density_figure`); and
the report (:func:`write_report_page`): the protocol, the figures, one table per dataset and
every run's curves.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from genzoo.metrics.kde import grid_bounds
from genzoo.viz._io import atomic_write_bytes, figure_png_bytes
from genzoo.viz.scatter import relative_density

if TYPE_CHECKING:
    from genzoo.labs.toy2d import DatasetResult, Protocol

CONTOUR_LEVELS = (0.05, 0.25, 0.5, 0.75)  # fractions of a model density's peak


def _grid_axes(bounds: tuple[float, float, float, float], shape: tuple[int, ...]
               ) -> tuple[np.ndarray, np.ndarray]:
    x0, x1, y0, y1 = bounds
    return np.linspace(x0, x1, shape[1]), np.linspace(y0, y1, shape[0])


def _panel(ax, bounds: tuple[float, float, float, float], title: str | None,
           ylabel: str | None) -> None:
    ax.set_xlim(bounds[0], bounds[1])
    ax.set_ylim(bounds[2], bounds[3])
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=9)


def samples_figure(path: Path, results: list[DatasetResult], p: Protocol, shown: int = 600
                   ) -> Path:
    """Datasets x families: model samples (orange) over true samples (blue), with the model's
    density contours (at ``CONTOUR_LEVELS`` of its peak) where the family has a density."""
    families = [row.family for row in results[0].rows] if results else []
    rows, cols = len(results), len(families) + 1
    fig = Figure(figsize=(2.2 * cols, 2.2 * rows), layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False))
    for i, result in enumerate(results):
        truth = result.data[:shown]
        bounds = grid_bounds(result.data, p.grid_margin)
        for j, name in enumerate(["data", *families]):
            ax = axes[i, j]
            ax.scatter(truth[:, 0], truth[:, 1], s=1, c="C0", alpha=0.4, rasterized=True)
            if name != "data":
                pts = result.samples[name][:shown]
                pts = pts[np.isfinite(pts).all(axis=1)]
                ax.scatter(pts[:, 0], pts[:, 1], s=1, c="C1", alpha=0.6, rasterized=True)
            if name in result.densities:
                density = relative_density(result.densities[name])
                if density.max() > density.min():
                    ax.contour(*_grid_axes(bounds, density.shape), density,
                               levels=list(CONTOUR_LEVELS), colors="k", linewidths=0.5,
                               alpha=0.7)
            _panel(ax, bounds, name if i == 0 else None, result.dataset if j == 0 else None)
    return atomic_write_bytes(path, figure_png_bytes(fig, dpi=110))


def density_figure(path: Path, results: list[DatasetResult], p: Protocol) -> Path | None:
    """Datasets x density families: each model's density relative to its peak (EBM: exp(-E),
    unnormalised), with the true samples in white; None when no family has a density."""
    families = [row.family for row in results[0].rows
                if any(row.family in r.densities for r in results)] if results else []
    if not families:
        return None
    fig = Figure(figsize=(2.2 * len(families), 2.2 * len(results)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(results), len(families), squeeze=False))
    for i, result in enumerate(results):
        bounds = grid_bounds(result.data, p.grid_margin)
        for j, name in enumerate(families):
            ax = axes[i, j]
            if name in result.densities:
                ax.imshow(relative_density(result.densities[name]), origin="lower",
                          extent=bounds, cmap="viridis", aspect="auto")
            truth = result.data[:300]
            ax.scatter(truth[:, 0], truth[:, 1], s=0.5, c="white", alpha=0.5, rasterized=True)
            _panel(ax, bounds, name if i == 0 else None, result.dataset if j == 0 else None)
    return atomic_write_bytes(path, figure_png_bytes(fig, dpi=110))


def write_report_page(out: Path, results: list[DatasetResult], p: Protocol,
                      figures: list[tuple[Path, str]]) -> Path:
    """``out / "report.html"``: the protocol, the figures (path, caption; the samples figure
    first, then the densities), one table per dataset (the reference row first) and the curves
    of every run under ``out``; returns its path."""
    from genzoo.viz import Section, write_report
    from genzoo.viz.report_sections import fixed_decimals as fx
    from genzoo.viz.report_sections import image_from_file, table_html

    protocol = (
        f"<p>Each family trains its <code>&lt;family&gt;-toy</code> preset on {p.n_train} "
        f"points of each dataset (seed {p.seed}); {p.n_holdout} hold-out points come from an "
        f"independent stream. Every model draws N = {p.n_samples} samples. <b>KDE-LL</b>: mean "
        f"log-density of the hold-out points under a Gaussian KDE of the samples "
        f"(scipy <code>gaussian_kde</code>, bandwidth rule '{p.bandwidth}'). <b>BC / BD</b>: "
        f"Bhattacharyya coefficient and distance (-ln BC) between KDEs of the samples and of N "
        f"fresh true samples, on a {p.grid_resolution}x{p.grid_resolution} grid over the "
        f"data's extent plus {p.grid_margin:.0%} margins. <b>exact LL</b>: mean hold-out "
        f"log-likelihood where the family has one (CNF and RealNVP exact; VAE importance-"
        f"sampled). The <b>reference</b> row is the same metrics for N fresh samples of the true "
        f"generator: the limit no model can beat by more than noise.</p>")
    sections = [Section("Protocol", protocol),
                Section("Samples (orange) over data (blue)", "",
                        [image_from_file(path, caption) for path, caption in figures[:1]])]
    if len(figures) > 1:
        sections.append(Section("Model densities", "",
                                [image_from_file(path, caption) for path, caption in figures[1:]]))
    header = ["family", "KDE-LL", "gap to reference", "BC", "BD", "exact LL", "train s",
              "non-finite"]
    for r in results:
        rows = [[x.family, fx(x.kde_ll), fx(r.reference.kde_ll - x.kde_ll), fx(x.bc), fx(x.bd),
                 fx(x.exact_ll), fx(x.train_seconds, 1), x.non_finite]
                for x in [r.reference, *r.rows]]
        sections.append(Section(f"{r.dataset}", table_html(header, rows)))
    runs = [out / row.run for r in results for row in r.rows]
    return write_report(runs, out / "report.html", title="genzoo toy-2-D comparison",
                        lead_sections=sections)
