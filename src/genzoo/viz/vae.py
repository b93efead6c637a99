"""Figures of an image VAE: reconstructions of test images, and class-conditional samples.

Example:
    >>> from genzoo.data import load_dataset
    >>> quick = ["data.limit=64", "data.val_limit=64", "train.steps=2"]   # a 2-step run
    >>> vae = genzoo.load(genzoo.train("cvae-mnist", quick, quiet=True))
    >>> test = load_dataset("mnist", "test").subset(slice(0, 100))
    >>> figures = vae_figures(vae, Path("figures"), test)                # {file name: caption}
    >>> sorted(figures)
    ['class-samples.png', 'reconstructions.png']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from genzoo.data.base import Dataset
from genzoo.viz.grid import save_image_grid


@torch.no_grad()
def vae_figures(method: Any, out_dir: Path, test: Dataset, columns: int = 10,
                rows: int = 10) -> dict[str, str]:
    """Write the VAE's figures into ``out_dir``; ``{file name: caption}`` (none for vectors).

    ``reconstructions.png``: ``rows / 2`` rows of test images, each followed by a row of their
    reconstructions, the decoder mean E[x|z] at ``z = mu(x)`` (with the true labels for a
    conditional VAE). ``class-samples.png`` (conditional VAEs): a ``rows x columns`` grid of
    samples, sample i of class ``i % C``, so each of the first C columns holds one class.

    Args:
        method: a trained :class:`~genzoo.models.vae.VAE`.
        out_dir: the folder to write into.
        test: the evaluated split (stored items).
        columns, rows: the grid's size (``columns >= C`` shows every class).
    """
    if method.info.kind != "image":
        return {}
    method.eval()
    device = method.device
    pairs = rows // 2 * columns
    batch = method.prepare(test.x[:pairs].to(device),
                           None if test.y is None else test.y[:pairs].to(device))
    y = batch.y if method.conditional else None
    mu_z, _ = method.encode(batch.x, y)
    recon = method.decoder_mean(mu_z, y)
    n = len(batch.x)
    lines = [t for r in range(0, n, columns) for t in (batch.x[r:r + columns],
                                                        recon[r:r + columns])]
    save_image_grid(torch.cat(lines).cpu(), out_dir / "reconstructions.png", nrow=columns,
                    value_range=method.data_range)
    out = {"reconstructions.png": "test images (odd rows) and their reconstructions E[x|z] at "
                                  "z = mu(x) (the row below each)"}
    if method.conditional:
        classes = method.num_classes
        labels = (torch.arange(rows * columns) % classes).to(device)
        samples = method.sample(len(labels), y=labels)
        save_image_grid(samples.cpu(), out_dir / "class-samples.png", nrow=columns,
                        value_range=method.data_range)
        kind = "x ~ p(x|z, y)" if method.cfg.sample_noise else "decoder means E[x|z, y]"
        out["class-samples.png"] = (f"{len(labels)} class-conditional samples ({kind}, "
                                    f"z ~ N(0, I)), one class per column (0..{classes - 1})")
    return out
