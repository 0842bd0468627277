"""Compare the shares of categories in two samples: a two-sample test and an effect size.

Used for categorical features, for numeric features with few distinct values (binary
flags, small counts) and for null rates (two categories: null, not null).

Test
    ``scipy.stats.chi2_contingency`` on the 2 x k table of reference and current counts
    (the two-sample test of homogeneity, not a goodness-of-fit test that takes the
    reference shares as exact). Levels too rare for the chi-square approximation are
    pooled first: a level is kept on its own when its expected count in the smaller
    sample is at least ``EXPECTED_MIN`` (5, Cochran's rule); the rare levels, in order of
    decreasing pooled count, are merged into consecutive groups whose expected count is
    between 5 and 15. The grouping depends on the pooled counts only (and the level
    names for ties), never on which sample a value came from, so under no drift it is
    the same for every reshuffle of the rows between the samples and the test keeps its
    size. A 2 x 2 table with an expected count below 5 uses Fisher's exact test; other
    2 x 2 tables use the chi-square test with Yates' correction.

Effect size
    The Fisher-Rao distance between the share vectors ``p`` and ``q`` (after pooling),
    ``2 * arccos(sum_i sqrt(p_i * q_i))``: the geodesic distance of the multinomial
    model (Rao 1945). For two categories it is Cohen's *h*,
    ``|2 asin sqrt(p) - 2 asin sqrt(q)|``, so 0.5 -> 0.6 scores 0.20 and 0.00 -> 0.05
    scores 0.45: changes in rare categories weigh more than in common ones, in the units
    of their sampling noise. Sampling noise alone inflates it; with ``g`` groups the
    squared Hellinger distance ``1 - sum_i sqrt(p_i q_i)`` is biased upward by
    ``(g - 1) (1/n + 1/m) / 8`` to first order (``8 nm/(n+m) H^2`` is asymptotically
    chi-square with ``g - 1`` degrees of freedom under no drift), which is subtracted
    before converting back to a distance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import chdtrc

EXPECTED_MIN = 5.0


@dataclass(frozen=True)
class ShareComparison:
    """Result of :func:`compare_shares`.

    ``score`` is the bias-corrected Fisher-Rao distance, ``distance`` the raw one;
    ``test`` is ``"chi2"``, ``"fisher"`` or ``"none"`` (one group left: nothing to
    compare, ``p_value`` 1); ``groups`` counts the compared groups and ``pooled`` the
    levels merged into groups of rare levels.
    """

    score: float
    distance: float
    p_value: float
    test: str
    groups: int
    pooled: int


def compare_shares(reference_counts: np.ndarray, current_counts: np.ndarray) -> ShareComparison:
    """Test whether two samples share the same category distribution.

    Parameters
    ----------
    reference_counts, current_counts : array of int
        Counts per level, aligned (the same level at the same position; a level absent
        from one sample has count 0 there). The order of levels must not depend on which
        sample a value came from (e.g. sorted names); it breaks ties when rare levels are
        grouped. Each sample needs at least one count.
    """
    r = np.asarray(reference_counts, dtype=np.int64)
    c = np.asarray(current_counts, dtype=np.int64)
    present = (r + c) > 0
    r, c = r[present], c[present]
    n, m = int(r.sum()), int(c.sum())
    if n == 0 or m == 0:
        raise ValueError("compare_shares needs at least one count in each sample")
    pooled = 0
    if r.size > 2:
        r, c, pooled = _pool_rare_levels(r, c, n, m)
    if r.size <= 1:
        return ShareComparison(score=0.0, distance=0.0, p_value=1.0, test="none", groups=int(r.size), pooled=pooled)
    p_value, test = _test(r, c)
    distance, score = _fisher_rao(r, c, n, m)
    return ShareComparison(score=score, distance=distance, p_value=p_value, test=test, groups=int(r.size), pooled=pooled)


def _pool_rare_levels(r: np.ndarray, c: np.ndarray, n: int, m: int) -> tuple[np.ndarray, np.ndarray, int]:
    total = r + c
    expected = total * (min(n, m) / (n + m))  # expected count in the smaller sample under no drift
    order = np.argsort(-total, kind="stable")
    rare = order[expected[order] < EXPECTED_MIN]
    if rare.size == 0:
        return r, c, 0
    kept = order[expected[order] >= EXPECTED_MIN]
    e = expected[rare]
    # A group starts wherever the running expected count crosses a multiple of 2 * EXPECTED_MIN:
    # each rare level holds < EXPECTED_MIN, so every group but the last holds between
    # EXPECTED_MIN and 3 * EXPECTED_MIN.
    group = ((np.cumsum(e) - e) // (2 * EXPECTED_MIN)).astype(np.int64)
    n_groups = int(group[-1]) + 1
    if n_groups > 1 and e[group == n_groups - 1].sum() < EXPECTED_MIN:
        group[group == n_groups - 1] = n_groups - 2
        n_groups -= 1
    gr = np.bincount(group, weights=r[rare], minlength=n_groups).round().astype(np.int64)
    gc = np.bincount(group, weights=c[rare], minlength=n_groups).round().astype(np.int64)
    rk, ck = r[kept], c[kept]
    if n_groups == 1 and e.sum() < EXPECTED_MIN and kept.size:
        # too little for a group of its own: join the smallest kept level
        rk, ck = rk.copy(), ck.copy()
        rk[-1] += gr[0]
        ck[-1] += gc[0]
        return rk, ck, int(rare.size)
    return np.concatenate([rk, gr]), np.concatenate([ck, gc]), int(rare.size)


def _test(r: np.ndarray, c: np.ndarray) -> tuple[float, str]:
    """p-value of the test of homogeneity of the 2 x k table (r, c), and the test's name."""
    table = np.vstack([r, c]).astype(np.float64)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    diff = table - expected
    if r.size == 2:
        if expected.min() < EXPECTED_MIN:
            from scipy.stats import fisher_exact

            return float(fisher_exact(table.astype(np.int64)).pvalue), "fisher"
        # Yates' correction: every |observed - expected| shrinks by 0.5 (not past 0)
        diff = np.sign(diff) * np.maximum(np.abs(diff) - 0.5, 0.0)
    statistic = float(np.sum(diff * diff / expected))
    # the same statistic and p-value as scipy.stats.chi2_contingency (a unit test checks it)
    return float(chdtrc(r.size - 1, statistic)), "chi2"


def _fisher_rao(r: np.ndarray, c: np.ndarray, n: int, m: int) -> tuple[float, float]:
    """Raw and bias-corrected Fisher-Rao distance between the share vectors ``r/n`` and ``c/m``."""
    affinity = min(1.0, float(np.sum(np.sqrt((r / n) * (c / m)))))  # Bhattacharyya coefficient
    hellinger_sq = 1.0 - affinity
    noise = (r.size - 1) * (1.0 / n + 1.0 / m) / 8.0
    corrected = max(0.0, hellinger_sq - noise)
    return 2.0 * math.acos(affinity), 2.0 * math.acos(1.0 - corrected)
