"""Shared pieces of the benchmark scripts: machine description and the results file format."""

from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


#: the /proc/cpuinfo flags that decide how fast (and how exactly) the CPU kernels run
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
             "amx_tile", "amx_bf16", "amx_int8")


def machine() -> dict:
    """This machine: CPU model and its ISA flags (AVX2 / AVX-512 / bf16 / AMX, with the ISA
    PyTorch's kernels run at and whether bf16 is native), cores, GPU, versions."""
    from genzoo.runtime import bf16_support, cpuinfo_flags

    cpu = platform.processor() or platform.machine()
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    flags = cpuinfo_flags(cpuinfo)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cpu_flags": [f for f in ISA_FLAGS if f in flags],
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "native_bf16": bf16_support("cpu")[0], "cores": os.cpu_count(), "gpu": gpu,
            "torch": torch.__version__, "python": platform.python_version()}


def isa(machine: dict) -> str:
    """A short name of a machine's CPU kind for tables: ``AVX-512 + bf16``, ``AVX2``, ... (or
    ``ISA not recorded`` for results written before the flags were)."""
    if "cpu_flags" not in machine:
        return "ISA not recorded"
    flags = set(machine["cpu_flags"])
    kind = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "pre-AVX2"
    return kind + (" + bf16" if machine.get("native_bf16") else "") + (
        " + AMX" if "amx_tile" in flags else "")


def write_result(name: str, checks: list[dict], data: dict) -> Path:
    """Write ``results/<name>.json`` in the format DESIGN.md describes."""
    RESULTS.mkdir(exist_ok=True)
    result = {
        "benchmark": name,
        "command": "python " + " ".join(["benchmarks/" + Path(sys.argv[0]).name, *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(), "checks": checks, "data": data,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def cpu_seconds() -> float:
    """CPU time (user + system) of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def train_timed(preset: str, runs_dir: Path) -> tuple[Path, float, float]:
    """Train ``preset`` quietly; returns the run, its wall seconds and its CPU seconds."""
    from genzoo.runs import train

    wall, cpu = time.perf_counter(), cpu_seconds()
    run = train(preset, runs_dir=runs_dir, quiet=True, command=f"genzoo train {preset}")
    return run, time.perf_counter() - wall, cpu_seconds() - cpu


def check(name: str, value: float, op: str, target: float) -> dict:
    """One acceptance check of a results file."""
    return {"name": name, "value": value, "op": op, "target": target}


def run_parts(name: str, parts: dict, only: str, runs_dir: Path) -> None:
    """Run the named ``parts`` (``{part: fn(runs_dir) -> (checks, data)}``, comma-separated in
    ``only``) in order, merging their checks and data into ``results/<name>.json`` (rewritten
    after every part; each check and each part's data record the command and the machine that
    measured them: a file holds parts measured on different CPUs)."""
    previous = RESULTS / f"{name}.json"
    old = json.loads(previous.read_text()) if previous.is_file() else {"checks": [], "data": {}}
    checks = {c["name"]: c for c in old["checks"]}
    data = old["data"]
    for part in only.split(","):
        if part not in parts:
            raise SystemExit(f"unknown part {part!r}; choose from {', '.join(parts)}")
        part_checks, part_data = parts[part](runs_dir)
        command, where = " ".join(["python", *sys.argv]), machine()
        checks.update({c["name"]: {**c, "command": command, "machine": where}
                       for c in part_checks})
        data[part] = {"command": command, "machine": where, **part_data}
        for c in part_checks:
            print(f"{c['name']}: {c['value']:.4g} ({c['op']} {c['target']})", flush=True)
        write_result(name, list(checks.values()), data)
