"""The one training loop: ``fit(method, data, cfg, run_dir)``.

Every family trains here: optimizer steps (through ``method.train_step``), learning-rate warm-up
and schedule, gradient clipping, weight EMA, mixed precision where the device has it natively
(``train.amp``, resolved by :func:`genzoo.runtime.resolve_precision` and logged), data
parallelism under torchrun, a progress bar, ``metrics.jsonl``, validation, sample grids, atomic
checkpoints that resume exactly, and a divergence guard that rolls back to the last good
checkpoint (on a non-finite or exploding loss, or when ``method.divergence(metrics)`` says why
the method's state diverged).
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from genzoo import runtime
from genzoo.config import RunConfig, TrainConfig
from genzoo.data.base import Dataset
from genzoo.errors import ConfigError, TrainingDiverged
from genzoo.io import atomic_write_text
from genzoo.models.base import Batch, Method
from genzoo.training import distributed
from genzoo.training.checkpoint import (
    load_checkpoint,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from genzoo.training.optim import EMA, Optimizers, lr_factor


class BatchStream:
    """Shuffled mini-batches addressed by step, so a resumed run sees the same batches.

    Epoch ``e`` uses the permutation drawn from ``seed`` and ``e``; under torchrun rank ``r``
    of ``w`` takes items ``r, r + w, ...`` of it. Incomplete last batches are dropped.
    """

    def __init__(self, data: Dataset, batch_size: int, seed: int, rank: int = 0,
                 world: int = 1) -> None:
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.rank, self.world = rank, world
        self.steps_per_epoch = (len(data) // world) // batch_size
        if self.steps_per_epoch == 0:
            raise ConfigError(f"the training set has {len(data)} items, fewer than one batch "
                              f"of {batch_size} per process; lower train.batch_size")
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        epoch, i = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(len(self.data), generator=g)[self.rank::self.world]
            self._epoch = epoch
        index = self._perm[i * self.batch_size:(i + 1) * self.batch_size]
        return self.data.x[index], None if self.data.y is None else self.data.y[index]


def eval_batches(method: Method, data: Dataset, batch_size: int):
    """Batches of ``data`` in order, prepared for ``method`` on its device."""
    device = method.device
    for start in range(0, len(data), batch_size):
        x = data.x[start:start + batch_size].to(device)
        y = None if data.y is None else data.y[start:start + batch_size].to(device)
        yield method.prepare(x, y)


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> cuda (this process's GPU under torchrun) > mps > cpu; else ``name``."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"train.device: expected auto, cpu, cuda, cuda:N or mps, got {name!r}")\
            from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device: cuda was asked for but no CUDA device is available")
    return device


def training_device(tc: TrainConfig, local_rank: int = 0) -> torch.device:
    """:func:`pick_device` for ``tc.device``, after checking that ``tc``'s mixed precision
    suits it: bf16 autocast runs on any device, fp16 (with its gradient scaler) needs CUDA
    (``train.amp=auto`` leaves fp16 off elsewhere)."""
    device = pick_device(tc.device, local_rank)
    if tc.amp is True and tc.amp_dtype == "fp16" and device.type != "cuda":
        raise ConfigError(f"train.amp_dtype: fp16 needs a CUDA device (this run is on "
                          f"{device.type}); use train.amp_dtype=bf16")
    return device


@dataclass
class LoopState:
    step: int = 0
    restarts: int = 0
    lr_scale: float = 1.0
    best: float | None = None
    elapsed: float = 0.0
    cpu_elapsed: float = 0.0  # CPU seconds of this process (all its threads) so far


class MetricLog:
    """Appends JSON lines to ``metrics.jsonl`` (main process only)."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path, self.enabled = path, enabled

    def truncate_after(self, step: int) -> None:
        """Drop lines logged after ``step`` (work a killed process did past its checkpoint)."""
        if not (self.enabled and self.path.exists()):
            return
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    kept.append(line)
            except json.JSONDecodeError:
                continue  # a line cut short when the process was killed
        atomic_write_text(self.path, "".join(line + "\n" for line in kept))

    def write(self, record: dict) -> None:
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")


