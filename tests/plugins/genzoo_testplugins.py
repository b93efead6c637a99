"""Methods that exist only for tests (loaded through $GENZOO_PLUGINS).

``test-buffered``: a tiny EBM-like method with a replay-buffer-like extra state, used to check
that checkpoints and resume carry extra state and every random stream exactly.
``test-nan``: a classifier whose loss turns NaN at chosen steps, to exercise the divergence guard.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field

import torch

from genzoo.config import param
from genzoo.models.base import Batch, LossOutput, Method, NoOptions
from genzoo.models.classifier import Classifier, ClassifierConfig
from genzoo.nets.base import NetConfig
from genzoo.nets.mlp import MLPConfig
from genzoo.registry import methods


@dataclass
class BufferedConfig:
    net: NetConfig = field(default_factory=lambda: MLPConfig(width=32, depth=1))
    capacity: int = param(64, "buffer size", ge=1)
    steps: int = param(2, "Langevin steps per training step", ge=0)
    kill_at: int = param(0, "SIGKILL this process at this training call (0: never)", ge=0)


@methods.register("test-buffered")
class Buffered(Method):
    """Test method: energy net, persistent buffer of negatives refreshed with noise each step."""

    Config = BufferedConfig
    SampleOptions = NoOptions
    capabilities = frozenset({"sample", "energy"})
    data_range = (-1.0, 1.0)
    name = "test-buffered"

    def __init__(self, cfg: BufferedConfig, info) -> None:
        super().__init__(cfg, info)
        self.net = cfg.net.build(info.shape, 1)
        self.buffer = torch.rand(cfg.capacity, *info.shape) * 2 - 1
        self.pushes = 0

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)

    def _negatives(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.randint(len(self.buffer), (n,))
        x = self.buffer[index].to(self.device)
        fresh = torch.rand(n, device=x.device) < 0.05
        x[fresh] = torch.rand_like(x[fresh]) * 2 - 1
        for _ in range(self.cfg.steps):
            x = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(self.energy(x).sum(), x)
            x = (x - 0.1 * g + 0.01 * torch.randn_like(x)).clamp(-1, 1)
        return x.detach(), index

    def loss(self, batch: Batch) -> LossOutput:
        with torch.enable_grad():
            x_neg, index = self._negatives(len(batch.x))
        if self.training:
            self.buffer[index] = x_neg.cpu()
            self.pushes += 1
            if self.pushes == self.cfg.kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        e_pos, e_neg = self.energy(batch.x), self.energy(x_neg)
        loss = e_pos.mean() - e_neg.mean() + 0.1 * (e_pos**2 + e_neg**2).mean()
        return LossOutput(loss, {"gap": (e_neg.mean() - e_pos.mean()).item()})

    def draw(self, n: int, y, options: NoOptions) -> torch.Tensor:
        with torch.enable_grad():
            return self._negatives(n)[0]

    def state_for_checkpoint(self) -> dict:
        return {"buffer": self.buffer.clone(), "pushes": self.pushes}

    def load_extra_state(self, state: dict) -> None:
        self.buffer = state["buffer"].clone()
        self.pushes = state["pushes"]


@dataclass
class NanConfig(ClassifierConfig):
    nan_at: tuple[int, ...] = param((), "training steps (1-based calls) whose loss is NaN")
    always_nan: bool = param(False, "every loss is NaN")


@methods.register("test-nan")
class NanClassifier(Classifier):
    """Test method: a classifier whose loss is NaN at chosen calls (once each)."""

    Config = NanConfig
    name = "test-nan"

    def __init__(self, cfg: NanConfig, info) -> None:
        super().__init__(cfg, info)
        self.calls = 0  # not checkpointed: a rollback does not replay the injected NaN

    def loss(self, batch: Batch) -> LossOutput:
        out = super().loss(batch)
        if self.training:
            self.calls += 1
            if self.cfg.always_nan or self.calls in self.cfg.nan_at:
                out.loss = out.loss * float("nan")
        return out
