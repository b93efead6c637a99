"""Pseudo-labels from a trained representation: ``genzoo cluster RUN``.

For a run whose method has ``features(x) -> (B, F)`` (the VQ-VAE's flattened quantized codes,
SimSiam's encoder output), on the training split:

1. KMeans (scikit-learn, k-means++ starts) for each K of a range, on the features and, as the
   baseline, on the raw pixels; silhouette score (on a subsample) and Hungarian accuracy
   against the true labels for each K; the best K is the one of highest silhouette on the
   features (``--k`` fixes it instead). With ``--embed spectral`` the features are clustered
   as in spectral clustering (Ng, Jordan & Weiss): KMeans on the first K eigenvectors of the
   normalized Laplacian of their symmetrized k-nearest-neighbour graph (``--neighbors``),
   rows scaled to unit length; the graph is built on the fit subsample and every other item
   takes the cluster of its nearest fit item. The raw pixels are then clustered both ways
   (plain KMeans stays the baseline; ``pixels_spectral`` shows what the embedding alone
   gives).
2. Pseudo-labels: the clusters of every training item at that K; the cluster-by-class table
   (the distribution of the true labels inside each cluster) as counts and as shares.
3. t-SNE of a subsample of the features, coloured by the true labels and by the pseudo-labels.
4. The same classifier preset trained twice on the same budget, once on the true labels and
   once on the pseudo-labels turned into classes (each cluster's Hungarian match; for K > C
   the extra clusters take their majority class), both scored on the test split.

Numbers go to ``RUN/eval.json`` under ``cluster/``, the full sweep and tables to
``RUN/cluster.json``, figures to ``RUN/figures/`` (``genzoo report RUN`` shows them), the
pseudo-labels (``pseudo_labels.npy``, the cluster of each training item) and the two classifier
runs to ``RUN/cluster/``.

References:
    Lloyd, "Least squares quantization in PCM", 1982; Arthur & Vassilvitskii, "k-means++",
    SODA 2007 (KMeans and its starts).
    Rousseeuw, "Silhouettes: a graphical aid to the interpretation and validation of cluster
    analysis", J. Comput. Appl. Math. 20, 1987.
    van der Maaten & Hinton, "Visualizing Data using t-SNE", JMLR 9, 2008.
    Ng, Jordan & Weiss, "On Spectral Clustering: Analysis and an algorithm", NIPS 2001;
    Belkin & Niyogi, "Laplacian Eigenmaps", Neural Computation 15, 2003 (the embedding).

Example::

    genzoo train vqvae-mnist
    genzoo cluster runs/vqvae-mnist --ks 6-14
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from genzoo.analyze.judges import JUDGE_PRESETS
from genzoo.config import resolve_config
from genzoo.data.base import Dataset
from genzoo.data.transforms import to_float
from genzoo.errors import UserError
from genzoo.io import atomic_write_text, merge_json
from genzoo.metrics.classification import apply_in_batches, evaluate_accuracy
from genzoo.metrics.clustering import cluster_to_class, contingency, hungarian_accuracy
from genzoo.runs import build_method, load, load_data, read_run_config
from genzoo.training import fit
from genzoo.training.checkpoint import seed_everything
from genzoo.viz.cluster import plot_cluster_table, plot_k_sweep, plot_tsne


@dataclass
class Sweep:
    """KMeans over a range of K on one kind of features."""

    ks: list[int]
    silhouette: list[float]
    accuracy: list[float]
    clusters: dict[int, np.ndarray]  # K -> (N,) cluster of every item


def parse_ks(text: str) -> list[int]:
    """``"5-15"`` (inclusive) or ``"6,8,10"`` -> sorted distinct K >= 2; a UserError else."""
    try:
        if "-" in text:
            low, high = (int(v) for v in text.split("-"))
            ks = list(range(low, high + 1))
        else:
            ks = [int(v) for v in text.split(",")]
    except ValueError:
        raise UserError(f"expected a range like 5-15 or a list like 6,8,10, got "
                        f"{text!r}", param="ks") from None
    if not ks or min(ks) < 2:
        raise UserError(f"every K must be at least 2, got {text!r}", param="ks")
    return sorted(set(ks))


def extract_features(method, data: Dataset, batch_size: int = 500) -> np.ndarray:
    """``method.features`` of every item of ``data``: (N, F) float32."""
    return apply_in_batches(method, data, lambda x: method.features(x).float(),
                            batch_size).numpy()


def pixels(data: Dataset) -> np.ndarray:
    """The raw pixels of ``data`` in [0, 1], one row per item: (N, C * H * W) float32."""
    return to_float(data.x, data.info.value_range, (0.0, 1.0)).flatten(1).numpy()


EMBEDDINGS = ("none", "spectral")


def spectral_embedding(x: np.ndarray, dims: int, neighbors: int, seed: int) -> np.ndarray:
    """(N, dims) spectral embedding of ``x`` (N, F): the ``dims`` eigenvectors with the smallest
    eigenvalues of the normalized Laplacian of the symmetrized ``neighbors``-nearest-neighbour
    graph (self-loops included), scaled by D^-1/2 as scikit-learn's ``spectral_embedding``
    gives them, the first (constant on a connected graph) kept, as spectral clustering does.

    Keeping it matters when the graph falls apart: with c connected components the smallest
    eigenvalue 0 has c eigenvectors, any basis of their span, and only the whole span (not the
    span minus one arbitrary vector) puts each component at its own point once the rows are
    scaled to unit length (Ng, Jordan & Weiss 2001, proposition 1).

    References:
        Ng, Jordan & Weiss, "On Spectral Clustering: Analysis and an algorithm", NIPS 2001.
        von Luxburg, "A Tutorial on Spectral Clustering", Statistics and Computing 2007.
    """
    from sklearn.manifold import spectral_embedding as laplacian_eigenvectors
    from sklearn.neighbors import kneighbors_graph

    if len(x) <= max(dims, neighbors) + 1:
        raise UserError(f"spectral embedding: {len(x)} items are too few for {dims} "
                        f"eigenvectors of a {neighbors}-neighbour graph")
    graph = kneighbors_graph(x, neighbors, include_self=True)
    with warnings.catch_warnings():  # a disconnected graph is expected (see above)
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        vectors = laplacian_eigenvectors(0.5 * (graph + graph.T), n_components=dims,
                                         random_state=seed, drop_first=False)
    return vectors.astype(np.float32)


def kmeans_sweep(features: np.ndarray, labels: np.ndarray, ks: list[int], num_classes: int, *,
                 fit_limit: int, silhouette_size: int, seed: int, n_init: int,
                 desc: str, quiet: bool, neighbors: int = 0) -> Sweep:
    """KMeans for every K: fitted on (at most) ``fit_limit`` items, then every item assigned;
    silhouette on ``silhouette_size`` items, Hungarian accuracy on all.

    With ``neighbors`` > 0, spectral clustering instead: KMeans on the unit-length rows of the
    first K columns of :func:`spectral_embedding` of the fit items (silhouette in that space,
    on fit items), and every other item takes the cluster of its nearest fit item."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    fit = rng.permutation(len(features))[:fit_limit]
    sil_items = rng.permutation(len(features))[:silhouette_size]
    if neighbors:
        from sklearn.neighbors import NearestNeighbors

        embedded = spectral_embedding(features[fit], max(ks), neighbors, seed)
        nearest = NearestNeighbors(n_neighbors=1).fit(features[fit]).kneighbors(
            features, return_distance=False)[:, 0]
        nearest[fit] = np.arange(len(fit))  # a fit item is its own nearest (ties: duplicates)
        sil_items = np.arange(len(fit))[:silhouette_size]
    sweep = Sweep(ks, [], [], {})
    for k in tqdm(ks, desc=desc, disable=quiet, leave=False):
        if neighbors:
            z = embedded[:, :k] / np.maximum(
                np.linalg.norm(embedded[:, :k], axis=1, keepdims=True), 1e-12)
            fitted = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(z)
            clusters, space, sample = fitted[nearest], z[sil_items], fitted[sil_items]
        else:
            km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(features[fit])
            clusters = km.predict(features)
            space, sample = features[sil_items], clusters[sil_items]
        sweep.clusters[k] = clusters
        sweep.silhouette.append(  # undefined when the features collapse to one cluster
            float(silhouette_score(space, sample))
            if len(np.unique(sample)) > 1 else float("nan"))
        sweep.accuracy.append(hungarian_accuracy(clusters, labels, k, num_classes))
    return sweep


