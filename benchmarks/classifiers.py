"""Classifier benchmark: the judges of MNIST, Fashion-MNIST and HODA, the regularization
comparison, WRN-16-4 throughput, and judge-FID sanity numbers.

For each dataset the preset is trained from scratch on this machine's CPU (one training at a
time), its wall-clock and CPU time recorded, and its test accuracy measured. The trained
checkpoints become the cached judges (the same preset and seed would train the same ones).
Fashion-MNIST is trained three times on the same budget (none / dropout / batch norm) and the
three runs are compared in one report.

Run: ``python benchmarks/classifiers.py [--runs-dir DIR] [--only mnist,hoda]``
(writes benchmarks/results/classifiers.json and classifiers-regularization.html).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from genzoo.analyze.judges import JUDGE_PRESETS, judge_dir
from genzoo.data import load_dataset
from genzoo.data.transforms import to_float
from genzoo.metrics.classification import evaluate_accuracy
from genzoo.metrics.judge import Judge, judge_fid
from genzoo.nets.resnet import WRNConfig
from genzoo.runs import load
from genzoo.viz.report import write_report

from common import RESULTS, train_timed, write_result

TARGETS = {"mnist": 0.993, "fashion-mnist": 0.91, "hoda": 0.98}
MINUTES = 15.0


def wrn_throughput(batch: int = 64, steps: int = 5) -> dict[str, float]:
    """Training images/s of WRN-16-4 on 3x32x32 (forward, backward, Adam step)."""
    out = {}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        net = WRNConfig().build((3, 32, 32), 10).to(device)
        opt = torch.optim.Adam(net.parameters(), 1e-4)
        x = torch.randn(batch, 3, 32, 32, device=device)
        y = torch.randint(0, 10, (batch,), device=device)
        for i in range(steps + 2):
            if i == 2:  # two warm-up steps
                if device == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        out[device] = batch * steps / (time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/benchmark-classifiers"))
    parser.add_argument("--only", default="mnist,fashion-mnist,hoda")
    args = parser.parse_args()
    checks, data = [], {}
    for dataset in args.only.split(","):
        preset = JUDGE_PRESETS[dataset]
        variants = [preset] + ([f"{preset}-dropout", f"{preset}-batchnorm"]
                               if dataset == "fashion-mnist" else [])
        runs = []
        for name in variants:
            run, wall, cpu = train_timed(name, args.runs_dir)
            test = load_dataset(dataset, "test")
            acc = evaluate_accuracy(load(run), test)
            data[name] = {"test_accuracy": acc, "train_wall_seconds": round(wall, 1),
                          "train_cpu_seconds": round(cpu, 1), "run": str(run)}
            print(f"{name}: test accuracy {acc:.4f}, {wall / 60:.1f} min wall, "
                  f"{cpu / 60:.1f} CPU-min", flush=True)
            runs.append(run)
        main_run = runs[0]
        checks.append({"name": f"{dataset}.test_accuracy", "value": data[preset]["test_accuracy"],
                       "op": ">=", "target": TARGETS[dataset]})
        checks.append({"name": f"{dataset}.train_wall_minutes",
                       "value": data[preset]["train_wall_seconds"] / 60, "op": "<=",
                       "target": MINUTES})
        judge_dir().mkdir(parents=True, exist_ok=True)  # the trained net is this dataset's judge
        shutil.copyfile(main_run / "checkpoints" / "last.pt", judge_dir() / f"{dataset}.pt")
        if len(runs) > 1:
            report = write_report(runs, RESULTS / "classifiers-regularization.html",
                                  title="Fashion-MNIST: none vs dropout vs batch norm, "
                                        "same budget")
            data["regularization_report"] = str(report.relative_to(RESULTS.parent.parent))
        if dataset == "mnist":
            judge = Judge(load(main_run))
            test, train_split = load_dataset("mnist", "test"), load_dataset("mnist", "train")
            x = to_float(test.x, test.info.value_range)
            x_train = to_float(train_split.x[:10000], test.info.value_range)
            torch.manual_seed(0)
            fid = {"self": judge_fid(judge, x, x),
                   "train_vs_test": judge_fid(judge, x_train, x),
                   "uniform_noise": judge_fid(judge, torch.rand_like(x), x)}
            data["mnist.judge_fid"] = fid
            checks.append({"name": "mnist.judge_fid_self", "value": fid["self"], "op": "<=",
                           "target": 1e-6})
            checks.append({"name": "mnist.judge_fid_noise_over_train_vs_test",
                           "value": fid["uniform_noise"] / max(fid["train_vs_test"], 1e-12),
                           "op": ">=", "target": 100})
    tput = wrn_throughput()
    data["wrn16_4_train_images_per_second"] = {k: round(v, 1) for k, v in tput.items()}
    data["wrn16_4_parameters"] = sum(
        p.numel() for p in WRNConfig().build((3, 32, 32), 10).parameters())
    data["threads"] = torch.get_num_threads()
    print("WRN-16-4 training throughput (images/s):", tput)
    for c in checks:
        ok = {"<=": c["value"] <= c["target"], ">=": c["value"] >= c["target"]}[c["op"]]
        print(f"  {'ok  ' if ok else 'MISS'} {c['name']} = {c['value']:.6g} "
              f"({c['op']} {c['target']})")
    previous = RESULTS / "classifiers.json"
    if previous.is_file():  # a partial run (--only) keeps the other datasets' numbers
        done = tuple(args.only.split(","))
        old = json.loads(previous.read_text())
        checks = [c for c in old["checks"] if not c["name"].startswith(done)] + checks
        data = {k: v for k, v in old["data"].items()
                if not k.startswith(tuple(JUDGE_PRESETS[d] for d in done) + done)} | data
    write_result("classifiers", [c | {"value": float(c["value"])} for c in checks], data)


if __name__ == "__main__":
    main()
