"""Performance of the Langevin hot paths: sampler throughput, JEM step overhead, buffer memory.

Parts (``--only``, comma-separated; results merge into ``benchmarks/results/perf.json``):

- ``sgld``: image-steps per second (chains x steps / s) of genzoo's sampler
  (``LangevinChain.run``: weights frozen, eval mode, channels-last, in-place update and
  noise, the C heap kept mapped during the chain (``genzoo.runtime``), float32) against a
  plain reference loop written here (a leaf tensor with ``requires_grad``, ``autograd.grad`` of
  the summed logsumexp, update, noise, clamp; the network as a user builds it), on WRN-16-4
  (3x32x32, batch 64; ``jem-cifar10``'s net) and on ``jem-mnist``'s CNN (1x28x28, batch 64).
  Same weights, same starting points; the median of each run is used. Three measurements:

  1. *pair* (the check): the reference and genzoo alone, alternated in one process.
  2. *variants*, alternated in the same process after the pair: the reference, genzoo, genzoo
     without channels-last, without the kept heap (``model.runtime.keep_heap: false``), with
     bf16 autocast (``model.runtime.precision: bf16``), with ``model.runtime.compile``, and the
     reference loop inside ``kept_heap()`` (what the heap setting alone gives a plain loop).
     Interleaving these changes the allocator's state between runs, so their ratios scatter more
     than the pair's.
  3. *separate processes*: the reference and genzoo each in fresh processes of their own,
     alternated. In one process the reference inherits the glibc thresholds genzoo's first
     chain leaves (see ``heap.py``), under which it faults less than in a process of its own,
     so the same-process ratios err low for a user who runs the plain loop in their own
     program; this measurement shows by how much.
- ``jem-step``: seconds of one JEM training step (loss with K SGLD steps, backward, Adam step)
  over the seconds of K + 2 forward-backward passes (train mode, gradients of the weights) of
  the same network and batch, for WRN-16-4 (K = 20, ``jem-cifar10``) and the MNIST CNN
  (``jem-mnist`` with 64 chains per step, K = 20).
- ``memory``: a ``jem-cifar10`` run's replay buffer of 10000 x 3 x 32 x 32 stored as float32
  and as uint8 (``model.buffer_uint8``), each in its own process: the resident memory the
  filled buffer adds, the buffer tensors' bytes, and the process's peak resident memory over
  building, filling and two training steps.
- ``gpu`` (alone, on a CUDA machine; written to ``results/perf-gpu.json``): sampler
  image-steps per second of the reference loop and genzoo (float32, bf16 autocast, compiled),
  20 steps per chain with synchronised timing, and ``jem-cifar10``'s seconds per epoch at
  CIFAR-10 scale (the real training loop on 50000 synthetic images, float32 and with
  ``train.amp`` and bf16 chains). ``benchmarks/gpu_check.sh`` runs it with the CUDA tests.
- ``ddp``: data-parallel scaling on this CPU: ``jem-mnist`` training examples per second with
  one process of one and of two threads, and with two ``torchrun`` ranks (gloo) of one thread
  each, every rank with its own batch of 64 and its own replay buffer (steps 20-60, from the
  run's step times). Needs MNIST under ``GENZOO_DATA``.

Run: ``python benchmarks/sgld_throughput.py [--only sgld,jem-step,memory,ddp]``. CPU only here:
numbers from a GPU machine would say so in ``machine.gpu``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from genzoo.config import resolve_config
from genzoo.data.base import DatasetInfo
from genzoo.models.base import Batch
from genzoo.runs import build_method
from genzoo.runtime import kept_heap
from genzoo.samplers.langevin import frozen
from genzoo.samplers.replay import uniform_init

from common import check, run_parts

BATCH, REPEATS, REPEATS_PAIR, PROCESSES = 64, 5, 7, 3
CPU = torch.device("cpu")
JEM_SAMPLER = ["model.sampler.step_size=1.0", "model.sampler.noise_scale=0.01",
               "model.sampler.clip_grad=null"]
MODELS = {  # name: (preset, dataset info, SGLD steps per timed run)
    "wrn-16-4": ("jem-cifar10", DatasetInfo("cifar10", (3, 32, 32), 10, (0, 255), "image"), 4),
    "mnist-cnn": ("jem-mnist", DatasetInfo("mnist", (1, 28, 28), 10, (0, 255), "image"), 40),
}


def build(model: str, overrides: list[str] = ()):
    """The JEM of ``model``'s preset with ``overrides``, seeded weights, and its info."""
    preset, info, _ = MODELS[model]
    torch.manual_seed(0)
    cfg = resolve_config(preset, [*JEM_SAMPLER, *overrides])
    return build_method(cfg, info), cfg