def train_classifier(preset: str, data: Dataset, test: Dataset, run_dir: Path, *,
                     epochs: int, seed: int, quiet: bool) -> float:
    """Train ``preset`` (a classifier) on ``data`` for ``epochs`` in ``run_dir``; test accuracy."""
    cfg = resolve_config(preset, [f"train.epochs={epochs}", f"train.seed={seed}"])
    seed_everything(seed)
    method = build_method(cfg, data.info)
    run_dir.mkdir(parents=True, exist_ok=True)
    fit(method, data, cfg, run_dir, quiet=quiet)
    return evaluate_accuracy(method, test)


def cluster_run(run: Path | str, *, ks: list[int], k: int | None = None, limit: int | None = None,
                fit_limit: int = 20000, silhouette_size: int = 5000, n_init: int = 3,
                tsne: int = 2000, classifier: str | None = "auto", classifier_epochs: int = 3,
                test_split: str = "test", embed: str = "none", neighbors: int = 60,
                seed: int = 0, quiet: bool = True) -> dict[str, float]:
    """Run the steps in the module docstring on ``run``; returns the numbers (also merged into
    ``RUN/eval.json`` under ``cluster/``).

    Args:
        run: a run directory whose method has ``features``.
        ks: the K of the sweep; k: the K of the pseudo-labels (default: best silhouette).
        limit: use only the first ``limit`` training items.
        fit_limit, silhouette_size, n_init: KMeans fit subsample, silhouette subsample,
            k-means++ restarts.
        tsne: items in the t-SNE map (0: none).
        classifier: the classifier preset of step 4 ("auto": the judge preset of the dataset;
            None: skip); classifier_epochs: its budget, the same for both labelings.
        test_split: the split the classifiers are scored on.
        embed: "none" (KMeans on the features) or "spectral" (spectral clustering of the
            features, and of the pixels beside the plain-KMeans pixel baseline);
            neighbors: the k-nearest-neighbour graph's k for "spectral" (60: on the K = 10
            pseudo-labels of vqvae-mnist's codes, 30 -> 60 neighbours raised the Hungarian
            accuracy from 0.632 to 0.659; on vqvae-fashion's, 15 / 30 / 60 gave 0.558 /
            0.580 / 0.597; probes of 2026-12-04, 20000 fit items).
    """
    run_dir = Path(run)
    cfg = read_run_config(run_dir)
    method = load(run_dir)
    if "features" not in method.capabilities:
        raise UserError(f"genzoo cluster: method {method.name!r} has no features(x); use a "
                        "VQ-VAE or SimSiam run")
    train = load_data(cfg, cfg.data.train_split, limit)
    if train.y is None or not train.info.num_classes:
        raise UserError(f"genzoo cluster: dataset {train.info.name!r} has no labels to "
                        "compare the clusters with")
    if k is not None and k < 2:
        raise UserError(f"expected at least 2 clusters, got {k}", param="k")
    if embed not in EMBEDDINGS:
        raise UserError(f"expected one of {', '.join(EMBEDDINGS)}, got {embed!r}",
                        param="embed")
    if embed == "spectral" and neighbors < 2:
        raise UserError(f"expected at least 2, got {neighbors}", param="neighbors")
    ks = sorted(set(ks) | ({k} if k else set()))
    if classifier == "auto":
        classifier = JUDGE_PRESETS.get(train.info.name)
        if classifier is None:
            raise UserError(f"genzoo cluster: no classifier preset for dataset "
                            f"{train.info.name!r}; pass --classifier PRESET or --no-classifier")
    test = load_data(cfg, test_split) if classifier else None
    labels = train.y.numpy()
    c = train.info.num_classes
    common = dict(fit_limit=fit_limit, silhouette_size=min(silhouette_size, len(train)),
                  seed=seed, n_init=n_init, quiet=quiet)
    features = extract_features(method, train)
    graph = neighbors if embed == "spectral" else 0
    raw_pixels = pixels(train)
    sweeps = {"features": kmeans_sweep(features, labels, ks, c, desc="clusters (features)",
                                       neighbors=graph, **common),
              "pixels": kmeans_sweep(raw_pixels, labels, ks, c, desc="KMeans (pixels)",
                                     **common)}
    if graph:
        sweeps["pixels_spectral"] = kmeans_sweep(raw_pixels, labels, ks, c, neighbors=graph,
                                                 desc="spectral (pixels)", **common)
    ours, raw = sweeps["features"], sweeps["pixels"]
    if np.isnan(ours.silhouette).all():
        distinct = len(np.unique(features, axis=0))
        raise UserError(f"genzoo cluster: the run's features take only {distinct} distinct "
                        f"value(s) over {len(features)} items (a collapsed representation); "
                        "train longer or check the run's curves")
    best_k = ks[int(np.nanargmax(ours.silhouette))]
    k = k or best_k
    at = ks.index(k)
    clusters = ours.clusters[k]
    table = contingency(clusters, labels, k, c)
    mapping = cluster_to_class(table)
    figures_dir = run_dir / "figures"
    names = list(train.info.class_names or [str(i) for i in range(c)])
    plot_k_sweep(ks, {kind: {"silhouette": s.silhouette, "accuracy": s.accuracy}
                      for kind, s in sweeps.items()}, figures_dir / "cluster-k-sweep.png")
    order = np.argsort(mapping, kind="stable")
    plot_cluster_table(table, names, figures_dir / "cluster-labels.png", order=order,
                       title=f"true labels inside each of the K = {k} clusters (% of cluster)")
    captions = {
        "cluster-k-sweep.png": f"{'Spectral clustering' if graph else 'KMeans'} on the "
                               f"{method.name} features, KMeans on raw pixels"
                               f"{' (and spectral clustering of them)' if graph else ''}: "
                               f"silhouette and Hungarian accuracy against K (best K by "
                               f"silhouette: {best_k})",
        "cluster-labels.png": f"distribution of the true labels inside each cluster, K = {k}, "
                              "rows ordered by matched class; row labels give cluster sizes"}
    numbers = {"k": float(k), "best_k": float(best_k), "accuracy": ours.accuracy[at],
               "pixels_accuracy": raw.accuracy[at], "silhouette": ours.silhouette[at],
               "pixels_silhouette": raw.silhouette[at]}
    if graph:
        numbers["pixels_spectral_accuracy"] = sweeps["pixels_spectral"].accuracy[at]
    if c in ks:  # the comparison at K = number of classes, whatever K the labels use
        numbers.update(accuracy_k_classes=ours.accuracy[ks.index(c)],
                       pixels_accuracy_k_classes=raw.accuracy[ks.index(c)])
    if tsne:
        from sklearn.manifold import TSNE

        pick = np.random.default_rng(seed).permutation(len(train))[:tsne]
        points = TSNE(init="pca", random_state=seed, perplexity=30).fit_transform(
            features[pick])
        plot_tsne(points, labels[pick], clusters[pick], figures_dir / "cluster-tsne.png")
        captions["cluster-tsne.png"] = (f"t-SNE of {len(pick)} training items' features, "
                                        f"coloured by true label (left) and cluster (right)")
    if classifier:
        assert test is not None
        pseudo = torch.as_tensor(mapping[clusters])
        numbers["pseudo_label_agreement"] = float((pseudo == train.y).double().mean())
        for name, y in (("true", train.y), ("pseudo", pseudo)):
            numbers[f"clf_{name}_test_acc"] = train_classifier(
                classifier, Dataset(train.x, y, train.info), test,
                run_dir / "cluster" / f"clf-{name}", epochs=classifier_epochs, seed=seed,
                quiet=quiet)
    merge_json(figures_dir / "captions.json", captions)
    detail = {"ks": ks, "k": k, "embed": embed, "neighbors": graph or None,
              "mapping": mapping.tolist(), "table": table.tolist(),
              "classifier": classifier, "classifier_epochs": classifier_epochs,
              **{kind: {"silhouette": s.silhouette, "accuracy": s.accuracy}
                 for kind, s in sweeps.items()}}
    atomic_write_text(run_dir / "cluster.json", json.dumps(detail, indent=2))
    (run_dir / "cluster").mkdir(exist_ok=True)
    np.save(run_dir / "cluster" / "pseudo_labels.npy", clusters)
    numbers = {f"cluster/{key}": value for key, value in numbers.items()}
    merge_json(run_dir / "eval.json", numbers)
    return numbers
