"""Data-parallel training under ``torchrun`` (gloo on CPU, nccl on CUDA).

Methods expose ``loss``/``train_step`` rather than ``forward``, and GANs step several optimizers
per step, so instead of wrapping the model in ``DistributedDataParallel`` genzoo does what DDP
does explicitly: parameters and buffers are broadcast from rank 0 at the start, each
optimizer step averages gradients across processes with one flattened all-reduce, and buffers
(batch-norm statistics) are broadcast from rank 0 after each step. The result is
the same synchronous data-parallel SGD. Each rank reads its own shard of every epoch and keeps
its own random streams (and replay buffers); only rank 0 writes to the run directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup() -> Context:
    """Join the process group when launched by torchrun (``WORLD_SIZE`` > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    return Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    if active():
        dist.barrier()


def broadcast_module(module: nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if active():
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)


def broadcast_buffers(module: nn.Module) -> None:
    """Copy rank 0's buffers (e.g. batch-norm statistics) to every rank, as DDP does."""
    if active():
        for tensor in module.buffers():
            dist.broadcast(tensor, src=0)


def average_gradients(params: list[nn.Parameter]) -> None:
    """Replace each gradient by its mean over ranks (one flattened all-reduce)."""
    if not active():
        return
    grads = []
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        grads.append(p.grad)
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def any_rank(flag: bool, device: torch.device) -> bool:
    """True when ``flag`` is true on any rank (so every rank takes the same branch)."""
    if not active():
        return flag
    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())
