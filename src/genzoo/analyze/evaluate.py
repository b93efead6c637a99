"""Sampling and evaluation of a trained run, from its directory alone.

``sample_run`` writes a grid (images) or a scatter plot and ``.npy`` array (vectors);
``evaluate_run`` computes the method's validation numbers on a split (and, for VAEs, the
importance-sampled log-likelihood for a list of K) and merges them into ``RUN/eval.json``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from genzoo.analyze.judges import JUDGE_PRESETS, judge_from_run, load_judge
from genzoo.config import parse_overrides
from genzoo.data.base import Dataset
from genzoo.data.transforms import from_float, to_float
from genzoo.errors import UserError
from genzoo.io import merge_json
from genzoo.metrics.judge import Judge, inception_metrics, sample_scores
from genzoo.models.base import Method
from genzoo.registry import datasets
from genzoo.runs import load, load_data, read_run_config
from genzoo.training import eval_batches
from genzoo.viz.samples import save_samples


def sample_run(run: Path | str, n: int = 64, *, y: int | None = None,
               overrides: list[str] | None = None, checkpoint: str = "last", seed: int = 0,
               out: Path | None = None) -> Path:
    """Draw ``n`` samples from a run and save them; returns the written path.

    ``overrides`` are ``sampler.KEY=VALUE`` items passed to ``method.sample`` as ``KEY=VALUE``.
    """
    nested = parse_overrides(overrides or [])
    unknown = [k for k in nested if k != "sampler"]
    if unknown:
        raise UserError(f"sample overrides must start with 'sampler.', got {unknown[0]!r}")
    run_dir = Path(run)
    method = load(run_dir, checkpoint=checkpoint)  # method.sample checks n, options, labels
    labels = None
    if y is not None:
        classes = method.info.num_classes
        if not classes or not 0 <= y < classes:
            raise UserError(f"expected a class in 0..{(classes or 1) - 1}, got {y}",
                            param="y")
        labels = torch.full((n,), y, dtype=torch.long)
    out = out or run_dir / "samples" / f"sample-{time.strftime('%Y%m%d-%H%M%S')}.png"
    torch.manual_seed(seed)
    save_samples(method, n, Path(out), None, y=labels, **nested.get("sampler", {}))
    return Path(out)


def draw_samples(method: Method, n: int, **options: Any) -> tuple[Tensor, Tensor | None]:
    """``n`` samples (n, *shape) on the CPU in ``method.data_range``, in batches of 100, and
    the labels they were drawn for (``n / K`` of each class for conditional methods);
    ``options`` go to ``method.sample`` (e.g. ``sample_init="noise"``)."""
    k = method.info.num_classes
    labels = torch.arange(n) % k if method.conditional and k else None
    chunks = []
    for start in range(0, n, 100):
        y = None if labels is None else labels[start:start + 100].to(method.device)
        chunks.append(method.sample(min(100, n - start), y=y, **options).detach().float()
                      .cpu())
    return torch.cat(chunks), labels


def judge_samples(method: Method, test: Dataset, samples: Tensor, labels: Tensor | None,
                  judge: Judge | None = None) -> dict[str, float]:
    """Judge numbers of a generative image method's samples (empty when its dataset has no
    judge): confidence, class entropy, judge-FID against ``test``, accuracy on ``labels``."""
    if judge is None:
        if method.info.name not in JUDGE_PRESETS:
            return {}
        judge = load_judge(method.info.name, quiet=False)
    reference = to_float(test.x[:max(len(samples), 1000)], test.info.value_range)
    return sample_scores(judge, samples, reference, method.data_range, labels)


def importance_log_likelihood(method: Method, data: Dataset, ks: Sequence[int], *,
                              batch_size: int = 500, seed: int | None = None,
                              quiet: bool = True) -> dict[str, float]:
    """Importance-sampled log-likelihood of every item of ``data`` for each K in ``ks``.

    The items are prepared once (a dynamically binarizing VAE binarizes the split once, so
    every K sees the same images), then scored by ``method.log_prob(x, k=K)`` in batches of
    ``batch_size`` items; a conditional method scores ``log p(x|y)`` with the true labels.
    With ``seed``, the random generator is seeded before the preparation and before each K,
    so each number does not depend on which other K were asked for.

    Returns:
        ``log_px_kK`` (``log_px_given_y_kK`` for conditional methods): the mean over items in
        nats, and ``..._stderr``: its standard error over items (not the Monte Carlo error).

    References:
        Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016, eq. (8)
        and section 5.2 (test log-likelihood with K = 5000).
    """
    if "importance_log_prob" not in method.capabilities:
        raise UserError(f"method {method.name!r} has no importance-sampled "
                        "log-likelihood (log_prob with k draws)", param="is_k")
    bad = [k for k in ks if k < 1]
    if bad or not ks:
        raise UserError(f"expected positive numbers of samples, got {list(ks)}", param="is_k")
    conditional = method.conditional
    name = "log_px_given_y" if conditional else "log_px"
    if seed is not None:
        torch.manual_seed(seed)
    batches = list(eval_batches(method, data, batch_size))
    numbers: dict[str, float] = {}
    for k in ks:
        if seed is not None:
            torch.manual_seed(seed)
        scores = []
        for batch in tqdm(batches, desc=f"log p(x), K={k}", disable=quiet, leave=False):
            scores.append(method.log_prob(batch.x, k=k, y=batch.y) if conditional
                          else method.log_prob(batch.x, k=k))
        values = torch.cat(scores).double()
        numbers[f"{name}_k{k}"] = values.mean().item()
        numbers[f"{name}_k{k}_stderr"] = (values.std().item() / math.sqrt(len(values))
                                          if len(values) > 1 else 0.0)
    return numbers


def evaluate_run(run: Path | str, *, split: str | None = None, checkpoint: str = "last",
                 figures: bool = True, judge: bool = True, inception: bool = False,
                 num_samples: int = 1000, is_k: Sequence[int] = (),
                 quiet: bool = True, judge_run: Path | str | None = None) -> dict[str, float]:
    """The method's evaluation numbers on ``split``, merged into ``RUN/eval.json``.

    With ``figures``, the method's own figures are written to ``RUN/figures/`` (captions in
    ``figures/captions.json``), where ``genzoo report`` finds them. With ``judge``, a generative
    image method's ``num_samples`` samples are scored by its dataset's judge (trained and cached
    on first use): confidence, predicted-class entropy, judge-FID against the split, and the
    accuracy on the intended labels for conditional methods; ``judge_run`` (a classifier run
    or checkpoint of the same items and classes) is the judge instead. With ``inception``,
    also Inception FID and IS of the samples (needs ``torch-fidelity`` and its weights). With
    ``is_k`` (VAEs), the importance-sampled log-likelihood of the split for each K (see
    :func:`importance_log_likelihood`), as ``SPLIT/log_px_kK``; ``quiet`` hides its progress.
    """
    run_dir = Path(run)
    cfg = read_run_config(run_dir)
    split = split or cfg.data.val_split or cfg.data.train_split or \
        datasets.get(cfg.data.name).splits[0]
    data = load_data(cfg, split)
    method = load(run_dir, checkpoint=checkpoint)
    chosen = None if judge_run is None or not judge else judge_from_run(judge_run, method.info)
    wants_figures = figures and "figures" in method.capabilities
    wants_train = "attach" in method.capabilities or wants_figures  # only then read the train split
    train = load_data(cfg, cfg.data.train_split, cfg.data.limit) if wants_train else None
    if train is not None:
        method.attach(train)
    torch.manual_seed(cfg.train.seed)
    numbers = {f"{split}/{k}": v for k, v in
               method.evaluate(eval_batches(method, data, cfg.train.batch_size)).items()}
    if is_k:
        numbers.update({f"{split}/{k}": v for k, v in importance_log_likelihood(
            method, data, is_k, seed=cfg.train.seed, quiet=quiet).items()})
    if (judge or inception) and "sample" in method.capabilities and method.info.kind == "image":
        samples, labels = draw_samples(method, num_samples)
        if judge:
            numbers.update(judge_samples(method, data, samples, labels, chosen))
        if inception:
            as_uint8 = from_float(samples, (0, 255), method.data_range)
            numbers.update(inception_metrics(as_uint8, data.x[:max(num_samples, 1000)]))
    merge_json(run_dir / "eval.json", numbers)
    if wants_figures:
        assert train is not None
        captions = method.figures(run_dir / "figures", train, data)
        if captions:
            merge_json(run_dir / "figures" / "captions.json", captions)
    return numbers