def reference_loop(net: torch.nn.Module, x0: torch.Tensor, steps: int, step_size: float,
                   noise: float, box: tuple[float, float]) -> torch.Tensor:
    """The plain SGLD loop of JEM's code: ``x += a * d logsumexp f(x) / dx + s * eta``."""
    net.eval()
    x = x0.clone().requires_grad_(True)
    for _ in range(steps):
        g = torch.autograd.grad(net(x).logsumexp(1).sum(), [x])[0]
        x.data += step_size * g + noise * torch.randn_like(x)
        x.data.clamp_(*box)
    return x.detach()


def kept_loop(chain) -> torch.Tensor:
    """``chain()`` inside :func:`genzoo.runtime.kept_heap`."""
    with kept_heap():
        return chain()


def uniform(method, n: int) -> torch.Tensor:
    """``n`` uniform-noise images (n, *shape) in the method's data range, on the CPU."""
    return uniform_init(*method.chain.box)(n, torch.device("cpu"), method.info.shape)


def chain_starts(method) -> torch.Tensor:
    """The timed chains' starting points: BATCH uniform images drawn from seed 1 (the same in
    every process)."""
    torch.manual_seed(1)
    return uniform(method, BATCH)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternated(runs: dict, repeats: int = REPEATS) -> dict[str, list[float]]:
    """Seconds of each of ``runs`` (name: fn), after one untimed call each (compilation and
    allocator warm-up), taken in turn ``repeats`` times."""
    for fn in runs.values():
        fn()
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            seconds[name].append(_timed(fn))
    return seconds


def rates(seconds: dict[str, list[float]], steps: int) -> tuple[dict, dict]:
    """Image-steps per second of each run's median, and its ratio over the reference."""
    rate = {name: BATCH * steps / statistics.median(v) for name, v in seconds.items()}
    return rate, {name: rate[name] / rate["reference"] for name in rate}


def reference_and_genzoo(model: str, device: torch.device = CPU, steps: int | None = None
                         ) -> tuple[dict, object, torch.Tensor]:
    """The checked pair's chains of ``steps`` steps (default: the model's) on ``device`` as
    callables (``{"reference": fn, "genzoo": fn}``: the plain loop and
    ``LangevinChain.run``), the JEM, and the chains' starting points."""
    steps = MODELS[model][2] if steps is None else steps
    method, cfg = build(model)
    method.to(device)
    plain = cfg.model.net.build(method.info.shape, method.num_classes)  # as a user builds it
    plain.load_state_dict(method.net.state_dict())
    plain.to(device)
    s = cfg.model.sampler
    x0 = chain_starts(method).to(device)
    return {"reference": lambda: reference_loop(plain, x0, steps, s.step_size, s.noise_scale,
                                                method.chain.box),
            "genzoo": lambda: method.chain.run(x0, steps)}, method, x0


VARIANTS = {"genzoo_contiguous": "model.runtime.channels_last=false",
            "genzoo_heap_off": "model.runtime.keep_heap=false",
            "genzoo_bf16": "model.runtime.precision=bf16",
            "genzoo_compile": "model.runtime.compile=true"}


def variant_chains(model: str, method, x0: torch.Tensor, steps: int,
                   names: list[str]) -> dict:
    """Chains of ``steps`` steps from ``x0`` of copies of ``method`` (same weights, same device)
    with one sampler option each (``VARIANTS``), as callables by name."""
    chains = {}
    for name in names:
        other, _ = build(model, [VARIANTS[name]])
        other.load_state_dict(method.state_dict())
        other.to(x0.device)
        chains[name] = lambda m=other: m.chain.run(x0, steps)
    return chains


