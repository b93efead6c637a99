"""Atomic checkpoints that hold everything needed to resume exactly.

A checkpoint is a dict of tensors and plain values (loadable with ``weights_only=True``): the
method name, resolved config, dataset info, weights, optimizer and AMP-scaler states, EMA
weights, the method's extra state (e.g. replay buffers), every RNG state and the loop counters.
It is written to a temporary file in the same folder and renamed over the old one, so a process
killed mid-write never leaves a broken checkpoint.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from genzoo.errors import CheckpointError
from genzoo.io import atomic_open

FORMAT = 1


def save_checkpoint(payload: dict, path: Path) -> None:
    """Write ``payload`` to ``path`` atomically (temp file + fsync + rename)."""
    with atomic_open(path) as f:
        torch.save({"format": FORMAT, **payload}, f)


def load_checkpoint(path: Path | str, method: str | None = None) -> dict:
    """Read a genzoo checkpoint (``weights_only=True``); check its method when given.

    Raises:
        CheckpointError: missing, unreadable, not genzoo's, or from another method.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a damaged or foreign file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: {first}") from None
    if not isinstance(payload, dict) or "format" not in payload or "method" not in payload:
        raise CheckpointError(f"{path} is not a genzoo checkpoint")
    if payload["format"] > FORMAT:
        raise CheckpointError(f"{path} has checkpoint format {payload['format']}; this genzoo "
                              f"reads up to {FORMAT} (upgrade genzoo)")
    if method is not None and payload["method"] != method:
        raise CheckpointError(f"checkpoint {path} is from method {payload['method']!r}, "
                              f"not {method!r}")
    return payload


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """Every RNG state as tensors and plain values (safe for ``weights_only`` loading)."""
    version, state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    out = {
        "python": {"version": version, "state": list(state), "gauss": gauss},
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
