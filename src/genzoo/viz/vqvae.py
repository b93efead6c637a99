"""Figures of a VQ-VAE: reconstructions of test images, and how often each code is used.

Example:
    >>> from genzoo.data import load_dataset
    >>> quick = ["data.limit=64", "data.val_limit=64", "train.steps=2"]   # a 2-step run
    >>> vq = genzoo.load(genzoo.train("vqvae-mnist", quick, quiet=True))
    >>> test = load_dataset("mnist", "test").subset(slice(0, 100))
    >>> figures = vqvae_figures(vq, Path("figures"), test)               # {file name: caption}
    >>> sorted(figures)
    ['codebook-usage.png', 'reconstructions.png']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from genzoo.data.base import Dataset
from genzoo.metrics.classification import apply_in_batches
from genzoo.viz._io import atomic_write_bytes, figure_png_bytes
from genzoo.viz.grid import save_image_grid


def code_counts(method: Any, data: Dataset, batch_size: int = 500) -> np.ndarray:
    """How many latent cells of ``data`` are assigned to each code: (K,) int64."""
    codes = apply_in_batches(method, data, method.encode, batch_size)
    return np.bincount(codes.flatten().numpy(), minlength=method.cfg.codebook_size)


@torch.no_grad()
def vqvae_figures(method: Any, out_dir: Path, test: Dataset, columns: int = 10,
                  rows: int = 10, limit: int = 10000) -> dict[str, str]:
    """Write ``reconstructions.png`` (``rows / 2`` rows of test images, each followed by their
    reconstructions dec(z_q(x))) and ``codebook-usage.png`` (the fraction of the first
    ``limit`` test items' latent cells taken by each code, codes sorted by use, with the
    perplexity); returns ``{file name: caption}``."""
    method.eval()
    pairs = rows // 2 * columns
    x = method.prepare(test.x[:pairs].to(method.device)).x
    recon = method.reconstruct(x)
    lines = [t for r in range(0, len(x), columns) for t in (x[r:r + columns],
                                                             recon[r:r + columns])]
    save_image_grid(torch.cat(lines).cpu(), out_dir / "reconstructions.png", nrow=columns,
                    value_range=method.data_range)
    counts = code_counts(method, test.subset(slice(0, limit)))
    freq = np.sort(counts / max(counts.sum(), 1))[::-1]
    p = freq[freq > 0]
    perplexity = float(np.exp(-(p * np.log(p)).sum()))
    fig = Figure(figsize=(7, 3))
    ax = fig.add_subplot()
    ax.bar(np.arange(len(freq)), freq, width=1.0, color="tab:blue")
    ax.set_xlabel("code (sorted by use)")
    ax.set_ylabel("fraction of cells")
    ax.set_title(f"{int((counts > 0).sum())} of {len(counts)} codes used, "
                 f"perplexity {perplexity:.1f}")
    fig.tight_layout()
    atomic_write_bytes(out_dir / "codebook-usage.png", figure_png_bytes(fig))
    h, w = method.grid
    return {"reconstructions.png": f"test images (odd rows) and their reconstructions from "
                                   f"the {h}x{w} code grid (the row below each)",
            "codebook-usage.png": f"codebook usage over {min(limit, len(test.x))} test items "
                                  f"({h * w} cells each)"}