def throughput(model: str) -> dict:
    """Image-steps per second of the reference loop and of genzoo's sampler: the checked pair
    alone, then every variant, then each of the pair in its own fresh processes."""
    _, _, steps = MODELS[model]
    pair, method, x0 = reference_and_genzoo(model)
    rate, ratio = rates(alternated(pair, REPEATS_PAIR), steps)
    out = {"steps_per_run": steps, "batch": BATCH, "repeats": REPEATS,
           "pair": {"repeats": REPEATS_PAIR, "image_steps_per_s": rate, "ratio": ratio["genzoo"]}}
    runs = {**pair, "reference_kept_heap": lambda: kept_loop(pair["reference"]),
            **variant_chains(model, method, x0, steps, ["genzoo_contiguous", "genzoo_heap_off",
                                                        "genzoo_bf16", "genzoo_compile"])}
    seconds = alternated(runs)
    out["image_steps_per_s"], out["ratio_over_reference"] = rates(seconds, steps)
    out["seconds"] = seconds
    flops = step_flops(method, x0)
    out["gflop_per_step"] = flops / 1e9
    for part in (out, out["pair"]):
        part["gflop_per_s"] = {name: flops * rate / BATCH / 1e9
                               for name, rate in part["image_steps_per_s"].items()}
    out["separate_processes"] = separate_processes(model, steps)
    print(model, "pair", round(out["pair"]["ratio"], 3), "variants",
          {k: round(v, 2) for k, v in out["ratio_over_reference"].items()}, "separate",
          round(out["separate_processes"]["ratio"], 3), flush=True)
    return out


def step_flops(method, x0: torch.Tensor) -> float:
    """Floating-point operations of one chain step on ``x0`` (forward, and the backward pass
    to the input only), as ``torch.utils.flop_counter`` counts them (convolutions and
    matrix products; elementwise work is not counted)."""
    x = x0.clone().requires_grad_(True)
    with frozen(method.net.eval()) as net, FlopCounterMode(display=False) as counter:
        net(x).logsumexp(1).sum().backward()
    return float(counter.get_total_flops())


def conv_peak() -> float:
    """GFLOP/s of the best of 20 forward passes of one large, well-shaped convolution (64 -> 64
    channels, 3x3, 32x32, batch 64, channels-last): what this CPU's convolution kernels reach at
    best, the ceiling of any float32 chain made of convolutions."""
    x = torch.randn(BATCH, 64, 32, 32).contiguous(memory_format=torch.channels_last)
    w = torch.randn(64, 64, 3, 3).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        best = min(_timed(lambda: F.conv2d(x, w, padding=1)) for _ in range(20))
    return 2 * BATCH * 32 * 32 * 64 * 64 * 9 / best / 1e9


def separate_processes(model: str, steps: int) -> dict:
    """The pair, each in fresh processes of its own (alternated ``PROCESSES`` times; each
    process times ``REPEATS`` chains after one untimed): what a user's own process of either
    loop sees, without the other one's allocator settings."""
    medians: dict[str, list[float]] = {"reference": [], "genzoo": []}
    for _ in range(PROCESSES):
        for name in medians:
            out = subprocess.run([sys.executable, __file__, "--solo", model, name],
                                 capture_output=True, text=True, check=True)
            medians[name].append(statistics.median(json.loads(out.stdout.splitlines()[-1])))
    rate, ratio = rates(medians, steps)
    return {"processes": PROCESSES, "median_seconds_per_process": medians,
            "image_steps_per_s": rate, "ratio": ratio["genzoo"]}


def solo(model: str, name: str) -> list[float]:
    """In this process: the seconds of ``REPEATS`` chains of ``name`` (after an untimed one)."""
    pair, _, _ = reference_and_genzoo(model)
    return alternated({name: pair[name]})[name]


def part_sgld(runs: Path) -> tuple[list[dict], dict]:
    data: dict = {model: throughput(model) for model in MODELS}
    data["conv_peak_gflop_per_s"] = conv_peak()
    checks = [check(f"sgld.{m}.ratio_over_reference", data[m]["pair"]["ratio"], ">=", 1.5)
              for m in MODELS]
    return checks, data


