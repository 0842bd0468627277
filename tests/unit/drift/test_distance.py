"""Unit tests of mlops.drift.distance: exact Wasserstein-1 and KS statistic against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp, wasserstein_distance

from mlops.drift import wasserstein_1d, wasserstein_ks
from mlops.drift.distance import _binned


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _cases():
    rng = _rng(8)
    n = 60_000
    return {
        "normal, no shift": (rng.normal(0, 1, n), rng.normal(0, 1, n)),
        "normal, 0.05 sd shift": (rng.normal(0, 1, n), rng.normal(0.05, 1, n)),
        "scale change, unequal sizes": (rng.normal(5, 1, n), rng.normal(5, 1.3, n // 3)),
        "lognormal": (rng.lognormal(0, 1, n), rng.lognormal(0.05, 1, n)),
        "heavy tail t(2)": (rng.standard_t(2, n), rng.standard_t(2, n)),
        "integers (delays)": (np.round(rng.exponential(15, n) - 5), np.round(rng.exponential(16, n) - 5)),
        "zero-inflated": (np.where(rng.random(n) < 0.9, 0.0, rng.exponential(1, n)), np.where(rng.random(n) < 0.85, 0.0, rng.exponential(1, n))),
        "large offset": (1e6 + rng.exponential(1, n), 1e6 + rng.exponential(1.02, n)),
        "identical samples": (lambda a: (a, a.copy()))(rng.normal(0, 1, n)),
        "far outlier": (np.r_[rng.normal(0, 1, n), 1e20], rng.normal(0, 1, n)),
        "big against small": (rng.normal(0, 1, 200_000), rng.normal(0.1, 1, 50)),
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_wasserstein_and_ks_match_scipy_on_realistic_data(name):
    x, y = _cases()[name]
    w, d = wasserstein_ks(x, y)
    assert w == pytest.approx(wasserstein_distance(x, y), rel=1e-9, abs=1e-12)
    assert d == pytest.approx(ks_2samp(x, y).statistic, rel=1e-12, abs=1e-15)
    assert wasserstein_1d(x, y) == w


def test_binned_pass_is_exact_on_every_branch_with_coarse_grids():
    rng = _rng(9)
    for i in range(80):
        n, m = rng.integers(1, 400, size=2)
        make = [
            lambda k: rng.normal(0, 1, k),
            lambda k: rng.integers(0, 6, k).astype(float),  # ties across the samples
            lambda k: rng.standard_cauchy(k),
            lambda k: np.where(rng.random(k) < 0.7, 1.0, rng.exponential(1, k)),
        ][i % 4]
        x, y = make(n), make(m) + (i % 3) * 0.1
        expected_w, expected_d = wasserstein_distance(x, y), ks_2samp(x, y).statistic
        for bins in (1, 7, 64):
            w, d = _binned(x, y, bins)
            assert w == pytest.approx(expected_w, rel=1e-9, abs=1e-12)
            assert d == pytest.approx(expected_d, rel=1e-12, abs=1e-15), (i, bins)


def test_ks_statistic_inside_sign_constant_bins_is_found():
    # All x points of a bin before all its y points: F - G peaks inside the bin, above both edges.
    x = np.r_[np.linspace(0.0, 0.4, 500), np.linspace(1.0, 2.0, 100)]
    y = np.r_[np.linspace(0.5, 0.9, 500), np.linspace(1.0, 2.0, 100)]
    w, d = _binned(x, y, 1)
    assert d == pytest.approx(ks_2samp(x, y).statistic, abs=1e-15)
    assert w == pytest.approx(wasserstein_distance(x, y), rel=1e-9)


def test_rejects_missing_values_and_empty_samples():
    with pytest.raises(ValueError, match="needs finite values"):
        wasserstein_ks(np.array([1.0, np.nan]), np.array([1.0]))
    with pytest.raises(ValueError, match="at least one value"):
        wasserstein_ks(np.array([]), np.array([1.0]))


def test_constant_samples():
    assert wasserstein_ks(np.full(30_000, 2.0), np.full(10, 2.0)) == (0.0, 0.0)
    w, d = wasserstein_ks(np.full(30_000, 2.0), np.full(10, 5.0))
    assert (w, d) == (pytest.approx(3.0), 1.0)
