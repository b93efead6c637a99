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
    >>> from genzoo.samplers.langevin import sgld
    >>> with kept_heap():
    ...     x = sgld(lambda v: -v, torch.zeros(64, 2), steps=20, step_size=0.1,
    ...              noise_scale=0.01)
    >>> x.shape
    torch.Size([64, 2])

Reduced precision where the hardware has it. bf16 autocast pays off only where the device does
bf16 arithmetic natively: CUDA GPUs that support it, and CPUs with AVX512-BF16 or AMX-BF16
(elsewhere PyTorch converts every bf16 operand to float32 and back, and a training step is
about 2.5x slower than in float32). :func:`native_bf16` says whether a device does, decided at
run time and cached; :func:`resolve_precision` turns a request (``true``, ``false`` or
``"auto"``, e.g. ``train.amp``) into the dtype a step runs in and a reason to log. On a CPU the
answer follows ``/proc/cpuinfo``'s flags (PyTorch's own CPU probes where that file is absent)
and respects the limits ``ATEN_CPU_CAPABILITY`` (below ``avx512``) and ``ONEDNN_MAX_CPU_ISA``
(below ``AVX512_CORE_BF16``) put on the kernels.

    >>> p = resolve_precision("auto", "fp16", torch.device("cpu"))
    >>> p.autocast, str(p)
    (False, 'train.amp=auto -> float32 (fp16 autocast needs a CUDA device)')
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

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


# ----------------------------------------------------------------------------- reduced precision
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of native bf16 arithmetic
# ATEN_CPU_CAPABILITY values that keep ATen's CPU kernels below AVX-512 (its bf16 kernels)
ATEN_BELOW_AVX512 = frozenset({"default", "avx2"})
# ONEDNN_MAX_CPU_ISA values below AVX512_CORE_BF16 (oneDNN's first ISA with bf16 dot products)
ONEDNN_BELOW_BF16 = frozenset({"sse41", "avx", "avx2", "avx2_vnni", "avx2_vnni_2",
                               "avx512_core", "avx512_core_vnni"})


def cpuinfo_flags(text: str) -> set[str]:
    """The feature flags of ``/proc/cpuinfo`` text (its first ``flags`` line; x86)."""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags":
            return set(value.split())
    return set()


def _torch_cpu_flags() -> set[str]:
    """:data:`BF16_CPU_FLAGS` as PyTorch's own CPU probes (the cpuinfo library) see them."""
    probes = {"avx512_bf16": "_is_avx512_bf16_supported", "amx_bf16": "_is_amx_tile_supported"}
    return {flag for flag, probe in probes.items() if getattr(torch.cpu, probe, lambda: False)()}


def cpu_bf16_support(cpuinfo: str | None, capability: str, env: Mapping[str, str],
                     fallback_flags: Callable[[], set[str]] = _torch_cpu_flags,
                     ) -> tuple[bool, str]:
    """Whether a CPU does bf16 arithmetic natively, and why, from what describes it.

    Args:
        cpuinfo: the text of ``/proc/cpuinfo``; None where there is none (macOS, Windows):
            then ``fallback_flags()`` says which of :data:`BF16_CPU_FLAGS` the CPU has.
        capability: ``torch.backends.cpu.get_cpu_capability()``, the ISA ATen's kernels run
            at (e.g. ``AVX2``, ``AVX512``); below AVX-512 its bf16 kernels are emulated.
        env: the environment, for ``ATEN_CPU_CAPABILITY`` and ``ONEDNN_MAX_CPU_ISA``.
        fallback_flags: the flags where ``cpuinfo`` is None.
    """
    flags = cpuinfo_flags(cpuinfo) if cpuinfo is not None else fallback_flags()
    found = [flag for flag in BF16_CPU_FLAGS if flag in flags]
    if not found:
        return False, "this CPU has no native bf16"
    aten = env.get("ATEN_CPU_CAPABILITY", "").strip().lower()
    if aten in ATEN_BELOW_AVX512:
        return False, f"ATEN_CPU_CAPABILITY={aten} keeps PyTorch's CPU kernels below AVX-512"
    onednn = env.get("ONEDNN_MAX_CPU_ISA", "").strip().lower()
    if onednn in ONEDNN_BELOW_BF16:
        return False, f"ONEDNN_MAX_CPU_ISA={onednn.upper()} keeps oneDNN below AVX512_CORE_BF16"
    if not capability.upper().startswith("AVX512"):
        return False, f"PyTorch runs its CPU kernels at {capability} here, below AVX-512"
    return True, f"this CPU has native bf16 ({found[0]})"


def _read_cpuinfo() -> str | None:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return None


@functools.cache
def bf16_support(device: torch.device | str) -> tuple[bool, str]:
    """Whether ``device`` does bf16 arithmetic natively, and why (cached per device)."""
    device = torch.device(device)
    if device.type == "cpu":
        return cpu_bf16_support(_read_cpuinfo(), torch.backends.cpu.get_cpu_capability(),
                                os.environ)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return False, "no CUDA device"
        with torch.cuda.device(device):
            native = torch.cuda.is_bf16_supported(including_emulation=False)
        name = torch.cuda.get_device_name(device)
        return native, f"the {name} {'has' if native else 'has no'} native bf16"
    return False, f"native bf16 is detected on CUDA and CPU devices only, not {device.type}"


def native_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` does bf16 arithmetic natively: a CUDA GPU that supports bf16, or a
    CPU with AVX512-BF16 or AMX-BF16 whose kernels no environment variable holds below them."""
    return bf16_support(device)[0]


_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
_NAMES = {torch.float32: "float32", torch.bfloat16: "bf16", torch.float16: "fp16"}


@dataclass(frozen=True)
class Precision:
    """What a precision request resolved to: the dtype a step computes in and why."""

    request: bool | str
    dtype: torch.dtype  # torch.float32 when autocast is off
    reason: str
    key: str = "train.amp"

    @property
    def autocast(self) -> bool:
        return self.dtype != torch.float32

    @property
    def name(self) -> str:
        """``float32``, ``bf16`` or ``fp16``."""
        return _NAMES[self.dtype]

    def __str__(self) -> str:
        return f"{self.key}={str(self.request).lower()} -> {self.name} ({self.reason})"


def resolve_precision(request: bool | Literal["auto"], dtype: Literal["bf16", "fp16"],
                      device: torch.device | str, key: str = "train.amp") -> Precision:
    """``request`` for an autocast to ``dtype`` on ``device``: ``True`` forces it, ``False``
    keeps float32, ``"auto"`` autocasts where the device has native support (bf16:
    :func:`native_bf16`; fp16: CUDA only). ``key`` names the setting in the reason."""
    target = _DTYPES[dtype]
    device = torch.device(device)
    if request is False:
        return Precision(request, torch.float32, "autocast off", key)
    if dtype == "fp16":
        native = device.type == "cuda"
        why = "CUDA runs fp16 natively" if native else "fp16 autocast needs a CUDA device"
    else:
        native, why = bf16_support(device)
    if request is True:
        return Precision(request, target, why if native else
                         f"forced, though {why}: expect it to be slower than float32", key)
    if request != "auto":
        raise ValueError(f"{key}: expected true, false or auto, got {request!r}")
    if native:
        return Precision(request, target, why, key)
    hint = f"; {key}=true forces {dtype}" if dtype == "bf16" else ""  # bf16 runs anywhere
    return Precision(request, torch.float32, why + hint, key)