def step_overhead(model: str) -> dict:
    """Seconds of a JEM step over K + 2 forward-backward passes, same net and batch."""
    method, cfg = build(model, [f"model.negatives={BATCH}", "model.sampler.steps=20"])
    k = cfg.model.sampler.steps
    x = uniform(method, BATCH)
    y = torch.randint(10, (BATCH,))
    opt = torch.optim.Adam(method.parameters(), lr=1e-4)
    for _ in range(3):  # fill the buffer a little, so draws mix stored and fresh chains
        method.train()
        method.chain.negatives(BATCH)

    def jem_step() -> None:
        method.train()
        out = method.loss(Batch(x, y))
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()

    def passes() -> None:
        method.train()
        for _ in range(k + 2):
            loss = F.cross_entropy(method(x), y)
            method.zero_grad(set_to_none=True)
            loss.backward()

    jem_step(), passes()
    seconds: dict[str, list[float]] = {"jem_step": [], "k_plus_2_passes": []}
    for _ in range(3):
        seconds["jem_step"].append(_timed(jem_step))
        seconds["k_plus_2_passes"].append(_timed(passes))
    med = {name: statistics.median(v) for name, v in seconds.items()}
    ratio = med["jem_step"] / med["k_plus_2_passes"]
    print(model, f"JEM step {med['jem_step']:.2f}s, {k}+2 passes "
          f"{med['k_plus_2_passes']:.2f}s: {ratio:.3f}", flush=True)
    return {"sgld_steps": k, "batch": BATCH, "chains": BATCH, "seconds": seconds,
            "median_seconds": med, "overhead": ratio}


def part_jem_step(runs: Path) -> tuple[list[dict], dict]:
    data = {model: step_overhead(model) for model in MODELS}
    return [check(f"jem_step.{m}.overhead", d["overhead"], "<=", 1.1)
            for m, d in data.items()], data


def _rss_mib(key: str = "VmRSS") -> float:
    """Resident memory of this process (``VmHWM``: its peak since exec; unlike ru_maxrss it
    does not inherit the parent's peak), after returning freed heap pages to the system (so
    that it counts live memory, not the allocator's cache of temporaries). Linux only."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_probe(uint8: bool) -> dict:
    """In this process: build jem-cifar10, fill its 10000-item buffer, take two steps."""
    method, _ = build("wrn-16-4", [f"model.buffer_uint8={str(uint8).lower()}",
                                   "model.sampler.steps=2", "model.negatives=16",
                                   "model.buffer_size=1"])
    before = _rss_mib()  # everything but the buffer: weights, libraries
    method.cfg.buffer_size = 10000
    buf = method.chain.buffer = method.buffer = method.cfg.build_buffer(
        method.info.shape, method.buffer.init, method.num_classes, method.data_range)
    for _ in range(0, buf.capacity, 1000):  # the chains' outputs, pushed as in training
        buf.push(method.chain.fresh(1000))
    filled = _rss_mib()
    opt = torch.optim.Adam(method.parameters(), lr=1e-4)
    for _ in range(2):
        out = method.train().loss(Batch(uniform(method, 16), torch.randint(10, (16,))))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    return {"buffer_uint8": uint8, "buffer_items": len(buf),
            "buffer_tensor_mib": sum(t.nbytes for t in (buf.x, buf.y, buf.age)) / 2**20,
            "rss_added_by_filled_buffer_mib": filled - before,
            "peak_rss_mib": _rss_mib("VmHWM")}


def part_memory(runs: Path) -> tuple[list[dict], dict]:
    data = {}
    for uint8 in (False, True):
        out = subprocess.run([sys.executable, __file__, "--memory-probe", str(int(uint8))],
                             capture_output=True, text=True, check=True)
        data["uint8" if uint8 else "float32"] = json.loads(out.stdout.strip().splitlines()[-1])
    f32, u8 = data["float32"], data["uint8"]
    data["ratio_rss_added"] = u8["rss_added_by_filled_buffer_mib"] / \
        f32["rss_added_by_filled_buffer_mib"]
    data["ratio_buffer_tensors"] = u8["buffer_tensor_mib"] / f32["buffer_tensor_mib"]
    data["ratio_peak_rss"] = u8["peak_rss_mib"] / f32["peak_rss_mib"]
    print({k: v for k, v in data.items() if k.startswith("ratio")}, flush=True)
    return [check("memory.buffer_uint8_over_float32", data["ratio_rss_added"], "<=", 0.3)], data


DDP_STEPS, DDP_FROM = 60, 20  # steps trained; the timed window starts after this many
DDP_LAYOUTS = {"1 process x 1 thread": (1, 1), "1 process x 2 threads": (1, 2),
               "2 processes x 1 thread": (2, 1)}


def ddp_run(processes: int, threads: int, runs: Path) -> float:
    """Training examples per second of ``jem-mnist`` (batch 64 per process) over steps
    DDP_FROM..DDP_STEPS, read from the run's own step times, launched with ``processes``
    torchrun ranks (plain ``python -m genzoo`` for one) of ``threads`` threads each."""
    name = f"p{processes}t{threads}"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={processes}"] if processes > 1 else [sys.executable]
    overrides = [f"train.steps={DDP_STEPS}", "train.log_every=10", "train.eval_every=100000",
                 "train.ckpt_every=100000"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run([*launcher, "-m", "genzoo", "train", "jem-mnist", *overrides, "--runs-dir",
                    str(runs / name), "--quiet"], env=env, check=True, capture_output=True)
    batch = resolve_config("jem-mnist", []).train.batch_size
    return processes * batch / seconds_per_step(runs / name / "jem-mnist", DDP_FROM, DDP_STEPS)


def seconds_per_step(run: Path, first: int, last: int) -> float:
    """Mean seconds per training step from step ``first`` to ``last``, from the training-time
    stamps of ``run``'s ``metrics.jsonl`` (start-up and the first steps left out)."""
    times = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row.get("split") == "train":
            times[row["step"]] = row["time"]
    return (times[last] - times[first]) / (last - first)


