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


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": gpu, "torch": torch.__version__,
            "python": platform.python_version()}


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
    after every part; each check and each part's data record the command that measured
    them)."""
    previous = RESULTS / f"{name}.json"
    old = json.loads(previous.read_text()) if previous.is_file() else {"checks": [], "data": {}}
    checks = {c["name"]: c for c in old["checks"]}
    data = old["data"]
    for part in only.split(","):
        if part not in parts:
            raise SystemExit(f"unknown part {part!r}; choose from {', '.join(parts)}")
        part_checks, part_data = parts[part](runs_dir)
        command = " ".join(["python", *sys.argv])
        checks.update({c["name"]: {**c, "command": command} for c in part_checks})
        data[part] = {"command": command, **part_data}
        for c in part_checks:
            print(f"{c['name']}: {c['value']:.4g} ({c['op']} {c['target']})", flush=True)
        write_result(name, list(checks.values()), data)
