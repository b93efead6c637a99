"""Pictures and pages: image grids, training curves, 2-D toy views and HTML run reports.

Everything renders with matplotlib's Agg backend through ``Figure`` objects (no pyplot state,
no display needed) and writes files atomically.
"""

from genzoo.io import read_metrics
from genzoo.viz.curves import curves_figure, plot_curves
from genzoo.viz.grid import image_grid, save_image_grid
from genzoo.viz.report import write_report
from genzoo.viz.report_sections import (
    ReportImage,
    Section,
    esc,
    image_from_figure,
    image_from_file,
    table_html,
)
from genzoo.viz.run_data import RunData, load_run, summary_metrics
from genzoo.viz.scatter import density_2d, scatter_2d

__all__ = [
    "ReportImage",
    "RunData",
    "Section",
    "curves_figure",
    "density_2d",
    "esc",
    "image_from_figure",
    "image_from_file",
    "image_grid",
    "load_run",
    "plot_curves",
    "read_metrics",
    "save_image_grid",
    "scatter_2d",
    "summary_metrics",
    "table_html",
    "write_report",
]