def part_ddp(runs: Path) -> tuple[list[dict], dict]:
    """Data-parallel scaling on this CPU: ``jem-mnist`` training examples per second with one
    process (one and two threads) and with two torchrun ranks (gloo) of one thread each, every
    rank with its own batch and replay buffer. Needs MNIST under ``GENZOO_DATA``."""
    with tempfile.TemporaryDirectory() as tmp:
        rate = {label: ddp_run(*layout, Path(tmp)) for label, layout in DDP_LAYOUTS.items()}
    two = rate["2 processes x 1 thread"]
    data = {"preset": "jem-mnist", "steps": DDP_STEPS, "timed_from_step": DDP_FROM,
            "examples_per_s": rate,
            "speedup_2_ranks_over_1_thread": two / rate["1 process x 1 thread"],
            "speedup_2_ranks_over_2_threads": two / rate["1 process x 2 threads"]}
    print({k: round(v, 1) for k, v in rate.items()}, flush=True)
    return [], data


GPU_STEPS = 20  # SGLD steps per timed chain on a GPU
EPOCH_STEPS, EPOCH_FROM, EPOCH_IMAGES = 80, 20, 50000


def synced(fn, device: torch.device):
    """``fn`` followed by a wait for the device's queued work (timings of CUDA code)."""
    def run():
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return run


def device_throughput(model: str, device: torch.device, steps: int) -> dict:
    """Image-steps per second on ``device`` of the reference loop and of genzoo's sampler in
    float32, bf16 autocast and compiled, alternated after one untimed chain each."""
    runs, method, x0 = reference_and_genzoo(model, device, steps)
    runs.update(variant_chains(model, method, x0, steps, ["genzoo_bf16", "genzoo_compile"]))
    seconds = alternated({name: synced(fn, device) for name, fn in runs.items()})
    rate, ratio = rates(seconds, steps)
    print(model, device, {k: round(v, 2) for k, v in ratio.items()}, flush=True)
    return {"steps_per_run": steps, "batch": BATCH, "image_steps_per_s": rate,
            "ratio_over_reference": ratio, "seconds": seconds}


