"""Representations benchmark: VQ-VAE codes clustered into pseudo-labels, and SimSiam.

Parts (each trains from scratch on this machine's CPU, one training at a time):

- ``vqvae-mnist``, ``vqvae-fashion``: train the preset, then ``genzoo cluster RUN`` twice, K =
  5..15: KMeans on the quantized codes (``--embed none``) and spectral clustering of them
  (``--embed spectral``, which also clusters the raw pixels spectrally; the kNN graph's
  ``--neighbors`` at its default, 60), each beside KMeans on raw pixels; the ``PSEUDO_LABELS``
  pipeline also gets the t-SNE and the clf preset trained on true vs pseudo labels.
  Pseudo-labels at K = 10 (``PSEUDO_K``, the number of classes, as clustering accuracy is
  usually reported; the best-silhouette K of the sweep is reported beside it: 5-8 here, coarser
  than the classes). Check: their Hungarian accuracy at least 10 points above KMeans on raw
  pixels with the same K; the other pipeline's numbers are reported beside it.
- ``simsiam``: ``simsiam-fashion``; weighted kNN accuracy (k = 200, T = 0.1, the training
  split as bank) of the best checkpoint on the test split >= 88% within 30 minutes of
  training (checked both as wall-clock minutes and as CPU-minutes, the process's CPU time:
  on 2 cores the second is about twice the first), and above the same kNN classifier on raw
  pixels.
- ``ablations``: ``simsiam-fashion`` without stop-gradient and with the identity predictor, on
  a shorter budget (``ABLATION_EPOCHS``), beside the full method on the same budget; their
  curves (z_std * sqrt(d), effective rank z_rank, kNN accuracy) go to the results. Checks:
  each ablation's final z_std * sqrt(d) (about 1 when healthy, 0 when collapsed) <= 0.1, or
  its kNN accuracy at least 5 points below the full method's on the same budget (z_rank is
  reported, not checked: it was added after these checks were first run).

Minutes are the training loop's wall clock on this machine unless named CPU-minutes.

Run: ``python benchmarks/representations.py [--runs-dir DIR] [--only vqvae-mnist,simsiam]``
(writes benchmarks/results/representations.json, merging the parts it ran into what is there).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import check, run_parts, train_timed

PARTS = ("vqvae-mnist", "vqvae-fashion", "simsiam", "ablations")
ABLATION_EPOCHS = 4
CURVE_KEYS = ("step", "loss", "z_std", "z_std_sqrt_d", "z_rank")  # ablations' training curves
PSEUDO_LABELS = "spectral"  # the genzoo cluster --embed of the checked pseudo-labels
PSEUDO_K = 10  # K of the pseudo-labels: the number of classes (the silhouette's K is reported)


def _cluster_part(preset: str, runs: Path) -> tuple[list[dict], dict]:
    from genzoo.analyze.cluster import cluster_run
    from genzoo.analyze.evaluate import evaluate_run

    run, wall, cpu = train_timed(preset, runs)
    numbers = evaluate_run(run, judge=False)
    data = {"run": str(run), "train_wall_minutes": wall / 60, "train_cpu_minutes": cpu / 60,
            **numbers}
    # both pipelines on the same codes; the last one (PSEUDO_LABELS) leaves its figures,
    # pseudo-labels and classifiers in the run and is the one checked
    for embed in sorted(("none", "spectral"), key=lambda e: e == PSEUDO_LABELS):
        found = cluster_run(run, ks=list(range(5, 16)), k=PSEUDO_K, embed=embed, quiet=True,
                            classifier="auto" if embed == PSEUDO_LABELS else None)
        data[embed] = {**found, "accuracy_gap": found["cluster/accuracy"]
                       - found["cluster/pixels_accuracy"]}
    gap = data[PSEUDO_LABELS]["accuracy_gap"]
    return [check(f"{preset}.pseudo_label_accuracy_minus_pixels", gap, ">=", 0.10)], data


def part_vqvae_mnist(runs: Path) -> tuple[list[dict], dict]:
    return _cluster_part("vqvae-mnist", runs)


def part_vqvae_fashion(runs: Path) -> tuple[list[dict], dict]:
    return _cluster_part("vqvae-fashion", runs)


def raw_pixel_knn(preset: str) -> float:
    """The kNN monitor's classifier (same k and T) on raw pixels, test split vs training bank."""
    from genzoo.config import resolve_config
    from genzoo.metrics.knn import knn_accuracy
    from genzoo.runs import load_data

    cfg = resolve_config(preset)
    train, test = load_data(cfg, "train"), load_data(cfg, "test")
    flat = [d.x.flatten(1).float() / 255 for d in (train, test)]
    return knn_accuracy(flat[1], test.y, flat[0], train.y, int(train.info.num_classes or 0),
                        cfg.model.knn_k, cfg.model.knn_temperature)


