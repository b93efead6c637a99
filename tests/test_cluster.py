"""Clustering metrics (contingency, Hungarian matching) and ``genzoo cluster`` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genzoo.analyze.cluster import kmeans_sweep, parse_ks
from genzoo.cli import main
from genzoo.errors import UserError
from genzoo.metrics.clustering import (
    cluster_to_class,
    contingency,
    hungarian_accuracy,
    hungarian_match,
)


def test_contingency_counts_cluster_class_pairs():
    table = contingency(np.array([0, 0, 1, 2, 2, 2]), np.array([1, 1, 0, 0, 1, 1]), 3, 2)
    assert table.tolist() == [[0, 2], [1, 0], [1, 2]]


def test_hungarian_accuracy_is_invariant_to_renaming_clusters():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 500)
    perm = np.array([2, 0, 3, 1])
    assert hungarian_accuracy(perm[labels], labels, 4, 4) == 1.0
    noisy = perm[labels].copy()
    noisy[:100] = rng.integers(0, 4, 100)
    expected = np.mean(noisy == perm[labels])  # the identity renaming stays optimal here
    assert hungarian_accuracy(noisy, labels, 4, 4) == pytest.approx(expected)


def test_one_to_one_matching_beats_the_greedy_choice():
    # greedy (cluster 0 -> its majority class 0) scores 5 + 1 = 6; the optimum is 4 + 4 = 8
    table = np.array([[5, 4], [4, 1]])
    clusters = np.repeat([0, 0, 1, 1], table.flatten())
    labels = np.repeat([0, 1, 0, 1], table.flatten())
    assert hungarian_match(table).tolist() == [1, 0]
    assert hungarian_accuracy(clusters, labels, 2, 2) == pytest.approx(8 / 14)


def test_extra_clusters_are_unmatched_in_the_accuracy_but_get_their_majority_class():
    table = np.array([[9, 0], [0, 7], [3, 1]])  # three clusters, two classes
    assert hungarian_match(table).tolist() == [0, 1, -1]
    assert cluster_to_class(table).tolist() == [0, 1, 0]
    clusters = np.repeat(np.arange(3), table.sum(1))
    labels = np.concatenate([np.repeat([0, 1], row) for row in table])
    assert hungarian_accuracy(clusters, labels, 3, 2) == pytest.approx(16 / 20)


def test_parse_ks():
    assert parse_ks("5-8") == [5, 6, 7, 8]
    assert parse_ks("10,6,6") == [6, 10]
    for bad in ("1-4", "a", "", "5-"):
        with pytest.raises(UserError, match="^ks: "):
            parse_ks(bad)


def test_cluster_a_vqvae_run_end_to_end(tmp_path):
    runs = tmp_path / "runs"
    assert main(["--quiet", "train", "vqvae-mnist", "data.name=digits", "data.limit=300",
                 "data.val_split=null", "model.width=8", "model.stages=2", "model.codebook_size=16",
                 "model.latent_dim=4", "model.decay=0.5", "train.epochs=null", "train.steps=40",
                 "train.batch_size=32", "--runs-dir", str(runs)]) == 0
    run = runs / "vqvae-mnist"
    assert main(["--quiet", "cluster", str(run), "--ks", "8-10", "--k", "9", "--tsne", "60",
                 "--limit", "300",
                 "--classifier", "clf-digits", "--classifier-epochs", "1"]) == 0
    numbers = json.loads((run / "eval.json").read_text())
    assert numbers["cluster/k"] == 9
    assert 8 <= numbers["cluster/best_k"] <= 10
    for key in ("accuracy", "pixels_accuracy", "accuracy_k_classes",
                "clf_true_test_acc", "clf_pseudo_test_acc"):
        assert 0.0 < numbers[f"cluster/{key}"] <= 1.0, key
    # digits are well separated even in pixel space: clusters beat chance (0.1) by far
    assert numbers["cluster/pixels_accuracy"] > 0.4
    detail = json.loads((run / "cluster.json").read_text())
    assert np.array(detail["table"]).shape == (9, 10)
    assert np.array(detail["table"]).sum() == 300
    pseudo = np.load(run / "cluster" / "pseudo_labels.npy")
    assert pseudo.shape == (300,) and pseudo.max() < 9
    for name in ("cluster-k-sweep.png", "cluster-labels.png", "cluster-tsne.png"):
        assert (run / "figures" / name).is_file()
    captions = json.loads((run / "figures" / "captions.json").read_text())
    assert "cluster-tsne.png" in captions


def _rings(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric noisy rings (radii 1 and 3) in 2-D and which ring each point is on."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = 1.0 + 2.0 * labels + rng.normal(0, 0.1, n)
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1), labels


def test_spectral_clustering_separates_rings_that_kmeans_cuts_across():
    points, labels = _rings(600)
    common = dict(silhouette_size=200, seed=0, n_init=3, desc="", quiet=True)
    plain = kmeans_sweep(points, labels, [2], 2, fit_limit=600, **common)
    # K = 2 KMeans splits the plane by a line through the centre: about half of each ring
    assert plain.accuracy[0] < 0.75
    spectral = kmeans_sweep(points, labels, [2], 2, fit_limit=600, neighbors=10, **common)
    assert spectral.accuracy[0] == 1.0
    # fitted on a subsample, every other point takes the cluster of its nearest fit point
    part = kmeans_sweep(points, labels, [2, 3], 2, fit_limit=300, neighbors=10, **common)
    assert part.accuracy[0] == 1.0 and part.clusters[2].shape == (600,)
    assert part.clusters[3].max() == 2 and np.isfinite(part.silhouette).all()


def test_cluster_spectral_reports_the_pixel_baselines(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["--quiet", "train", "vqvae-mnist", "data.name=digits", "data.limit=200",
                 "data.val_split=null", "model.width=8", "model.stages=2", "model.codebook_size=16",
                 "model.latent_dim=4", "train.epochs=null", "train.steps=5",
                 "train.batch_size=32", "--runs-dir", str(runs)]) == 0
    run = runs / "vqvae-mnist"
    assert main(["--quiet", "cluster", str(run), "--ks", "9-10", "--tsne", "0", "--limit", "200",
                 "--no-classifier", "--embed", "spectral", "--neighbors", "8"]) == 0
    numbers = json.loads((run / "eval.json").read_text())
    for key in ("accuracy", "pixels_accuracy", "pixels_spectral_accuracy"):
        assert 0.1 < numbers[f"cluster/{key}"] <= 1.0, key
    detail = json.loads((run / "cluster.json").read_text())
    assert detail["embed"] == "spectral" and set(detail) >= {"pixels", "pixels_spectral"}
    capsys.readouterr()
    assert main(["--quiet", "cluster", str(run), "--embed", "umap", "--no-classifier"]) == 2
    assert main(["--quiet", "cluster", str(run), "--embed", "spectral", "--neighbors", "1",
                 "--no-classifier"]) == 2
    assert main(["--quiet", "cluster", str(run), "--embed", "spectral", "--limit", "12",
                 "--ks", "10", "--no-classifier"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 3


def test_cluster_refuses_a_run_without_features(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["--quiet", "train", "vae-mnist", "data.name=digits", "data.limit=32",
                 "data.val_split=null", "model.encoder.width=4", "model.decoder_net.width=4",
                 "model.decoder_net.size=8", "model.latent_dim=2", "train.epochs=null",
                 "train.steps=2", "--runs-dir", str(runs)]) == 0
    assert main(["--quiet", "cluster", str(runs / "vae-mnist")]) == 2
    assert "has no features" in capsys.readouterr().err
