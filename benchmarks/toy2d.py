"""The toy-2-D comparison benchmark: the default ``genzoo compare toy2d`` with its checks.

For each of the four seed datasets: the best family's KDE log-likelihood within 0.05 nats of the
reference row and every family's within 0.3 nats; the best Bhattacharyya coefficient >= 0.97
and every family's >= 0.90. The whole default comparison must run in <= 5 minutes on 2 CPU
cores (it becomes ``make demo``); it runs two single-threaded trainings at once, as
``genzoo compare toy2d`` does by default.

Run: ``python benchmarks/toy2d.py [--out DIR]`` (writes benchmarks/results/toy2d.json).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from genzoo.labs.toy2d import SEED_DATASETS, compare_toy2d

from common import write_result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("runs/benchmark-toy2d"))
    args = parser.parse_args()
    start = time.perf_counter()
    compare_toy2d(args.out, datasets=SEED_DATASETS, workers=2, quiet=True)
    minutes = (time.perf_counter() - start) / 60
    results = json.loads((args.out / "results.json").read_text())
    checks = []
    for dataset, entry in results["datasets"].items():
        ref = entry["reference"]["kde_ll"]
        gaps = {r["family"]: ref - r["kde_ll"] for r in entry["families"]}
        bcs = {r["family"]: r["bc"] for r in entry["families"]}
        checks += [
            {"name": f"{dataset}.best_kde_gap_nats", "value": min(gaps.values()), "op": "<=",
             "target": 0.05},
            {"name": f"{dataset}.worst_kde_gap_nats", "value": max(gaps.values()), "op": "<=",
             "target": 0.3},
            {"name": f"{dataset}.best_bc", "value": max(bcs.values()), "op": ">=",
             "target": 0.97},
            {"name": f"{dataset}.worst_bc", "value": min(bcs.values()), "op": ">=",
             "target": 0.90},
        ]
        for family, gap in sorted(gaps.items(), key=lambda kv: kv[1]):
            print(f"{dataset:>13s} {family:>5s}: gap {gap:7.3f} nats, BC {bcs[family]:.3f}")
    checks.append({"name": "default_comparison_minutes", "value": minutes, "op": "<=",
                   "target": 5.0})
    print(f"default comparison: {minutes:.1f} min")
    write_result("toy2d", checks, {"minutes": minutes, **results})


if __name__ == "__main__":
    main()
