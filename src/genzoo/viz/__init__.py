"""Pictures and pages: image grids, 2-D scatter/density plots, curves, HTML reports."""

from genzoo.viz.curves import plot_curves, read_metrics
from genzoo.viz.grid import image_grid, save_image_grid
from genzoo.viz.report import Section, write_report
from genzoo.viz.scatter import density_2d, scatter_2d

__all__ = ["Section", "density_2d", "image_grid", "plot_curves", "read_metrics",
           "save_image_grid", "scatter_2d", "write_report"]
