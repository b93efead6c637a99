"""Analyses of a classifier read as an energy-based model (plain classifiers, JEM, JEM++).

Every analysis works on any run whose method returns logits f(x) (``classifier`` or ``jem``),
with ``E(x, y) = -f(x)[y]`` and ``E(x) = -logsumexp_y f(x)[y]``, so the plain classifier and
JEM are analysed the same way. ``genzoo analyze RUN WHAT`` writes the figures into
``RUN/figures/`` (captions in ``captions.json``, where ``genzoo report`` finds them) and the
numbers into ``RUN/eval.json`` under ``WHAT/...``:

=============== =============================================================================
``energies``    E(x) and E(x, y) for every y of real test images, uniform noise and flat grey
                images
``generate``    SGLD chains from uniform noise (class-conditional on E(x, y), T >= 80) and, for
                JEM, the replay buffer, each sample labelled by the classifier
``reverse``     SGLD with a negative step size from real images (climbing the energy) and how
                the classifier labels them along the way
``top``         the 16 test images of lowest E(x, y) for every class, and of lowest E(x)
``guided``      SGLD from real images with no label, the true label and a wrong label, over
                the steps
``calibration`` expected calibration error (15 bins) and the reliability diagram
``ood``         AUROC of log p(x) = -E(x) (and of the maximum softmax probability) between the
                test split and another dataset's (MNIST <-> Fashion-MNIST by default)
=============== =============================================================================

Chains are the run's own (:func:`langevin_chain`: a JEM++ run's proximal SGLD, its noise
schedule; JEM's step 1 and noise 0.01 for plain classifiers), with the network in eval mode,
images clamped to the data range, and only x receiving gradients.

References:
    Grathwohl et al., "Your Classifier is Secretly an Energy Based Model and You Should Treat
    it Like One", ICLR 2020 (figures 1-4, tables 2-3).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from genzoo.analyze.base import Suite, run_analyses
from genzoo.data import load_dataset
from genzoo.data.base import Dataset
from genzoo.data.transforms import to_float
from genzoo.errors import UserError
from genzoo.metrics.calibration import reliability
from genzoo.metrics.ood import auroc
from genzoo.models.jem import logit_energy
from genzoo.runs import load, load_data, read_run_config
from genzoo.samplers.chain import ChainRuntime, LangevinChain, SGLDConfig
from genzoo.samplers.replay import uniform_init
from genzoo.viz._io import atomic_write_bytes, figure_png_bytes
from genzoo.viz.energy import energy_histogram
from genzoo.viz.grid import save_image_grid

ANALYSES = ("energies", "generate", "reverse", "top", "guided", "calibration", "ood")
OOD_PAIRS = {"mnist": "fashion-mnist", "fashion-mnist": "mnist"}


# ---------------------------------------------------------------------- energies of logits
@torch.no_grad()
def logits_of(model, x: Tensor, batch: int = 500) -> Tensor:
    """f(x) (N, K) in batches, on the CPU."""
    model.eval()
    return torch.cat([model(x[i:i + batch].to(model.device)).float().cpu()
                      for i in range(0, len(x), batch)])


energy = logit_energy  # -logsumexp f (N,), or -f[y] with labels


def langevin_chain(model) -> LangevinChain:
    """The run's own Langevin chain (JEM; JEM++'s proximal sampler), or for a plain classifier
    JEM's SGLD (step 1, noise 0.01) on the energy of its logits."""
    if "langevin" in model.capabilities:
        return model.chain
    return LangevinChain(model.net, logit_energy, SGLDConfig(step_size=1.0, noise_scale=0.01),
                         ChainRuntime(channels_last=False), shape=model.info.shape,
                         box=model.data_range, clamp=model.data_range)


def chain(model, x: Tensor, steps: int, y: Tensor | None = None, *, sign: float = 1.0,
          every: int | None = None) -> tuple[Tensor, list[Tensor]]:
    """The run's chain on E(x) (or E(x, y)) from ``x``: the final points and the states every
    ``every`` steps (t = 0 first). ``sign = -1`` climbs the energy (negative step sizes)."""
    frames: list[Tensor] = []
    y = None if y is None else y.to(model.device)
    out = langevin_chain(model).run(x.to(model.device), steps, y, sign=sign,
                                    record=lambda t, v: frames.append(v.cpu()),
                                    every=every or max(steps, 1))
    return out.cpu(), frames


