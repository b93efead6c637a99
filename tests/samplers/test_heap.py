"""kept_heap: a chain reuses the memory it frees; glibc's thresholds are set and restored."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from genzoo import runtime as heap


class FakeLibc:
    """Records mallopt / malloc_trim calls."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append(("mallopt", param, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad))
        return 1


CHAIN_PAGE_FAULTS = """
import resource, sys, torch
from genzoo.config import resolve_config
from genzoo.data.base import DatasetInfo
from genzoo.runs import build_method
keep = "model.runtime.keep_heap=" + sys.argv[1]
cfg = resolve_config("jem-cifar10", ["model.net.depth=10", "model.net.widen=1",
                                     "model.buffer_size=64", keep])
jem = build_method(cfg, DatasetInfo("cifar10", (3, 32, 32), 10, (0, 255), "image"))
x0 = torch.rand(64, 3, 32, 32) * 2 - 1
jem.chain.run(x0, 2)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
jem.chain.run(x0, 6)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def chain_page_faults(keep_heap: bool, env: dict[str, str]) -> int:
    """Minor page faults of one 6-step chain of a small WRN (batch 64, 32x32) in a fresh
    process, after a warm-up chain."""
    out = subprocess.run([sys.executable, "-c", CHAIN_PAGE_FAULTS, str(keep_heap).lower()],
                         capture_output=True, text=True, check=True, env=env).stdout
    return int(out)


@pytest.mark.skipif(not heap.available(), reason="needs glibc")
def test_a_kept_heap_spares_the_chain_most_page_faults(env):
    # glibc's defaults return the freed activations to the OS between steps and map them
    # anew; the kept heap maps them once per chain (~80k vs ~22k faults measured)
    plain, kept = chain_page_faults(False, env), chain_page_faults(True, env)
    assert kept < plain / 2, f"{kept} page faults with the kept heap, {plain} without"


def test_thresholds_are_set_inside_and_restored_after_an_error(monkeypatch):
    fake = FakeLibc()
    monkeypatch.setattr(heap, "_glibc", lambda: fake)
    with pytest.raises(RuntimeError), heap.kept_heap():
        assert fake.calls == [("mallopt", heap.M_MMAP_THRESHOLD, 32 << 20),
                              ("mallopt", heap.M_TRIM_THRESHOLD, 1 << 30)]
        raise RuntimeError("chain failed")
    assert fake.calls[2:] == [("mallopt", heap.M_TRIM_THRESHOLD, 64 << 20),
                              ("malloc_trim", 0)]


def test_without_glibc_the_block_runs_untouched(monkeypatch):
    monkeypatch.setattr(heap, "_glibc", lambda: None)
    with heap.kept_heap():
        x = torch.ones(3) * 2
    assert x.tolist() == [2.0, 2.0, 2.0]

