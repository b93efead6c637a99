"""The JEM project's per-question views of a classifier read as an energy-based model, beside
:mod:`genzoo.analyze.jem` (which they share their chains and energies with):

================= ===========================================================================
``energy-grid``   one real test image, one uniform-noise image and one flat grey image, with
                  E(x, y) for every class y and E(x) printed under each
``buffer-draws``  one draw of ``n`` starts from the run's replay buffer at a chosen ``p_new``
                  (fresh uniform starts and stored chains marked), as the training step draws
                  (any Langevin run: JEM, JEM++, the EBMs)
``top-generated`` class-conditional chains from uniform noise, ranked: the 16 of lowest
                  E(x, y) for every class, and the 16 of lowest E(x) among all of them
``epoch-losses``  the training loss (and accuracy) per epoch from the run's log (the mean over
                  each epoch's steps), with the first and last epoch's numbers
================= ===========================================================================

``genzoo analyze RUN energy-grid buffer-draws --p-new 0.5`` writes the figures into
``RUN/figures/`` and the numbers into ``RUN/eval.json`` under ``NAME/...``.

References:
    Grathwohl et al., "Your Classifier is Secretly an Energy Based Model and You Should Treat
    it Like One", ICLR 2020 (section 3, algorithm 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from matplotlib.figure import Figure

from genzoo.analyze.base import Suite, run_analyses
from genzoo.analyze.jem import chain, energy, logits_of, open_run, uniform_images
from genzoo.data.base import Dataset
from genzoo.data.transforms import to_float
from genzoo.errors import UserError
from genzoo.io import read_metrics
from genzoo.runs import load_data
from genzoo.viz._io import atomic_write_bytes, figure_png_bytes
from genzoo.viz.curves import plot_curves
from genzoo.viz.grid import save_image_grid

QUESTIONS = ("energy-grid", "buffer-draws", "top-generated", "epoch-losses")
OPTIONS = ("n", "steps", "split", "p_new", "checkpoint", "seed")


def _image_for_axes(x: torch.Tensor, box: tuple[float, float]):
    """An image (C, H, W) in ``box`` as an (H, W[, 3]) array in [0, 1] for ``imshow``."""
    low, high = box
    v = ((x - low) / (high - low)).clamp(0, 1)
    return v[0].numpy() if v.shape[0] == 1 else v.permute(1, 2, 0).numpy()


def analyse_energy_grid(model, test: Dataset, out: Path) -> tuple[dict, dict]:
    """E(x, y) for every y and E(x) of a real, a uniform-noise and a grey image."""
    low, high = model.data_range
    real = to_float(test.x[:1], test.info.value_range, model.data_range)
    images = {"real": real, "noise": uniform_images(model, 1),
              "grey": torch.full_like(real, (low + high) / 2)}
    names = model.info.class_names or tuple(str(k) for k in range(model.info.num_classes))
    fig = Figure(figsize=(3.2 * len(images), 3.0 + 0.22 * len(names)), layout="constrained")
    numbers: dict[str, float] = {}
    for i, (name, x) in enumerate(images.items()):
        lg = logits_of(model, x)[0]  # f(x) (K,)
        e_xy, e_x = (-lg).tolist(), float(energy(lg[None])[0])
        numbers[f"{name}/E_x"] = e_x
        numbers.update({f"{name}/E_x_y{k}": v for k, v in enumerate(e_xy)})
        ax = fig.add_subplot(1, len(images), i + 1)
        ax.imshow(_image_for_axes(x[0], model.data_range), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        title = {"real": f"test image (y = {names[int(test.y[0])]})", "noise": "uniform noise",
                 "grey": f"grey ({(low + high) / 2:g})"}[name]
        ax.set_title(title, fontsize=9)
        lines = [f"E(x, {n:>5.5s}) = {v:9.3f}" for n, v in zip(names, e_xy, strict=True)]
        ax.set_xlabel("\n".join([*lines, f"E(x)       = {e_x:9.3f}"]), fontsize=7,
                      family="monospace", loc="left")
    atomic_write_bytes(out / "energy-grid.png", figure_png_bytes(fig))
    return ({"energy-grid.png": "a test image, a uniform-noise image and a grey image with "
                                "E(x, y) = -f(x)[y] for every class and E(x) = -logsumexp f(x)"},
            numbers)


def analyse_buffer_draws(model, out: Path, n: int, p_new: float) -> tuple[dict, dict]:
    """One training-style draw of ``n`` buffer starts at ``p_new``."""
    if not 0 <= p_new <= 1:
        raise UserError(f"expected a probability in [0, 1], got {p_new}", param="p_new")
    buffer = model.chain.buffer
    if buffer is None or not len(buffer):  # e.g. an EBM whose chains start from noise
        return {}, {"buffer_size": 0.0}
    x, labels, index = buffer.sample(n, p_new=p_new)  # an explicit p_new: not a training draw
    fresh = index < 0
    captions = ["fresh" if f else f"y={int(y)}" for f, y in zip(fresh, labels, strict=True)]
    nrow = min(16, max(8, math.isqrt(n)))
    save_image_grid(x.cpu(), out / "buffer-draws.png", nrow=nrow, captions=captions,
                    value_range=model.data_range)
    return ({"buffer-draws.png": f"{n} starts drawn from the replay buffer ({len(buffer)} "
                                 f"items) at p_new = {p_new:g}: 'fresh' are new uniform "
                                 "starts, the others stored chains with their labels"},
            {"p_new": p_new, "fresh_fraction": float(fresh.float().mean()),
             "buffer_size": float(len(buffer))})


def analyse_top_generated(model, out: Path, n: int, steps: int) -> tuple[dict, dict]:
    """Chains from uniform noise, ``ceil(n / K)`` (at least 32) per class, ranked by energy."""
    k = model.info.num_classes
    per_class = max(32, math.ceil(n / k))
    y = torch.arange(per_class * k) % k
    x = torch.cat([chain(model, uniform_images(model, len(part)), steps, part)[0]
                   for part in y.split(200)])
    logits = logits_of(model, x)
    e_xy = -logits.gather(1, y[:, None]).squeeze(1)
    rows = [torch.nonzero(y == c).flatten()[torch.argsort(e_xy[y == c])[:16]] for c in range(k)]
    best = torch.argsort(energy(logits))[:16]
    grid = torch.cat([x[r] for r in [*rows, best]])
    captions = [f"{e:.2f}" for e in e_xy[torch.cat(rows)].tolist()] + \
               [f"y={int(c)} {e:.2f}" for c, e in zip(y[best], energy(logits)[best].tolist(),
                                                      strict=True)]
    save_image_grid(grid, out / "top-generated.png", nrow=16, captions=captions,
                    value_range=model.data_range)
    agree = [float((logits[r].argmax(1) == c).float().mean()) for c, r in enumerate(rows)]
    return ({"top-generated.png": f"rows 1-{k}: the 16 of {per_class} class-conditional "
                                  f"chains ({steps} steps from uniform noise) of lowest E(x, y) "
                                  "for class y (captions: E(x, y)); last row: the 16 of lowest "
                                  f"E(x) among all {len(x)} (captions: their class, E(x))"},
            {"top16_self_accuracy": sum(agree) / k,
             "top16_mean_energy": float(e_xy[torch.cat(rows)].mean())})


def surviving(records: list[dict]) -> list[dict]:
    """The training lines of the trajectory that survived: a guard restart (a log record with
    ``event: restart``) resumes from an earlier step (``resumed_from``), and the lines after
    that step written before the restart are dropped."""
    kept: list[dict] = []
    for r in records:
        if r.get("event") == "restart":
            kept = [k for k in kept if k["step"] <= r["resumed_from"]]
        elif r.get("split") == "train":
            kept.append(r)
    return kept


def epoch_means(records: list[dict], keys: Sequence[str]) -> list[dict]:
    """From a run's log records (training lines and restart events, :func:`surviving`), one
    record per epoch (``epoch`` 1, 2, ...; the last may be partial, its ``epoch`` then
    the fraction reached): each key's mean over that epoch's steps. Each log line is the mean
    over the steps since the previous line, so lines weigh by the steps they cover, and a
    line counts in the epoch it ends in (exact when ``train.log_every`` divides the epoch, or
    is ``epoch``: then each line is one epoch)."""
    groups: dict[int, list[tuple[int, dict]]] = {}
    previous = 0
    for r in surviving(records):
        index = max(1, math.ceil(float(r["epoch"]) - 1e-9))
        groups.setdefault(index, []).append((r["step"] - previous, r))
        previous = r["step"]
    if not groups:
        return []
    records = []
    last = max(groups)
    for index, lines in sorted(groups.items()):
        weight = sum(w for w, _ in lines)
        end = lines[-1][1]
        record = {"epoch": float(index if index < last else min(index, end["epoch"])),
                  "step": end["step"]}
        for key in keys:
            if all(key in r for _, r in lines):
                record[key] = sum(w * float(r[key]) for w, r in lines) / weight
        records.append(record)
    return records


def analyse_epoch_losses(run_dir: Path, out: Path) -> tuple[dict, dict]:
    """Per-epoch training numbers from the log (:func:`epoch_means`)."""
    log = [r for r in read_metrics(run_dir) if r.get("event") == "restart"
           or (r.get("split") == "train" and "loss" in r and "epoch" in r)]
    epochs = epoch_means(log, ("loss", "ce", "acc"))
    if not epochs:
        return {}, {}
    keys = [k for k in ("loss", "ce", "acc") if k in epochs[-1]]
    plot_curves({run_dir.name: epochs}, out / "epoch-losses.png", keys=keys, x="epoch")
    numbers = {"epochs": float(epochs[-1]["epoch"]),
               "first_epoch_loss": epochs[0]["loss"], "last_epoch_loss": epochs[-1]["loss"]}
    if "acc" in epochs[0] and "acc" in epochs[-1]:
        numbers.update(first_epoch_acc=epochs[0]["acc"], last_epoch_acc=epochs[-1]["acc"])
    return ({"epoch-losses.png": "training numbers per epoch: the mean over each epoch's "
                                 "steps"}, numbers)


def analyze_questions(run: Path | str, what: Sequence[str], *, n: int = 100, steps: int = 100,
                      split: str = "test", p_new: float = 0.5, checkpoint: str = "last",
                      seed: int = 0) -> dict[str, float]:
    """Run the views ``what`` (names from :data:`QUESTIONS`) on a classifier or JEM run;
    figures go to ``RUN/figures/``, numbers to ``RUN/eval.json``; returns the numbers."""
    run_dir, cfg, model, out = open_run(run, n, steps, checkpoint, seed)
    if model.info.kind != "image" and set(what) - {"epoch-losses"}:
        raise UserError(f"these analyses need images; {run_dir} is on {model.info.name!r}")
    test = load_data(cfg, split, 100) if "energy-grid" in what else None
    jobs: dict[str, Callable[[], tuple[dict, dict]]] = {
        "energy-grid": lambda: analyse_energy_grid(model, test, out),
        "buffer-draws": lambda: analyse_buffer_draws(model, out, max(n, 32), p_new),
        "top-generated": lambda: analyse_top_generated(model, out, n, max(steps, 80)),
        "epoch-losses": lambda: analyse_epoch_losses(run_dir, out),
    }
    return run_analyses(jobs, what, run_dir)


Suite(("energy-grid", "top-generated", "epoch-losses"), "logits", analyze_questions,
      OPTIONS).register()
Suite(("buffer-draws",), "langevin", analyze_questions, OPTIONS).register()