def _finite_params(method: Method) -> bool:
    return all(torch.isfinite(p).all() for p in method.parameters())


def _diverged(metrics: dict[str, float], max_abs: float) -> str | None:
    """Why these step metrics count as divergence, or None."""
    for key, value in metrics.items():
        if not math.isfinite(value):
            return f"non-finite {key} ({value})"
    loss = metrics.get("loss", 0.0)
    if abs(loss) > max_abs:
        return f"exploding loss ({loss:.3g} > {max_abs:g})"
    return None


class _Trainer:
    """State of one ``fit`` call; methods are the loop's phases."""

    def __init__(self, method: Method, data: Dataset, cfg: RunConfig, run_dir: Path,
                 val_data: Dataset | None, quiet: bool) -> None:
        self.cfg, self.tc, self.run_dir, self.val_data = cfg, cfg.train, run_dir, val_data
        self.data = data
        self.ctx = distributed.setup()
        self.device = training_device(self.tc, self.ctx.local_rank)
        self.method = method.to(self.device, memory_format=torch.channels_last
                                if self.tc.channels_last else torch.preserve_format)
        distributed.broadcast_module(method)
        self.stream = BatchStream(data, self.tc.batch_size, self.tc.seed, self.ctx.rank,
                                  self.ctx.world)
        spe = self.stream.steps_per_epoch
        self.total = self.tc.steps or self.tc.epochs * spe
        self.eval_every = self.tc.eval_every or spe
        self.log_every = spe if self.tc.log_every == "epoch" else self.tc.log_every
        self.ckpt_every = self.tc.ckpt_every or spe
        # train.amp resolved once: the dtype every step computes in, and why (logged in run)
        self.precision = runtime.resolve_precision(self.tc.amp, self.tc.amp_dtype, self.device)
        fp16 = self.precision.dtype == torch.float16
        self.opt = Optimizers(method.param_groups(), self.tc,
                              torch.amp.GradScaler(self.device.type, enabled=fp16))
        self.ema = EMA(method, self.tc.ema_decay) if self.tc.ema_decay else None
        self.state = LoopState()
        self.log = MetricLog(run_dir / "metrics.jsonl", self.ctx.is_main)
        self.quiet = quiet
        self.ckpt_dir = run_dir / "checkpoints"

    # ------------------------------------------------------------------ checkpoints
    def payload(self) -> dict:
        return {
            "method": self.cfg.method, "config": self.cfg.to_dict(),
            "info": asdict(self.method.info), "model": self.method.state_dict(),
            "optim": self.opt.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "extra": self.method.state_for_checkpoint(), "rng": rng_state(),
            "loop": vars(self.state).copy(),
        }

    def save(self, name: str = "last") -> None:
        if self.ctx.is_main:
            save_checkpoint(self.payload(), self.ckpt_dir / f"{name}.pt")
        distributed.barrier()

    def restore(self, ckpt: dict, *, exact: bool) -> None:
        """Load a checkpoint; ``exact`` also restores RNG states and counters (resume)."""
        self.method.load_state_dict(ckpt["model"])
        self.method.load_extra_state(ckpt["extra"])
        self.opt.load_state_dict(ckpt["optim"])
        if self.ema is not None and ckpt.get("ema") is not None:
            self.ema.load_state_dict(ckpt["ema"])
        loop = LoopState(**ckpt["loop"])
        if exact:
            self.state = loop
            if self.ctx.world == 1:
                set_rng_state(ckpt["rng"])
            else:  # each rank had its own streams; rank 0's were saved
                seed_everything(self.tc.seed + 7919 * self.ctx.rank + loop.step)
        else:
            self.state.step, self.state.best = loop.step, loop.best

    # ------------------------------------------------------------------ phases
    def evaluate(self) -> None:
        if self.val_data is None:
            return
        self.method.eval()
        with torch.random.fork_rng(devices=[]), self._ema_weights():
            numbers = self.method.evaluate(eval_batches(self.method, self.val_data,
                                                        self.tc.batch_size))
        self.log.write({"step": self.state.step, "epoch": self._epoch(), "time": self._time(),
                        "split": "val", **numbers})
        value = numbers.get(self.tc.best_metric)
        if value is None:
            return
        better = self.state.best is None or (
            value < self.state.best if self.tc.best_mode == "min" else value > self.state.best)
        if better:
            self.state.best = value
            self.save("best")

    def write_samples(self, tag: str) -> None:
        if not (self.ctx.is_main and "sample" in self.method.capabilities):
            return
        from genzoo.viz.samples import save_samples

        self.method.eval()
        with torch.random.fork_rng(devices=[]), self._ema_weights():
            torch.manual_seed(self.tc.seed)
            save_samples(self.method, self.tc.num_samples,
                         self.run_dir / "samples" / f"{tag}.png", self.stream.data)

    def _ema_weights(self):
        return self.ema.applied(self.method) if self.ema else contextlib.nullcontext()

    def _epoch(self) -> float:
        return round(self.state.step / self.stream.steps_per_epoch, 4)

    def _time(self) -> float:
        return round(self.state.elapsed + time.perf_counter() - self._t0, 3)

    def _cpu_time(self) -> float:
        """CPU seconds the training has used (all threads; resumes add up)."""
        return round(self.state.cpu_elapsed + time.process_time() - self._cpu0, 3)

    def rollback(self, reason: str) -> None:
        """Divergence: reload last.pt, reseed, optionally lower the lr, or give up."""
        guard = self.tc.guard
        self.state.restarts += 1
        step = self.state.step
        if self.state.restarts > guard.max_restarts:
            raise TrainingDiverged(
                f"training diverged at step {step} ({reason}) and the guard already restarted "
                f"{guard.max_restarts} times; lower train.lr, set train.grad_clip, or raise "
                "train.guard.max_restarts")
        restarts, lr_scale = self.state.restarts, self.state.lr_scale * guard.lr_factor
        self.restore(load_checkpoint(self.ckpt_dir / "last.pt", self.cfg.method), exact=False)
        self.state.restarts, self.state.lr_scale = restarts, lr_scale
        seed_everything(self.tc.seed + 1_000_003 * restarts + self.ctx.rank)
        self.log.write({"step": step, "time": self._time(), "event": "restart",
                        "reason": reason, "restarts": restarts,
                        "resumed_from": self.state.step, "lr_scale": lr_scale})
        if not self.quiet and self.ctx.is_main:
            tqdm.write(f"genzoo: {reason} at step {step}; rolled back to step "
                       f"{self.state.step} (restart {restarts}/{guard.max_restarts})")

    def log_precision(self) -> None:
        """Where ``train.amp`` was not simply false: which precision the steps run in and why,
        as an event of metrics.jsonl and, unless quiet, a line on stderr."""
        if self.tc.amp is False:
            return
        p = self.precision
        self.log.write({"step": self.state.step, "time": self._time(), "event": "precision",
                        "reason": str(p), "amp": p.request, "dtype": p.name})
        if not self.quiet and self.ctx.is_main:
            tqdm.write(f"genzoo: {p}", file=sys.stderr)

    def run(self, resume_from: dict | None) -> None:
        if resume_from is not None:
            self.restore(resume_from, exact=True)
            self.log.truncate_after(self.state.step)
        else:
            self.method.setup(self.data)
            self.save("last")  # the guard always has a state to roll back to
        self.method.attach(self.data)
        self._t0, self._cpu0 = time.perf_counter(), time.process_time()
        self.log_precision()
        last_ckpt_time = time.perf_counter()
        running: dict[str, float] = {}
        count = 0
        bar = tqdm(total=self.total, initial=self.state.step, dynamic_ncols=True,
                   disable=self.quiet or not self.ctx.is_main, desc=self.cfg.name)
        autocast = torch.autocast(
            self.device.type, dtype=torch.bfloat16 if self.tc.amp_dtype == "bf16" else
            torch.float16, enabled=self.precision.autocast)
        while self.state.step < self.total:
            x, y = self.stream.batch(self.state.step)
            batch: Batch = self.method.prepare(
                x.to(self.device, non_blocking=True),
                None if y is None else y.to(self.device, non_blocking=True))
            self.opt.set_lr_factor(lr_factor(self.state.step, self.tc, self.total)
                                   * self.state.lr_scale)
            self.method.train()
            with autocast:
                metrics = self.method.train_step(batch, self.opt)
            reason = _diverged(metrics, self.tc.guard.max_abs_loss) or \
                self.method.divergence(metrics)
            if self.tc.guard.enabled and distributed.any_rank(reason is not None, self.device):
                self.rollback(reason or "divergence on another rank")
                bar.n = self.state.step
                running, count = {}, 0
                continue
            self.state.step += 1
            distributed.broadcast_buffers(self.method)
            if self.ema is not None:
                self.ema.update(self.method)
            for key, value in metrics.items():
                running[key] = running.get(key, 0.0) + value
            count += 1
            bar.update(1)
            step = self.state.step
            if step % self.log_every == 0 or step == self.total:
                means = {k: v / count for k, v in running.items()}
                self.log.write({"step": step, "epoch": self._epoch(), "time": self._time(),
                                "cpu_time": self._cpu_time(), "split": "train", **means,
                                "lr": self.opt.lr,
                                **{f"grad_norm/{k}": v for k, v in self.opt.grad_norms.items()},
                                "restarts": self.state.restarts})
                bar.set_postfix({k: f"{v:.4g}" for k, v in list(means.items())[:3]})
                running, count = {}, 0
            if step % self.eval_every == 0 or step == self.total:
                self.evaluate()
            if self.tc.samples_every and step % self.tc.samples_every == 0:
                self.write_samples(f"step-{step:07d}")
            minutes = (time.perf_counter() - last_ckpt_time) / 60
            if step % self.ckpt_every == 0 or step == self.total or minutes > \
                    self.tc.ckpt_minutes:
                if self.tc.guard.enabled and not _finite_params(self.method):
                    self.rollback("non-finite parameters")
                    bar.n = self.state.step
                    continue
                self.state.elapsed, self.state.cpu_elapsed = self._time(), self._cpu_time()
                self._t0, self._cpu0 = time.perf_counter(), time.process_time()
                self.save("last")
                last_ckpt_time = time.perf_counter()
        bar.close()
        self.write_samples("final")


def fit(method: Method, data: Dataset, cfg: RunConfig, run_dir: Path, *,
        val_data: Dataset | None = None, resume_from: dict | None = None,
        quiet: bool = False) -> Method:
    """Train ``method`` on ``data`` as ``cfg.train`` says, writing into ``run_dir``.

    Args:
        method: the family instance (weights already initialised, or loaded for a resume).
        data: the training split.
        cfg: the resolved run config.
        run_dir: the run directory (created by the caller; only rank 0 writes into it).
        val_data: validation split, evaluated every ``train.eval_every`` steps.
        resume_from: a checkpoint payload to continue exactly from.
        quiet: no progress bar.

    Returns:
        The trained method (in eval mode, on its training device).
    """
    if cfg.train.num_threads:
        torch.set_num_threads(cfg.train.num_threads)
    trainer = _Trainer(method, data, cfg, Path(run_dir), val_data, quiet)
    trainer.run(resume_from)
    return method.eval()