def epoch_seconds(device: str, extra: list[str], runs: Path, steps: int = EPOCH_STEPS,
                  first: int = EPOCH_FROM) -> float:
    """Seconds per epoch of ``jem-cifar10`` (WRN-16-4, K = 20, batch 64) on ``device`` at
    CIFAR-10 scale: the real training loop on EPOCH_IMAGES synthetic uint8 3x32x32 images
    with labels (the ``arrays`` dataset), timed from step ``first`` to ``steps`` and scaled to
    the ceil(EPOCH_IMAGES / 64) steps of an epoch."""
    data = runs / "cifar-sized.npz"
    if not data.is_file():
        rng = np.random.default_rng(0)
        np.savez(data, x=rng.integers(0, 256, (EPOCH_IMAGES, 3, 32, 32), dtype=np.uint8),
                 y=rng.integers(0, 10, EPOCH_IMAGES))
    name = "amp" if extra else "float32"
    overrides = ["data.name=arrays", f"data.options.path={data}", "data.train_split=all",
                 "data.val_split=null", f"train.device={device}", f"train.steps={steps}",
                 f"train.log_every={min(10, first)}", "train.eval_every=100000",
                 "train.ckpt_every=100000", "train.num_samples=4",
                 "model.sampler.sample_steps=1", *extra]
    subprocess.run([sys.executable, "-m", "genzoo", "--quiet", "train", "jem-cifar10",
                    *overrides, "--runs-dir", str(runs / name)], check=True,
                   capture_output=True)
    batch = resolve_config("jem-cifar10", []).train.batch_size
    return seconds_per_step(runs / name / "jem-cifar10", first, steps) * \
        math.ceil(EPOCH_IMAGES / batch)


def part_gpu(runs: Path) -> tuple[list[dict], dict]:
    """On a CUDA GPU: sampler throughput (float32, bf16, compiled) and ``jem-cifar10`` seconds
    per epoch at CIFAR-10 scale, float32 and with ``train.amp`` and a bf16 sampler."""
    if not torch.cuda.is_available():
        raise SystemExit("part gpu needs a CUDA device (torch.cuda.is_available() is False)")
    return device_parts(torch.device("cuda"), GPU_STEPS, EPOCH_STEPS, EPOCH_FROM)


def device_parts(device: torch.device, sgld_steps: int, epoch_steps: int,
                 epoch_from: int) -> tuple[list[dict], dict]:
    """:func:`part_gpu`'s measurements on ``device`` (shorter ones run on a CPU as a check of
    the script itself)."""
    data: dict = {"device": str(device), "name": torch.cuda.get_device_name(device)
                  if device.type == "cuda" else "cpu"}
    data["sgld"] = {m: device_throughput(m, device, sgld_steps) for m in MODELS}
    with tempfile.TemporaryDirectory() as tmp:
        data["jem_cifar10_epoch_seconds"] = {
            label: epoch_seconds(device.type, extra, Path(tmp), epoch_steps, epoch_from)
            for label, extra in (("float32", []),
                                 ("amp_bf16", ["train.amp=true",
                                               "model.runtime.precision=bf16"]))}
    print(data["jem_cifar10_epoch_seconds"], flush=True)
    return [], data


PARTS = {"sgld": part_sgld, "jem-step": part_jem_step, "memory": part_memory,
         "ddp": part_ddp}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated parts of {', '.join(PARTS)}; or gpu alone "
                        "(written to results/perf-gpu.json)")
    parser.add_argument("--memory-probe", type=int, choices=(0, 1), help=argparse.SUPPRESS)
    parser.add_argument("--solo", nargs=2, metavar=("MODEL", "RUN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.solo is not None:
        print(json.dumps(solo(*args.solo)))
        return
    if args.memory_probe is not None:
        print(json.dumps(memory_probe(bool(args.memory_probe))))
        return
    if args.only == "gpu":  # its own file: the machine differs from the CPU parts'
        run_parts("perf-gpu", {"gpu": part_gpu}, "gpu", Path("."))
    else:
        run_parts("perf", PARTS, args.only, Path("."))


if __name__ == "__main__":
    main()
