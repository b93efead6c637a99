"""Regenerate the README's results and performance tables from ``benchmarks/results/*.json``.

Every check of every benchmark becomes a row of the results table: benchmark, check, measured
value, target, whether it passes, and the command that measured it. The performance table shows
``perf.json`` (benchmarks/sgld_throughput.py) in full: sampler throughput of every variant, JEM
step overhead, buffer memory. Run: ``python benchmarks/readme_table.py``.
"""

from __future__ import annotations

import json
import operator
from pathlib import Path

from common import isa

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- results:start -->", "<!-- results:end -->"
PERF_START, PERF_END = "<!-- perf:start -->", "<!-- perf:end -->"
OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt,
       "==": operator.eq}


def rows() -> list[str]:
    out = ["| benchmark | check | value | target | ok | machine | command |",
           "|---|---|---|---|---|---|---|"]
    for path in sorted((ROOT / "benchmarks" / "results").glob("*.json")):
        result = json.loads(path.read_text())
        for check in result.get("checks", []):
            # the check's own machine where recorded (a file merges parts from several CPUs)
            # (the file's own machine is the last part's: it says nothing of older checks' ISA)
            machine = check.get("machine", result.get("machine", {}))
            where = machine.get("gpu") or (f"{machine.get('cores', '?')} CPU cores, "
                                           f"{isa(check.get('machine', {}))}")
            ok = OPS[check["op"]](check["value"], check["target"])
            out.append(f"| {result['benchmark']} | {check['name']} | {check['value']:.4g} | "
                       f"{check['op']} {check['target']:g} | {'yes' if ok else '**no**'} | "
                       f"{where} | `{check.get('command', result['command'])}` |")
    return out


def perf_rows() -> list[str]:
    path = ROOT / "benchmarks" / "results" / "perf.json"
    if not path.is_file():
        return ["(not measured yet: run `python benchmarks/sgld_throughput.py`)"]
    result = json.loads(path.read_text())
    data, machine = result["data"], result.get("machine", {})
    where = machine.get("gpu") or f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores"
    out = [f"Measured on {where}, torch {machine.get('torch', '?')}, {result['date'][:10]}.", ""]
    if "sgld" in data:
        names = ["reference", "genzoo", "genzoo_contiguous", "genzoo_heap_off", "genzoo_bf16",
                 "genzoo_compile", "reference_kept_heap"]
        out += ["| SGLD image-steps/s (x reference), variants alternated in one process | "
                + " | ".join(names) + " |",
                "|---" * (len(names) + 1) + "|"]
        for model, d in data["sgld"].items():
            if not isinstance(d, dict):
                continue
            cells = [f"{d['image_steps_per_s'][n]:.0f} ({d['ratio_over_reference'][n]:.2f}x)"
                     if n in d["image_steps_per_s"] else "-" for n in names]
            out.append(f"| {model}, batch {d['batch']} | " + " | ".join(cells) + " |")
        out.append("")
        pairs = {m: d for m, d in data["sgld"].items() if isinstance(d, dict) and "pair" in d}
        if pairs:
            peak = data["sgld"].get("conv_peak_gflop_per_s", float("nan"))
            out += ["| genzoo over reference, float32 | pair, one process (checked) | "
                    "each in its own processes | GFLOP/s of genzoo, reference "
                    f"(one large convolution: {peak:.0f}) |", "|---|---|---|---|"]
            for model, d in pairs.items():
                sep, gflops = d["separate_processes"], d["pair"]["gflop_per_s"]
                out.append(f"| {model}, batch {d['batch']} | {d['pair']['ratio']:.2f}x "
                           f"({d['pair']['repeats']} runs each) | {sep['ratio']:.2f}x "
                           f"({sep['processes']} processes each) | {gflops['genzoo']:.0f}, "
                           f"{gflops['reference']:.0f} |")
            out.append("")
    if "jem-step" in data:
        out += ["| JEM step (K SGLD steps) | JEM step s | K + 2 fwd-bwd s | overhead |",
                "|---|---|---|---|"]
        for model, d in data["jem-step"].items():
            if isinstance(d, dict):
                med = d["median_seconds"]
                out.append(f"| {model}, K = {d['sgld_steps']}, batch {d['batch']} | "
                           f"{med['jem_step']:.2f} | {med['k_plus_2_passes']:.2f} | "
                           f"{d['overhead']:.3f} |")
        out.append("")
    if "ddp" in data:
        d = data["ddp"]
        out += [f"| {d['preset']} training, examples/s | " + " | ".join(d["examples_per_s"]) + " |",
                "|---" * (len(d["examples_per_s"]) + 1) + "|",
                f"| steps {d['timed_from_step']}-{d['steps']} | "
                + " | ".join(f"{v:.0f}" for v in d["examples_per_s"].values()) + " |", ""]
    if "memory" in data:
        m = data["memory"]
        out += ["| 10000 x 3 x 32 x 32 buffer | float32 | uint8 | ratio |", "|---|---|---|---|"]
        for key, label, ratio in (
                ("rss_added_by_filled_buffer_mib", "resident memory of the filled buffer, MiB",
                 "ratio_rss_added"),
                ("buffer_tensor_mib", "buffer tensors, MiB", "ratio_buffer_tensors"),
                ("peak_rss_mib", "peak resident memory of the run, MiB", "ratio_peak_rss")):
            out.append(f"| {label} | {m['float32'][key]:.1f} | {m['uint8'][key]:.1f} | "
                       f"{m[ratio]:.3f} |")
    return out + ["", *gpu_rows()]


def gpu_rows() -> list[str]:
    """``perf-gpu.json`` (``sgld_throughput.py --only gpu`` on a CUDA machine), if measured."""
    path = ROOT / "benchmarks" / "results" / "perf-gpu.json"
    if not path.is_file():
        return ["GPU: not measured yet (no GPU was available; `benchmarks/gpu_check.sh` on a "
                "CUDA machine measures it)."]
    result = json.loads(path.read_text())
    d = result["data"]["gpu"]
    out = [f"GPU: {d['name']}, torch {result['machine'].get('torch', '?')}, "
           f"{result['date'][:10]}.", ""]
    names = ["reference", "genzoo", "genzoo_bf16", "genzoo_compile"]
    out += ["| GPU SGLD image-steps/s (x reference) | " + " | ".join(names) + " |",
            "|---" * (len(names) + 1) + "|"]
    for model, m in d["sgld"].items():
        out.append(f"| {model}, batch {m['batch']}, {m['steps_per_run']} steps | "
                   + " | ".join(f"{m['image_steps_per_s'][n]:.0f} "
                                f"({m['ratio_over_reference'][n]:.2f}x)" for n in names) + " |")
    epochs = d["jem_cifar10_epoch_seconds"]
    out += ["", "| jem-cifar10, seconds per epoch (50000 images) | " + " | ".join(epochs) + " |",
            "|---" * (len(epochs) + 1) + "|",
            "| WRN-16-4, K = 20, batch 64 | " + " | ".join(f"{v:.0f}" for v in epochs.values())
            + " |"]
    return out


def _fill(text: str, start: str, end: str, lines: list[str]) -> str:
    head, found, rest = text.partition(start)
    if not found:
        return text
    _, _, tail = rest.partition(end)
    return head + start + "\n" + "\n".join(lines) + "\n" + end + tail


def main() -> None:
    readme = ROOT / "README.md"
    text = _fill(readme.read_text(), START, END, rows())
    readme.write_text(_fill(text, PERF_START, PERF_END, perf_rows()))


if __name__ == "__main__":
    main()
