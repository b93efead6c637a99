"""Small helpers shared by the viz modules: PNG encoding of figures, atomic writes."""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from genzoo.io import atomic_write_bytes

__all__ = ["atomic_write_bytes", "figure_png_bytes"]


def figure_png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """Render a matplotlib :class:`~matplotlib.figure.Figure` to PNG bytes with the Agg backend.

    No pyplot state is touched, so this works without a display and from any thread.
    """
    FigureCanvasAgg(fig)  # attaches itself as fig.canvas
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
