"""Keep the C heap's freed memory mapped while a CPU Langevin chain runs (glibc only).

PyTorch's CPU tensors come from ``malloc``. Every step of a chain allocates and frees the same
activations and gradients (tens of MiB for an image batch); glibc returns freed memory at the
top of the heap to the OS once it exceeds the trim threshold, and serves large requests with
fresh ``mmap`` pages, so the next step touches new pages and pays a page fault per 4 KiB (about
1 GB of faults per two WRN-16-4 steps on a batch of 64). :func:`kept_heap` raises the trim
threshold for the duration of a chain and serves requests below 32 MiB from the heap, so a
chain reuses its own memory, as PyTorch's caching allocator does on CUDA.

On exit the trim threshold drops to 64 MiB with the mmap threshold at 32 MiB: the values
glibc's own dynamic thresholds reach after a 32 MiB block is freed (``mallopt(3)``: the trim
threshold follows at twice the mmap threshold), and ``malloc_trim(0)`` returns what the chain
kept. Elsewhere (macOS, musl, Windows) it does nothing.

Example:
    >>> with kept_heap():
    ...     x = sgld(grad, x, steps=20, step_size=1.0, noise=0.01)   # doctest: +SKIP
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Iterator
from contextlib import contextmanager

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters of glibc's <malloc.h>
MMAP_THRESHOLD = 32 << 20  # glibc's upper bound for the mmap threshold on 64-bit systems
CHAIN_TRIM_THRESHOLD = 1 << 30  # keep up to 1 GiB of freed memory during a chain
STEADY_TRIM_THRESHOLD = 2 * MMAP_THRESHOLD


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (it has ``mallopt`` and ``malloc_trim``), else None."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # noqa: B018  (only glibc has it)
        libc.mallopt, libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def available() -> bool:
    """Whether :func:`kept_heap` can act (the process runs on glibc)."""
    return _glibc() is not None


@contextmanager
def kept_heap() -> Iterator[None]:
    """Inside the block, freed memory stays mapped (no trimming below 1 GiB, no ``mmap`` for
    requests below 32 MiB); afterwards glibc's steady-state thresholds and a ``malloc_trim``."""
    libc = _glibc()
    if libc is None:
        yield
        return
    libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    libc.mallopt(M_TRIM_THRESHOLD, CHAIN_TRIM_THRESHOLD)
    try:
        yield
    finally:
        libc.mallopt(M_TRIM_THRESHOLD, STEADY_TRIM_THRESHOLD)
        libc.malloc_trim(0)