def part_simsiam(runs: Path) -> tuple[list[dict], dict]:
    from genzoo.analyze.evaluate import evaluate_run

    run, wall, cpu = train_timed("simsiam-fashion", runs)
    numbers = evaluate_run(run, checkpoint="best", judge=False, figures=False)
    knn, raw = numbers["test/knn_acc"], raw_pixel_knn("simsiam-fashion")
    data = {"run": str(run), "train_wall_minutes": wall / 60, "train_cpu_minutes": cpu / 60,
            "raw_pixel_knn_acc": raw, **numbers}
    return [check("simsiam-fashion.knn_accuracy", knn, ">=", 0.88),
            check("simsiam-fashion.train_wall_minutes", wall / 60, "<=", 30),
            check("simsiam-fashion.train_cpu_minutes", cpu / 60, "<=", 30),
            check("simsiam-fashion.knn_minus_raw_pixels", knn - raw, ">", 0.0)], data


def part_ablations(runs: Path) -> tuple[list[dict], dict]:
    from genzoo.io import read_metrics
    from genzoo.runs import train

    variants = {"full": [], "no-stop-gradient": ["model.stop_gradient=false"],
                "identity-predictor": ["model.predictor=identity"]}
    data: dict = {}
    for name, overrides in variants.items():
        run = train("simsiam-fashion", [*overrides, f"train.epochs={ABLATION_EPOCHS}"],
                    runs_dir=runs / "ablations", name=name, quiet=True,
                    command=f"genzoo train simsiam-fashion {' '.join(overrides)} "
                            f"train.epochs={ABLATION_EPOCHS}")
        rows = read_metrics(run)
        train_rows = [r for r in rows if r.get("split") == "train"]
        val_rows = [r for r in rows if r.get("split") == "val" and "knn_acc" in r]
        data[name] = {"run": str(run),
                      "curve": [{k: r[k] for k in CURVE_KEYS} for r in train_rows],
                      "knn_curve": [{"step": r["step"], "knn_acc": r["knn_acc"]}
                                    for r in val_rows],
                      "final_z_std_sqrt_d": train_rows[-1]["z_std_sqrt_d"],
                      "final_z_rank": train_rows[-1]["z_rank"],
                      "final_knn_acc": val_rows[-1]["knn_acc"]}
    full = data["full"]["final_knn_acc"]
    checks = []
    for name in ("no-stop-gradient", "identity-predictor"):
        r = data[name]
        collapsed = r["final_z_std_sqrt_d"] <= 0.1 or r["final_knn_acc"] <= full - 0.05
        r["collapsed_or_degraded"] = collapsed
        checks.append(check(f"simsiam-fashion.{name}.collapsed_or_degraded", float(collapsed),
                            ">=", 1.0))
    return checks, data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/benchmark-representations"))
    parser.add_argument("--only", default=",".join(PARTS))
    args = parser.parse_args()
    parts = {p: globals()[f"part_{p.replace('-', '_')}"] for p in PARTS}
    run_parts("representations", parts, args.only, args.runs_dir)


if __name__ == "__main__":
    main()
