"""Unit tests of mlops.drift.shares: the share test, rare-level pooling and the Fisher-Rao effect size."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chi2_contingency, chisquare, fisher_exact

from mlops.drift import compare_shares
from mlops.drift.shares import EXPECTED_MIN, _pool_rare_levels


def _cohen_h(p: float, q: float) -> float:
    return abs(2 * math.asin(math.sqrt(p)) - 2 * math.asin(math.sqrt(q)))


def test_two_categories_score_cohens_h_before_the_noise_correction():
    cmp = compare_shares(np.array([5000, 5000]), np.array([6000, 4000]))
    assert cmp.distance == pytest.approx(_cohen_h(0.5, 0.6), rel=1e-12)
    assert cmp.distance == pytest.approx(0.2014, abs=1e-4)
    noise = (1 / 10_000 + 1 / 10_000) / 8  # (g - 1)(1/n + 1/m)/8 off the squared Hellinger distance
    assert cmp.score == pytest.approx(2 * math.acos(1 - (1 - math.cos(cmp.distance / 2) - noise)), rel=1e-12)
    assert cmp.score < cmp.distance
    assert (cmp.test, cmp.groups, cmp.pooled) == ("chi2", 2, 0)


def test_rare_category_changes_weigh_more_than_common_ones():
    # the same 5-point change: 0 % -> 5 % is a large effect, 50 % -> 55 % a small one
    rare = compare_shares(np.array([10_000, 0]), np.array([9_500, 500]))
    common = compare_shares(np.array([5_000, 5_000]), np.array([4_500, 5_500]))
    assert rare.distance == pytest.approx(_cohen_h(0.0, 0.05)) and rare.distance > 0.4
    assert common.distance == pytest.approx(_cohen_h(0.5, 0.55)) and common.distance < 0.11


def test_chi2_p_value_is_scipys_two_sample_test():
    rng = np.random.default_rng(0)
    for _ in range(50):
        k = int(rng.integers(2, 9))
        r, c = rng.integers(20, 400, k), rng.integers(20, 400, k)
        cmp = compare_shares(r, c)
        assert cmp.test == "chi2"
        assert cmp.p_value == pytest.approx(chi2_contingency(np.vstack([r, c])).pvalue, rel=1e-9, abs=1e-300)


def test_sparse_two_by_two_uses_fishers_exact_test():
    r, c = np.array([0, 1000]), np.array([3, 47])
    cmp = compare_shares(r, c)
    assert cmp.test == "fisher"
    assert cmp.p_value == pytest.approx(fisher_exact(np.vstack([r, c])).pvalue)
    assert cmp.p_value < 0.001


def test_single_value_on_both_sides_has_nothing_to_compare():
    cmp = compare_shares(np.array([400, 0]), np.array([30, 0]))
    assert (cmp.score, cmp.distance, cmp.p_value, cmp.test, cmp.groups) == (0.0, 0.0, 1.0, "none", 1)


def test_rare_levels_are_pooled_into_groups_of_adequate_expected_count():
    rng = np.random.default_rng(1)
    probs = 1 / np.arange(1, 501) ** 0.8
    probs /= probs.sum()
    n, m = 20_000, 300
    r = np.bincount(rng.choice(500, n, p=probs), minlength=500)
    c = np.bincount(rng.choice(500, m, p=probs), minlength=500)
    keep = (r + c) > 0
    rr, cc, pooled = _pool_rare_levels(r[keep], c[keep], n, m)
    expected_small = (rr + cc) * m / (n + m)
    assert pooled > 400 and rr.size < 40
    assert expected_small.min() >= EXPECTED_MIN
    assert (rr.sum(), cc.sum()) == (n, m)


def test_pooling_depends_on_pooled_counts_not_on_the_side_of_a_value():
    # Swapping the samples gives the same groups (rows swapped), so the same p-value.
    rng = np.random.default_rng(2)
    r, c = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    assert compare_shares(r, c).p_value == pytest.approx(compare_shares(c, r).p_value, rel=1e-12)


def test_holds_its_size_with_many_sparse_levels_where_goodness_of_fit_does_not():
    rng = np.random.default_rng(7)
    probs = 1 / np.arange(1, 201) ** 0.8
    probs /= probs.sum()
    alarms = gof_alarms = 0
    reps = 300
    for _ in range(reps):
        r = np.bincount(rng.choice(200, 1000, p=probs), minlength=200)
        c = np.bincount(rng.choice(200, 300, p=probs), minlength=200)
        alarms += compare_shares(r, c).p_value <= 0.05
        seen = r > 0  # Evidently-style goodness of fit: reference shares taken as exact
        gof_alarms += chisquare(c[seen], r[seen] / r[seen].sum() * c[seen].sum()).pvalue <= 0.05
    assert alarms / reps <= 0.08
    assert gof_alarms / reps > 0.3


def test_noise_correction_centres_the_score_near_zero_under_no_drift():
    rng = np.random.default_rng(3)
    probs = np.full(20, 0.05)
    raw, corrected = [], []
    for _ in range(200):
        cmp = compare_shares(np.bincount(rng.choice(20, 5000, p=probs), minlength=20), np.bincount(rng.choice(20, 500, p=probs), minlength=20))
        raw.append(cmp.distance)
        corrected.append(cmp.score)
    assert np.median(raw) > 0.15  # noise alone: 20 levels, 500 rows
    assert np.median(corrected) < 0.06


def test_needs_counts_on_both_sides():
    with pytest.raises(ValueError, match="at least one count in each sample"):
        compare_shares(np.array([3, 4]), np.array([0, 0]))