def uniform_images(model, n: int) -> Tensor:
    """``n`` uniform-noise images (n, *shape) in the model's data range, on the CPU."""
    return uniform_init(*model.data_range)(n, torch.device("cpu"), model.info.shape)


def _captions(model, x: Tensor) -> list[str]:
    probs = torch.softmax(logits_of(model, x), 1)
    conf, pred = probs.max(1)
    names = model.info.class_names
    return [f"{names[p] if names else p} {c:.2f}" for p, c in zip(pred.tolist(), conf.tolist(),
                                                                    strict=True)]


# ---------------------------------------------------------------------- the analyses
def analyse_energies(model, test: Dataset, out: Path, n: int) -> tuple[dict, dict]:
    low, high = model.data_range
    real = to_float(test.x[:n], test.info.value_range, model.data_range)
    groups = {"test images": real, "uniform noise": uniform_images(model, len(real)),
              "flat grey": torch.rand(len(real), *[1] * len(model.info.shape))
              .mul(high - low).add(low).expand_as(real).contiguous()}
    logits = {name: logits_of(model, x) for name, x in groups.items()}
    energy_histogram({k: energy(v).numpy() for k, v in logits.items()}, out / "energy-groups.png",
                     "E(x) = -logsumexp f(x)")
    k = model.info.num_classes
    fig = Figure(figsize=(7, 3.5), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(groups)
    numbers: dict[str, float] = {}
    for i, (name, lg) in enumerate(logits.items()):
        per_class = -lg  # E(x, y) for every y: (N, K)
        ax.bar(np.arange(k) + (i - (len(groups) - 1) / 2) * width, per_class.mean(0).numpy(),
               width, yerr=per_class.std(0).numpy(), label=name, capsize=2)
        key = name.replace(" ", "_")
        numbers[f"{key}/E_x"] = float(energy(lg).mean())
        numbers[f"{key}/E_xy_mean"] = float(per_class.mean())
    ax.set_xticks(range(k), model.info.class_names or range(k))
    ax.set_xlabel("y")
    ax.set_ylabel("mean E(x, y) = -f(x)[y]  (+- 1 std)")
    ax.legend(fontsize=8)
    atomic_write_bytes(out / "energy-per-class.png", figure_png_bytes(fig))
    return ({"energy-groups.png": f"E(x) of {len(real)} test images, uniform noise and flat grey "
                                  "images",
             "energy-per-class.png": "mean E(x, y) for every class y of the same three groups"},
            numbers)


def analyse_generate(model, test: Dataset, out: Path, n: int, steps: int) -> tuple[dict, dict]:
    k = model.info.num_classes
    n = max(32, math.ceil(n / k) * k)
    y = torch.arange(n) % k
    x, _ = chain(model, uniform_images(model, n), steps, y)
    save_image_grid(x, out / "generate-noise.png", nrow=k, captions=_captions(model, x),
                    value_range=model.data_range)
    pred = logits_of(model, x).argmax(1)
    figures = {"generate-noise.png": f"{n} class-conditional SGLD chains of {steps} steps from "
                                     f"uniform noise (class y = column), with the classifier's "
                                     f"label and confidence"}
    numbers = {"noise/self_accuracy": float((pred == y).float().mean())}
    buffer = model.chain.buffer if "langevin" in model.capabilities else None
    if buffer is not None and len(buffer):
        xb = model.sample(n, y=y.to(model.device), sample_init="buffer").cpu()
        save_image_grid(xb, out / "generate-buffer.png", nrow=k, captions=_captions(model, xb),
                        value_range=model.data_range)
        figures["generate-buffer.png"] = ("replay-buffer draws of each class (column), refined by "
                                          "the sampler's buffer steps, with the classifier's label")
        numbers["buffer/self_accuracy"] = float(
            (logits_of(model, xb).argmax(1) == y).float().mean())
    return figures, numbers


def _over_steps(model, frames: list[Tensor], path: Path, rows: int) -> None:
    """Grid: one row per chain, one column per recorded step, tiles captioned by label."""
    stack = torch.stack(frames, 1)[:rows]  # (rows, T', ...)
    flat = stack.flatten(0, 1)
    save_image_grid(flat, path, nrow=len(frames), captions=_captions(model, flat),
                    value_range=model.data_range)


def analyse_reverse(model, test: Dataset, out: Path, n: int, steps: int) -> tuple[dict, dict]:
    real = to_float(test.x[:n], test.info.value_range, model.data_range)
    every = max(1, steps // 8)
    _, frames = chain(model, real, steps, sign=-1.0, every=every)
    truth = test.y[:n]
    logits = [logits_of(model, f) for f in frames]
    acc = [float((lg.argmax(1) == truth).float().mean()) for lg in logits]
    e = [float(energy(lg).mean()) for lg in logits]
    _over_steps(model, frames, out / "reverse-steps.png", 8)
    fig = Figure(figsize=(6, 3), layout="constrained")
    ax = fig.add_subplot()
    ts = [min(i * every, steps) for i in range(len(frames))]
    ax.plot(ts, acc, marker="o", label="accuracy on the true labels")
    ax.set_xlabel("SGLD steps with a negative step size")
    ax.set_ylabel("classifier accuracy")
    ax2 = ax.twinx()
    ax2.plot(ts, e, color="C1", marker="s", label="mean E(x)")
    ax2.set_ylabel("mean E(x)")
    fig.legend(fontsize=8, loc="lower left")
    atomic_write_bytes(out / "reverse-accuracy.png", figure_png_bytes(fig))
    final = logits[-1].argmax(1)
    counts = torch.bincount(final, minlength=model.info.num_classes).tolist()
    return ({"reverse-steps.png": f"SGLD with step size -a from test images (rows) over {steps} "
                                  "steps (columns), with the classifier's label and confidence",
             "reverse-accuracy.png": f"accuracy of the classifier on {n} test images as the "
                                     "chains climb the energy, and their mean E(x)"},
            {"accuracy_start": acc[0], "accuracy_end": acc[-1], "energy_start": e[0],
             "energy_end": e[-1], "final_label_counts": json.dumps(counts)})


def analyse_top(model, test: Dataset, out: Path, n: int) -> tuple[dict, dict]:
    x = to_float(test.x, test.info.value_range, model.data_range)
    logits = logits_of(model, x)
    k = model.info.num_classes
    rows = [torch.argsort(-logits[:, c])[:16] for c in range(k)]  # lowest E(x, c)
    best = torch.argsort(energy(logits))[:16]
    grid = torch.cat([x[r] for r in [*rows, best]])
    labels = [f"y={c}" for c in range(k) for _ in range(16)] + ["E(x)"] * 16
    save_image_grid(grid, out / "top-energy.png", nrow=16, captions=labels,
                    value_range=model.data_range)
    match = [float((test.y[r] == c).float().mean()) for c, r in enumerate(rows)]
    return ({"top-energy.png": f"rows 1-{k}: the 16 of {len(x)} test images with the lowest "
                               "E(x, y) for class y; last row: the 16 with the lowest E(x)"},
            {"top16_label_match": float(np.mean(match))})


def analyse_guided(model, test: Dataset, out: Path, n: int, steps: int) -> tuple[dict, dict]:
    shown = min(n, 6)
    real = to_float(test.x[:shown], test.info.value_range, model.data_range)
    truth = test.y[:shown].long()
    wrong = (truth + 1 + torch.randint(model.info.num_classes - 1, truth.shape)) \
        % model.info.num_classes
    every = max(1, steps // 8)
    figures, numbers = {}, {}
    for name, y in (("none", None), ("true", truth), ("wrong", wrong)):
        final, frames = chain(model, real, steps, y, every=every)
        _over_steps(model, frames, out / f"guided-{name}.png", shown)
        label = {"none": "no label (E(x))", "true": "the true label (E(x, y))",
                 "wrong": "a wrong label (E(x, y'))"}[name]
        figures[f"guided-{name}.png"] = (f"SGLD from test images (rows) with {label}, over "
                                         f"{steps} steps (columns)")
        pred = logits_of(model, final).argmax(1)
        target = truth if y is None else y
        numbers[f"{name}/final_label_agreement"] = float((pred == target).float().mean())
    return figures, numbers


def analyse_calibration(model, test: Dataset, out: Path, bins: int = 15) -> tuple[dict, dict]:
    x = to_float(test.x, test.info.value_range, model.data_range)
    probs = torch.softmax(logits_of(model, x), 1)
    r = reliability(probs, test.y, bins)
    fig = Figure(figsize=(4, 4), layout="constrained")
    ax = fig.add_subplot()
    centres = ((r.edges[1:] + r.edges[:-1]) / 2).numpy()
    ax.bar(centres, np.nan_to_num(r.accuracy.numpy()), width=1 / bins, edgecolor="k",
           label="accuracy")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"ECE {100 * r.ece:.2f}%")
    ax.legend(fontsize=8)
    atomic_write_bytes(out / "reliability.png", figure_png_bytes(fig))
    acc = float((probs.argmax(1) == test.y).float().mean())
    return ({"reliability.png": f"reliability diagram on {len(x)} test images ({bins} bins)"},
            {"ece": r.ece, "accuracy": acc})


def analyse_ood(model, test: Dataset, out: Path, other: Dataset) -> tuple[dict, dict]:
    n = min(len(test), len(other))
    inside = logits_of(model, to_float(test.x[:n], test.info.value_range, model.data_range))
    outside = logits_of(model, to_float(other.x[:n], other.info.value_range, model.data_range))
    log_px_in, log_px_out = -energy(inside), -energy(outside)
    msp_in, msp_out = (torch.softmax(v, 1).max(1).values for v in (inside, outside))
    energy_histogram({test.info.name: log_px_in.numpy(), other.info.name: log_px_out.numpy()},
                     out / f"ood-{other.info.name}.png", "log p(x) + log Z = logsumexp f(x)")
    return ({f"ood-{other.info.name}.png": f"log p(x) of {n} test images of {test.info.name} "
                                           f"(in distribution) and {other.info.name} (out)"},
            {f"{other.info.name}/auroc_log_px": auroc(log_px_in.numpy(), log_px_out.numpy()),
             f"{other.info.name}/auroc_max_softmax": auroc(msp_in.numpy(), msp_out.numpy())})


# ---------------------------------------------------------------------- the command
def open_run(run: Path | str, n: int, steps: int, checkpoint: str, seed: int):
    """What an analysis command starts from: the checked ``n`` and ``steps``, the run
    directory, its config, its method (seeded after loading) and its ``figures/`` folder."""
    if n < 1 or steps < 1:
        raise UserError(f"expected positive numbers, got n={n}, steps={steps}",
                        param="n, steps")
    run_dir = Path(run)
    cfg = read_run_config(run_dir)
    model = load(run_dir, checkpoint=checkpoint)
    torch.manual_seed(seed)
    out = run_dir / "figures"
    out.mkdir(exist_ok=True)
    return run_dir, cfg, model, out


def analyze_run(run: Path | str, what: Sequence[str], *, n: int = 100, steps: int = 100,
                split: str = "test", ood: str | None = None, checkpoint: str = "last",
                seed: int = 0) -> dict[str, float]:
    """Run the analyses ``what`` (names from :data:`ANALYSES`, or ``all``) on a classifier or
    JEM run; figures go to ``RUN/figures/`` and numbers to ``RUN/eval.json``; returns the
    numbers."""
    what = list(ANALYSES) if "all" in what else list(what)
    unknown = [w for w in what if w not in ANALYSES]
    if unknown:
        raise UserError(f"unknown analysis {unknown[0]!r}; choose from {', '.join(ANALYSES)}, all")
    run_dir, cfg, model, out = open_run(run, n, steps, checkpoint, seed)
    if "logits" not in model.capabilities or model.info.kind != "image":
        raise UserError(f"these analyses need a classifier's logits on images; {run_dir} is "
                        f"{cfg.method!r} on {model.info.name!r}")
    test = load_data(cfg, split)
    other = _ood_data(cfg, model, ood, split) if "ood" in what else None  # fail early
    if other is not None and other.info.shape != model.info.shape:
        raise UserError(f"ood: {other.info.name!r} items {other.info.shape} do not match the "
                        f"run's {model.info.shape}")
    jobs: dict[str, Callable[[], tuple[dict, dict]]] = {
        "energies": lambda: analyse_energies(model, test, out, max(n, 500)),
        "generate": lambda: analyse_generate(model, test, out, n, max(steps, 80)),
        "reverse": lambda: analyse_reverse(model, test, out, n, steps),
        "top": lambda: analyse_top(model, test, out, n),
        "guided": lambda: analyse_guided(model, test, out, n, steps),
        "calibration": lambda: analyse_calibration(model, test, out),
        "ood": lambda: analyse_ood(model, test, out, other),
    }
    return run_analyses(jobs, what, run_dir)


def _ood_data(cfg, model, name: str | None, split: str) -> Dataset:
    name = name or OOD_PAIRS.get(model.info.name)
    if name is None:
        raise UserError(f"ood: pass --ood DATASET (no default partner for {model.info.name!r})")
    return load_dataset(name, split, root=cfg.data.root, verify=cfg.data.verify,
                        download=cfg.data.download)


Suite(ANALYSES, "logits", analyze_run,
      ("n", "steps", "split", "ood", "checkpoint", "seed")).register()
