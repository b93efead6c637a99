"""Data-parallel training under torchrun (2 CPU processes, gloo)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch


@pytest.mark.slow
def test_two_processes_stay_identical_and_only_rank0_writes(tmp_path, env):
    worker = Path(__file__).with_name("ddp_worker.py")
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(worker), str(tmp_path)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert a.keys() == b.keys()
    for key in a:  # parameters and batch-norm buffers
        assert torch.equal(a[key], b[key]), key
    # one run directory, written once
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["clf-digits"]
    lines = (tmp_path / "runs" / "clf-digits" / "metrics.jsonl").read_text().splitlines()
    steps = [json.loads(x)["step"] for x in lines if json.loads(x).get("split") == "train"]
    assert steps == list(range(1, 13))
    assert sorted(p.name for p in (tmp_path / "fit").iterdir()) == ["checkpoints",
                                                                     "metrics.jsonl"]
    # JEM: identical weights, one replay buffer per rank (filled by that rank's own chains)
    a = torch.load(tmp_path / "jem0.pt", weights_only=True)
    b = torch.load(tmp_path / "jem1.pt", weights_only=True)
    for key in a["params"]:
        assert torch.equal(a["params"][key], b["params"][key]), key
    assert len(a["buffer"]["x"]) == len(b["buffer"]["x"]) == 64
    assert not torch.equal(a["buffer"]["x"], b["buffer"]["x"])

