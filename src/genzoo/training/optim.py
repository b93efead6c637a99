"""Optimizers, the learning-rate schedule and the weight EMA used by the training loop.

The schedule is a pure function of the step, so a checkpoint's step counter is the scheduler's
whole state and resuming gives the same learning rates.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from genzoo.config import TrainConfig
from genzoo.training import distributed


def lr_factor(step: int, cfg: TrainConfig, total_steps: int) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based) of ``total_steps``.

    Linear warm-up from ``1/warmup_steps`` to 1 over ``warmup_steps``, then ``cfg.schedule``:
    constant; cosine or linear decay reaching ``min_lr_ratio`` at ``total_steps`` (so the last
    step still learns); or ``step``, which
    multiplies by ``gamma`` at each milestone passed.
    """
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "step":
        return cfg.gamma ** sum(step >= m for m in cfg.milestones)
    span = max(1, total_steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    low = cfg.min_lr_ratio
    if cfg.schedule == "cosine":
        return low + (1 - low) * 0.5 * (1 + math.cos(math.pi * progress))
    if cfg.schedule == "linear":
        return 1 - (1 - low) * progress
    return 1.0


def _fusable(params: list) -> bool:
    """Whether every parameter suits PyTorch's fused (single-kernel) optimizer step: floating
    point on the CPU or a CUDA device. Fused steps are about 3x faster than the per-tensor loop
    for the many small tensors of toy networks and agree with it to float rounding."""
    tensors = [t for p in params for t in (p["params"] if isinstance(p, dict) else [p])]
    return bool(tensors) and all(t.is_floating_point() and t.device.type in ("cpu", "cuda")
                                 for t in tensors)


def make_optimizer(params: list, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer named by ``cfg.optimizer`` over ``params`` (tensors or param-group dicts);
    fused where the parameters allow it (see :func:`_fusable`)."""
    params = [{**p, "params": list(p["params"])} if isinstance(p, dict) else p for p in params]
    fused = _fusable(params) or None
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay, fused=fused)
    if cfg.optimizer == "rmsprop":  # plain RMSprop, the clipped WGAN's (Arjovsky 2017, Alg. 1)
        return torch.optim.RMSprop(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    kind = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return kind(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay, fused=fused)


class Optimizers:
    """A method's optimizers, by name, and the work of one optimizer step.

    ``step(name, loss)`` zeroes that optimizer's gradients, back-propagates (scaled under fp16
    AMP), averages gradients across processes under torchrun, clips, and steps. Methods with
    several optimizers (GANs) call it once per optimizer from their ``train_step``.
    """

    def __init__(self, groups: dict[str, list], cfg: TrainConfig, scaler: torch.amp.GradScaler):
        self.cfg = cfg
        self.scaler = scaler
        self.optimizers = {name: make_optimizer(params, cfg) for name, params in groups.items()}
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group.setdefault("initial_lr", group["lr"])
        self.grad_norms: dict[str, float] = {}

    def set_lr_factor(self, factor: float) -> None:
        """Scale every group's learning rate to ``factor`` times its initial one, except groups
        a method marked ``fixed_lr`` (SimSiam's predictor), which keep their initial rate."""
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * (1.0 if group.get("fixed_lr") else factor)

    @property
    def lr(self) -> float:
        """Current learning rate of the first optimizer's first group (for logging)."""
        return next(iter(self.optimizers.values())).param_groups[0]["lr"]

    def step(self, name: str, loss: Tensor) -> None:
        opt = self.optimizers[name]
        params = [p for group in opt.param_groups for p in group["params"]]
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        distributed.average_gradients(params)
        if self.cfg.grad_clip is not None:
            self.scaler.unscale_(opt)
            norm = nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
            self.grad_norms[name] = float(norm)
        self.scaler.step(opt)
        self.scaler.update()

    def state_dict(self) -> dict:
        return {"optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])


class EMA:
    """Exponential moving average of a module's state: ``shadow = d * shadow + (1 - d) * w``.

    Integer buffers (counters) are copied. ``applied(module)`` swaps the averaged weights in for
    evaluation and sampling and swaps the trained ones back afterwards.
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        for key, value in module.state_dict().items():
            if value.dtype.is_floating_point:
                self.shadow[key].lerp_(value, 1 - self.decay)
            else:
                self.shadow[key].copy_(value)

    def state_dict(self) -> dict[str, Tensor]:
        return self.shadow

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        for key, value in state.items():
            self.shadow[key].copy_(value)

    @contextmanager
    def applied(self, module: nn.Module) -> Iterator[None]:
        trained = {k: v.detach().clone() for k, v in module.state_dict().items()}
        module.load_state_dict(self.shadow)
        try:
            yield
        finally:
            module.load_state_dict(trained)
