"""The toy-2-D lab: every family trained on every 2-D dataset, compared by likelihood and overlap.

``genzoo compare toy2d`` trains each family's ``<family>-toy`` preset on each dataset (2000
training points, 500 hold-out points, seeded), draws N samples from every model, and measures:

- **KDE log-likelihood** of the hold-out points under a Gaussian KDE of the samples;
- **Bhattacharyya coefficient and distance** between KDEs of the samples and of N fresh samples
  of the true generator, on a grid over the data's extent;
- the **exact hold-out log-likelihood** where the family has one (``log_prob``: CNF and
  RealNVP exactly, the VAE's importance-sampled bound).

The **reference row** applies the same metrics to N fresh samples of the true generator: the
limit no model can beat by more than noise. The report holds the protocol, a datasets x
families figure of samples over data, one table per dataset, and every run's curves; the
numbers are also written to ``results.json``.

Example:
    genzoo compare toy2d --models ebm,dsm --datasets spiral,pinwheel
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch

from genzoo.config import DataConfig, build_run_config, preset_names, resolve_config
from genzoo.data import load_dataset, sample_toy
from genzoo.errors import UserError
from genzoo.io import atomic_write_text
from genzoo.labs.toy2d_report import (
    CONTOUR_LEVELS,
    density_figure,
    samples_figure,
    write_report_page,
)
from genzoo.metrics.kde import bhattacharyya, grid_bounds, kde_log_likelihood
from genzoo.runs import load, train
from genzoo.viz.scatter import grid_log_density

SEED_DATASETS = ("spiral", "pinwheel", "checkerboard", "gmm-ring")
FAMILIES = ("ebm", "sm", "dsm", "vae", "ddpm", "cnf", "realnvp", "gan")
DENSITY_RESOLUTION = 80  # grid points per axis of the model density views
DENSITY_K = 64  # importance samples per grid point for the VAE's density view


@dataclass(frozen=True)
class Protocol:
    """How the comparison measures (written into the report and results)."""

    n_train: int = 2000
    n_holdout: int = 500
    n_samples: int = 2000
    seed: int = 0
    bandwidth: str = "scott"
    grid_resolution: int = 150
    grid_margin: float = 0.1


@dataclass
class Row:
    """One line of a dataset's table."""

    family: str
    kde_ll: float
    bc: float
    bd: float
    exact_ll: float | None = None
    train_seconds: float | None = None
    non_finite: int = 0
    run: str = ""


@dataclass
class DatasetResult:
    dataset: str
    reference: Row
    rows: list[Row] = field(default_factory=list)
    samples: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    densities: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    data: np.ndarray | None = field(default=None, repr=False)


def available_families() -> list[str]:
    """Families whose ``<family>-toy`` preset exists, in the canonical order."""
    presets = set(preset_names())
    return [f for f in FAMILIES if f"{f}-toy" in presets]


def _samples(method, n: int) -> np.ndarray:
    chunks = []
    for start in range(0, n, 500):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(start)
            chunks.append(method.sample(min(500, n - start)).detach().float().cpu())
    return torch.cat(chunks).numpy().astype(np.float64)


def _score(family: str, samples: np.ndarray, holdout: np.ndarray, truth: np.ndarray,
           p: Protocol) -> Row:
    finite = np.isfinite(samples).all(axis=1)
    overlap = bhattacharyya(samples, truth, bounds=grid_bounds(truth, p.grid_margin),
                            resolution=p.grid_resolution, bw_method=p.bandwidth)
    return Row(family, kde_log_likelihood(samples, holdout, p.bandwidth), overlap.coefficient,
               overlap.distance, non_finite=int((~finite).sum()))


def _exact_ll(method, holdout: np.ndarray) -> float | None:
    if not {"log_prob", "importance_log_prob"} & method.capabilities:
        return None
    with torch.no_grad():
        x = torch.as_tensor(holdout, dtype=torch.float32, device=method.device)
        return float(method.log_prob(x).mean())


