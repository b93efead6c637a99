"""Energy views of an image EBM: its replay buffer, and energies of data, samples and noise.

Example:
    >>> from genzoo.data import load_dataset
    >>> quick = ["data.limit=64", "data.val_limit=64", "train.steps=1", "model.sampler.steps=2",
    ...          "train.num_samples=4"]                                   # a 1-step run
    >>> ebm = genzoo.load(genzoo.train("ebm-mnist", quick, quiet=True))
    >>> test = load_dataset("mnist", "test").subset(slice(0, 100))
    >>> figures = ebm_figures(ebm, Path("figures"), None, test)           # {file name: caption}
    >>> sorted(figures)
    ['buffer.png', 'energies.png']
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from genzoo.data.base import Dataset
from genzoo.data.transforms import to_float
from genzoo.viz._io import atomic_write_bytes, figure_png_bytes
from genzoo.viz.grid import save_image_grid


@torch.no_grad()
def _energies(energy: Callable[[Tensor], Tensor], x: Tensor, batch: int = 250) -> np.ndarray:
    return torch.cat([energy(x[i:i + batch]).float().cpu()
                      for i in range(0, len(x), batch)]).numpy()


def energy_histogram(groups: dict[str, np.ndarray], path: Path, xlabel: str = "E(x)") -> Path:
    """Overlaid histograms of energies per group (e.g. test images, samples, noise)."""
    fig = Figure(figsize=(5.5, 3.5), layout="constrained")
    ax = fig.add_subplot()
    finite = np.concatenate([v[np.isfinite(v)] for v in groups.values()])
    bins = np.linspace(finite.min(), finite.max(), 50) if len(finite) else 10
    for name, values in groups.items():
        ax.hist(values[np.isfinite(values)], bins=bins, alpha=0.5,
                label=f"{name} (mean {np.nanmean(values):.3g})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.legend(fontsize=8)
    return atomic_write_bytes(path, figure_png_bytes(fig))


def ebm_figures(method: Any, out_dir: Path, train: Dataset | None,
                test: Dataset, n: int = 500) -> dict[str, str]:
    """The replay buffer (one class per column for conditional EBMs) and a histogram of E(x) on
    test images, buffer samples and uniform noise; ``{file name: caption}``."""
    if method.info.kind != "image":
        return {}
    out: dict[str, str] = {}
    method.eval()
    buffer = method.buffer
    k = buffer.num_classes
    if len(buffer):
        index = torch.arange(min(64, len(buffer)))
        if k:
            per_class = [torch.nonzero(buffer.y[:len(buffer)] == c).flatten()[:8]
                         for c in range(k)]
            rows = min(len(p) for p in per_class)
            index = torch.stack([p[:rows] for p in per_class], 1).flatten() if rows else index
        save_image_grid(buffer.items(index)[0].cpu(), out_dir / "buffer.png",
                        nrow=k if k and len(index) % k == 0 else 8, value_range=method.data_range)
        out["buffer.png"] = (f"replay buffer ({len(buffer)} items)"
                             + (", one class per column" if k else ""))
    device = method.device
    low, high = method.data_range
    real = to_float(test.x[:n], test.info.value_range, method.data_range).to(device)
    groups = {"test images": _energies(method.energy, real),
              "uniform noise": _energies(method.energy,
                                         torch.rand_like(real) * (high - low) + low)}
    if len(buffer):
        stored = buffer.items(torch.arange(min(n, len(buffer))))[0]
        groups["buffer samples"] = _energies(method.energy, stored.to(device))
    energy_histogram(groups, out_dir / "energies.png",
                     "E(x) (marginal -logsumexp_y -E(x, y))" if k else "E(x)")
    out["energies.png"] = "energies of test images, buffer samples and uniform noise"
    return out
