"""Clustering metrics (contingency, Hungarian matching) and ``genzoo cluster`` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genzoo.cli import main
from genzoo.cluster import parse_ks
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
        with pytest.raises(UserError, match="--ks"):
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


def test_cluster_refuses_a_run_without_features(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["--quiet", "train", "vae-mnist", "data.name=digits", "data.limit=32",
                 "data.val_split=null", "model.encoder.width=4", "model.decoder_net.width=4",
                 "model.decoder_net.size=8", "model.latent_dim=2", "train.epochs=null",
                 "train.steps=2", "--runs-dir", str(runs)]) == 0
    assert main(["--quiet", "cluster", str(runs / "vae-mnist")]) == 2
    assert "has no features" in capsys.readouterr().err