def log_density_fn(method) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """log p(x) up to a constant, (B, 2) -> (B,), where the family defines one: its
    ``log_prob`` (exact for the CNF and RealNVP; importance-sampled with K = ``DENSITY_K`` for
    the VAE) or minus its energy (EBM); None for families that only sample (GAN, DDPM) or model
    the score (SM, DSM)."""
    if "log_prob" in method.capabilities:
        fn = method.log_prob
    elif "importance_log_prob" in method.capabilities:
        fn = partial(method.log_prob, k=DENSITY_K)
    elif "energy" in method.capabilities:
        def fn(x: torch.Tensor) -> torch.Tensor:
            return -method.energy(x)
    else:
        return None
    return lambda x: fn(x.to(method.device))


def _density_grid(method, truth: np.ndarray, p: Protocol) -> np.ndarray | None:
    """The model's log-density (R, R) on the figure's grid (row 0 = y_min), or None."""
    fn = log_density_fn(method)
    if fn is None:
        return None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(p.seed)
        return grid_log_density(fn, grid_bounds(truth, p.grid_margin), DENSITY_RESOLUTION)


def _data(dataset: str, data_file: Path | None, p: Protocol) -> tuple[np.ndarray, ...]:
    """Training points, hold-out points and N fresh 'true' samples (or a split of a file)."""
    if data_file is None:
        train_x = load_dataset(dataset, "train", n=p.n_train, seed=p.seed).x.numpy()
        holdout = load_dataset(dataset, "test", n=p.n_holdout, seed=p.seed).x.numpy()
        truth = sample_toy(dataset, p.n_samples, seed=p.seed + 12345).numpy()
        return train_x.astype(np.float64), holdout.astype(np.float64), truth.astype(np.float64)
    x = load_dataset("arrays", path=str(data_file)).x.numpy().astype(np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise UserError(f"{data_file}: the toy-2-D lab needs points of shape (N, 2), got "
                        f"{x.shape}")
    rng = np.random.default_rng(p.seed)
    x = x[rng.permutation(len(x))]
    n_hold = max(1, len(x) // 5)
    return x[n_hold:], x[:n_hold], x[n_hold:]  # the training points stand in for truth


def compare_toy2d(out_dir: Path | str, *, models: Sequence[str] | None = None,
                  datasets: Sequence[str] = SEED_DATASETS, data_file: Path | str | None = None,
                  protocol: Protocol = Protocol(), overrides: Sequence[str] = (),
                  workers: int = 1, quiet: bool = False) -> Path:
    """Train and compare; returns the path of ``report.html`` in ``out_dir``.

    Args:
        out_dir: where runs, results.json, the figure and the report go.
        models: families (default: every family with a ``-toy`` preset).
        datasets: toy dataset names (ignored with ``data_file``).
        data_file: a user ``.npy`` / ``.npz`` / ``.csv`` of 2-D points instead of toys.
        protocol: sample sizes, seed, bandwidth and grid.
        overrides: ``key=value`` overrides applied to every family's preset.
        workers: trainings run at once, in separate processes (results do not depend on it).
        quiet: no progress bars.
    """
    families = list(models or available_families())
    unknown = [f for f in families if f"{f}-toy" not in preset_names()]
    if unknown:
        raise UserError(f"no toy preset for {unknown[0]!r}; families: "
                        + ", ".join(available_families()))
    out = Path(out_dir)
    names = ["data"] if data_file else list(datasets)
    data_path = None if data_file is None else Path(data_file)
    prepared = {d: _data(d, data_path, protocol) for d in names}  # fail early on bad input
    out.mkdir(parents=True, exist_ok=True)
    results, jobs = [], []
    for dataset in names:
        train_x, holdout, truth = prepared[dataset]
        reference = _score("reference", sample_toy(dataset, protocol.n_samples,
                                                   seed=protocol.seed + 999).numpy()
                           if data_path is None else train_x, holdout, truth, protocol)
        results.append(DatasetResult(dataset, reference, data=truth))
        data = _data_section(dataset, data_path, out, train_x, protocol)
        for family in families:
            cfg = resolve_config(f"{family}-toy", list(overrides))
            cfg.data, cfg.name = data, f"{family}-{dataset}"
            command = f"genzoo compare toy2d --models {family} " + (
                f"--data {data_path}" if data_path else f"--datasets {dataset}")
            jobs.append(Job(family, dataset, cfg.to_dict(), str(out / "runs"), command,
                            holdout, truth, protocol))
    by_dataset = {r.dataset: r for r in results}
    if not quiet:
        print(f"training {len(jobs)} models ({len(families)} families x {len(names)} "
              f"datasets), {max(1, workers)} at a time", flush=True)
    for job, result in zip(jobs, _run_jobs(jobs, workers), strict=True):
        row = result.row
        row.run = str(Path(row.run).relative_to(out))
        by_dataset[job.dataset].rows.append(row)
        by_dataset[job.dataset].samples[job.family] = result.samples
        if result.log_density is not None:
            by_dataset[job.dataset].densities[job.family] = result.log_density
        if not quiet:
            ref = by_dataset[job.dataset].reference
            print(f"{job.dataset:>13s} {job.family:>5s}: KDE-LL {row.kde_ll:8.3f} "
                  f"(reference {ref.kde_ll:.3f})  BC {row.bc:.3f}  "
                  f"{row.train_seconds:5.1f} s", flush=True)
    _write_results(out, results, protocol)
    figures = [(samples_figure(out / "samples.png", results, protocol),
                "rows: datasets, columns: families; black lines: model density contours at "
                + ", ".join(f"{c:g}" for c in CONTOUR_LEVELS) + " of its peak")]
    density = density_figure(out / "densities.png", results, protocol)
    if density is not None:
        figures.append((density, "model densities relative to their peak, true samples in "
                        f"white (VAE: importance-sampled, K = {DENSITY_K}; EBM: exp(-E), which "
                        "is flatter than its samples: those come from short-run, low-noise "
                        "Langevin chains)"))
    return write_report_page(out, results, protocol, figures)


@dataclass
class Job:
    """One cell of the grid: train a family on a dataset, sample it, score it."""

    family: str
    dataset: str
    config: dict
    runs_dir: str
    command: str
    holdout: np.ndarray
    truth: np.ndarray
    protocol: Protocol


@dataclass
class JobResult:
    """What a job sends back: its table row, its samples, and its log-density grid (or None)."""

    row: Row
    samples: np.ndarray
    log_density: np.ndarray | None


def run_job(job: Job, threads: int | None = None) -> JobResult:
    """Train, sample and score one cell (in a worker process when the lab runs in parallel)."""
    if threads:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    run = train(build_run_config(job.config), runs_dir=job.runs_dir, quiet=True,
                command=job.command)
    seconds = time.perf_counter() - start
    method = load(run)
    samples = _samples(method, job.protocol.n_samples)
    row = _score(job.family, samples, job.holdout, job.truth, job.protocol)
    row.exact_ll, row.train_seconds, row.run = _exact_ll(method, job.holdout), seconds, str(run)
    return JobResult(row, samples, _density_grid(method, job.truth, job.protocol))


def _run_jobs(jobs: list[Job], workers: int) -> Iterator[JobResult]:
    """Every job's result, in order, each as soon as it and those before it are done: in this
    process, or in ``workers`` processes with ``cores / workers`` threads each (small toy
    networks use two single-threaded processes better than one two-threaded one)."""
    if workers <= 1:
        yield from (run_job(job) for job in jobs)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [pool.submit(run_job, job, threads) for job in jobs]
        for future in futures:
            yield future.result()


def _data_section(dataset: str, data_file: Path | None, out: Path, train_x: np.ndarray,
                  p: Protocol) -> DataConfig:
    """The runs' data section: the toy with the protocol's sizes, or the user's points."""
    if data_file is None:
        return DataConfig(name=dataset, options={"n": p.n_train, "seed": p.seed},
                          train_split="train", val_split="test", val_limit=p.n_holdout)
    path = out / "train-points.npy"
    np.save(path, train_x.astype(np.float32))
    return DataConfig(name="arrays", options={"path": str(path.resolve())}, train_split="all")


def _write_results(out: Path, results: list[DatasetResult], p: Protocol) -> None:
    payload = {"protocol": asdict(p), "datasets": {
        r.dataset: {"reference": asdict(r.reference), "families": [asdict(x) for x in r.rows]}
        for r in results}}
    atomic_write_text(out / "results.json", json.dumps(payload, indent=2, allow_nan=True))
