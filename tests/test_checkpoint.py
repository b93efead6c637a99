"""Checkpoints: atomic writes, weights_only loading, RNG round trips, clear errors."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from genzoo.errors import CheckpointError
from genzoo.training.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state


def test_round_trip_and_method_check(tmp_path):
    path = tmp_path / "ck" / "last.pt"
    save_checkpoint({"method": "m", "model": {"w": torch.arange(3.0)}, "loop": {"step": 4}}, path)
    back = load_checkpoint(path, "m")
    assert torch.equal(back["model"]["w"], torch.arange(3.0)) and back["loop"]["step"] == 4
    with pytest.raises(CheckpointError, match="is from method 'm', not 'other'"):
        load_checkpoint(path, "other")
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temp files left


def test_unreadable_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(junk)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(1)}, foreign)
    with pytest.raises(CheckpointError, match="is not a genzoo checkpoint"):
        load_checkpoint(foreign)


def test_rng_state_round_trip_through_a_file(tmp_path):
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    save_checkpoint({"method": "m", "rng": rng_state()}, tmp_path / "r.pt")
    first = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(load_checkpoint(tmp_path / "r.pt")["rng"])
    second = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], second[0])
    assert np.array_equal(first[1], second[1]) and first[2] == second[2]
