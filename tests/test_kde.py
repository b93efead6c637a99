"""KDE log-likelihood and Bhattacharyya overlap: known values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genzoo.metrics.kde import bhattacharyya, kde_log_likelihood


def test_overlap_of_a_distribution_with_itself_is_one():
    x = np.random.default_rng(0).normal(size=(1000, 2))
    o = bhattacharyya(x, x)
    assert o.coefficient == pytest.approx(1.0) and o.distance == pytest.approx(0.0, abs=1e-9)


def test_overlap_of_separated_distributions_is_about_zero():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(1000, 2)), rng.normal(size=(1000, 2)) + 20
    both = np.concatenate([a, b])
    o = bhattacharyya(a, b, bounds=(-5, 25, -5, 25))
    assert o.coefficient < 1e-3 and o.distance > 6
    assert bhattacharyya(both, both).coefficient == pytest.approx(1.0)


def test_overlap_of_two_gaussians_matches_the_closed_form():
    # BC(N(0, I), N(d e1, I)) = exp(-d^2 / 8); the KDEs' smoothing (Scott's factor n^(-1/6))
    # could raise it by at most 0.013 at this n, sampling noise moves it by about 0.005
    rng = np.random.default_rng(0)
    n, d = 4000, 1.5
    a, b = rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + [d, 0]
    o = bhattacharyya(a, b, bounds=(-6, 8, -6, 6), resolution=100)
    assert o.coefficient == pytest.approx(math.exp(-d * d / 8), abs=0.02)


def test_kde_log_likelihood_of_a_gaussian():
    rng = np.random.default_rng(0)
    samples, holdout = rng.normal(size=(20000, 2)), rng.normal(size=(5000, 2))
    expected = -math.log(2 * math.pi) - 1  # E[log N(x; 0, I_2)]
    assert kde_log_likelihood(samples, holdout) == pytest.approx(expected, abs=0.05)


def test_degenerate_or_diverged_samples():
    holdout = np.random.default_rng(0).normal(size=(100, 2))
    assert kde_log_likelihood(np.zeros((50, 2)), holdout) == float("-inf")
    assert kde_log_likelihood(np.full((50, 2), np.nan), holdout) == float("-inf")
    assert bhattacharyya(np.zeros((50, 2)), holdout).coefficient == 0.0
