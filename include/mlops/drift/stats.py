"""Per-feature drift between a reference and a current frame.

The test depends on the sample size, as in Evidently's defaults (DESIGN.md section 5):

=========================  ===========================  ====================================
reference values           numeric feature              categorical feature
=========================  ===========================  ====================================
``<= small_sample_rows``   two-sample KS, p <= p_value  two-sample chi-square on the
                                                        reference/current count table,
                                                        p <= p_value
``> small_sample_rows``    Wasserstein / std(ref)       Jensen-Shannon distance (base 2),
                           >= numeric threshold         >= categorical threshold
=========================  ===========================  ====================================

Past about a thousand rows p-value tests flag negligible shifts (a 0.01-sd shift is
"significant" at 1M rows), so large samples use effect sizes instead. The chi-square is
the two-sample test of independence (``scipy.stats.chi2_contingency``), not a
goodness-of-fit test that treats the reference counts as exact: the latter flags most
undrifted categorical columns at a few hundred rows.

The regime is chosen per feature from its non-null reference count. Nulls (and, for
numeric features, infinities) are dropped per feature and counted. Categorical values are
compared as strings; integral floats are written as integers (``3.0`` -> ``'3'``) so an
integer column that gained nulls (and became float) still matches its reference.

Wasserstein distance at scale
-----------------------------
:func:`wasserstein_1d` is exact (it matches ``scipy.stats.wasserstein_distance`` to
floating-point rounding) without sorting whole columns. It uses
``W1 = integral |F(t) - G(t)| dt`` over a grid of equal-width bins (about 16 values per
bin, at most 65,536 bins) spanning the central 99 % of the pooled data, plus one
underflow and one overflow bin:

* in a bin where ``F - G`` cannot change sign (checked exactly with integer counts) the
  integral of ``|F - G|`` equals ``|integral of (F - G)|``, which follows exactly from the
  per-bin counts and sums of positions (``np.bincount``);
* in a bin whose points all sit at one value (discrete data), ``F - G`` is constant on
  each side of that value;
* only the points of the remaining bins (near crossings of ``F`` and ``G``, and the
  under/overflow bins; typically 1-5 % of the points) are sorted and integrated step by
  step.

So the cost is a few linear passes per column instead of an ``O(n log n)`` sort (about
25 ms instead of 500 ms per 1M-row pair here). The worst case is a sort of everything, as
costly as scipy: two identical samples, or one value holding most points next to
continuous ones (zero-inflated data). ``tests/unit/drift/test_stats.py`` checks the result
against scipy on such data too.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from mlops.config import DriftConfig
from mlops.errors import ConfigError

Kind = Literal["numeric", "categorical"]
Method = Literal["ks", "chi2", "wasserstein_norm", "jensen_shannon", "empty"]

_BINS = 65536  # largest grid of the binned Wasserstein distance (its per-bin arrays fit in L2 cache)
_SORT_BELOW = 20_000  # below this many pooled values, the plain sort-based formula is faster


@dataclass(frozen=True)
class FeatureDrift:
    """Drift verdict for one feature.

    ``score`` is the KS statistic, the chi-square statistic, the normalised Wasserstein
    distance or the Jensen-Shannon distance (``None`` for an empty feature). For ``ks``
    and ``chi2`` the verdict compares ``p_value`` with ``threshold``; for the distances it
    compares ``score``. ``n_reference`` / ``n_current`` count the non-null values used.
    """

    feature: str
    kind: Kind
    method: Method
    score: float | None
    threshold: float
    p_value: float | None
    drifted: bool
    n_reference: int
    n_current: int
    nulls_reference: int
    nulls_current: int
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DriftResult:
    """Drift of every feature between a reference and a current frame.

    ``drift_share`` is the share of *tested* features that drifted (features empty on
    either side are reported but not counted); ``dataset_drift`` is
    ``drift_share >= dataset_drift_share``.
    """

    features: list[FeatureDrift]
    n_reference: int
    n_current: int
    dataset_drift_share: float = 0.5

    @property
    def tested(self) -> int:
        return sum(f.method != "empty" for f in self.features)

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    @property
    def drift_share(self) -> float:
        return len(self.drifted_features) / self.tested if self.tested else 0.0

    @property
    def dataset_drift(self) -> bool:
        return self.tested > 0 and self.drift_share >= self.dataset_drift_share

    @property
    def method_by_feature(self) -> dict[str, str]:
        return {f.feature: f.method for f in self.features}

    def feature(self, name: str) -> FeatureDrift:
        for f in self.features:
            if f.feature == name:
                return f
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (no numpy types); :meth:`from_dict` reverses it."""
        return {
            "dataset_drift": self.dataset_drift,
            "drift_share": self.drift_share,
            "dataset_drift_share": self.dataset_drift_share,
            "drifted_features": self.drifted_features,
            "method_by_feature": self.method_by_feature,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "tested": self.tested,
            "features": [f.to_dict() for f in self.features],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftResult:
        return cls(
            features=[FeatureDrift(**f) for f in data["features"]],
            n_reference=int(data["n_reference"]),
            n_current=int(data["n_current"]),
            dataset_drift_share=float(data["dataset_drift_share"]),
        )


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: list[str],
    categorical: list[str],
    config: DriftConfig,
) -> DriftResult:
    """Test every feature for drift between ``reference`` and ``current``.

    Parameters
    ----------
    reference, current : pandas.DataFrame
        The frames to compare; only the listed columns are read (no frame copy is made).
    numeric, categorical : list of str
        Feature names by kind. Numeric columns must have a numeric (or bool) dtype.
    config : DriftConfig
        Thresholds: ``small_sample_rows``, ``p_value``, ``numeric_distance_threshold``,
        ``categorical_distance_threshold``, ``dataset_drift_share``.

    Returns
    -------
    DriftResult
        One :class:`FeatureDrift` per feature, numeric features first.

    Raises
    ------
    ConfigError
        A feature is listed twice or missing from a frame, or a numeric feature is not
        numeric.
    """
    _check_inputs(reference, current, numeric, categorical)
    work = _Workspace()
    results = [_numeric_feature(name, reference[name], current[name], config, work) for name in numeric]
    results += [_categorical_feature(name, reference[name], current[name], config) for name in categorical]
    return DriftResult(
        features=results,
        n_reference=len(reference),
        n_current=len(current),
        dataset_drift_share=config.dataset_drift_share,
    )


# --------------------------------------------------------------------------- validation


def _check_inputs(reference: Any, current: Any, numeric: list[str], categorical: list[str]) -> None:
    for label, frame in (("reference", reference), ("current", current)):
        if not isinstance(frame, pd.DataFrame):
            raise ConfigError(f"drift: the {label} data must be a pandas DataFrame, found {type(frame).__name__}. Pass the partition as a DataFrame.")
    features = [*numeric, *categorical]
    if not features:
        raise ConfigError("drift: no features to test; expected at least one name in numeric or categorical. Declare features in the dataset config.")
    dupes = sorted({f for f in features if features.count(f) > 1})
    if dupes:
        raise ConfigError(f"drift: features {dupes} are listed more than once across numeric and categorical; expected each once. Fix the dataset config.")
    for label, frame in (("reference", reference), ("current", current)):
        missing = [f for f in features if f not in frame.columns]
        if missing:
            kinds = ", ".join(f"'{f}' ({'numeric' if f in numeric else 'categorical'})" for f in missing)
            shown = list(map(str, frame.columns[:20]))
            more = f" and {len(frame.columns) - 20} more" if len(frame.columns) > 20 else ""
            raise ConfigError(
                f"drift: column{'s' if len(missing) > 1 else ''} {kinds} missing from the {label} frame, which has columns {shown}{more}. "
                "Add the column to the data or remove it from the dataset config's features."
            )
        repeated = [f for f in features if not isinstance(frame.columns.get_loc(f), int)]
        if repeated:
            raise ConfigError(f"drift: columns {repeated} appear more than once in the {label} frame; expected one column per feature. Drop the duplicate columns.")
    for name in numeric:
        for label, frame in (("reference", reference), ("current", current)):
            dtype = frame[name].dtype
            if not pd.api.types.is_numeric_dtype(dtype):
                raise ConfigError(
                    f"drift: numeric feature '{name}' has dtype {dtype} in the {label} frame; expected a numeric dtype. "
                    "Move it to categorical_features or fix its type at the source."
                )


# --------------------------------------------------------------------------- numeric


def _finite_values(series: pd.Series) -> tuple[np.ndarray, int]:
    """The finite values of a numeric series as float64 (a view when possible), and the count of the rest."""
    if series.dtype == np.float64:
        values = series.to_numpy()
    else:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(values)
    n_bad = values.size - int(np.count_nonzero(finite))
    return (values[finite] if n_bad else values), n_bad


def _numeric_feature(name: str, ref: pd.Series, cur: pd.Series, config: DriftConfig, work: _Workspace) -> FeatureDrift:
    x, nulls_x = _finite_values(ref)
    y, nulls_y = _finite_values(cur)
    small = x.size <= config.small_sample_rows
    threshold = config.p_value if small else config.numeric_distance_threshold
    common = dict(feature=name, kind="numeric", threshold=threshold, n_reference=int(x.size), n_current=int(y.size),
                  nulls_reference=nulls_x, nulls_current=nulls_y)
    if x.size == 0 or y.size == 0:
        return _empty(common)
    if small:
        from scipy.stats import ks_2samp

        res = ks_2samp(x, y)
        p = float(res.pvalue)
        return FeatureDrift(method="ks", score=float(res.statistic), p_value=p, drifted=p <= threshold, **common)
    distance = wasserstein_1d(x, y, work=work)
    std = float(np.std(x))
    note = ""
    if std == 0.0:
        # A constant reference: normalise by the pooled std so a change of level still scores.
        n, m = x.size, y.size
        std = float(np.sqrt((m * np.var(y) + n * m / (n + m) * (np.mean(y) - x[0]) ** 2) / (n + m)))
        note = "reference is constant; distance normalised by the pooled std of both samples"
    score = distance / std if std > 0 else 0.0
    return FeatureDrift(method="wasserstein_norm", score=float(score), p_value=None, drifted=score >= threshold, note=note, **common)


def wasserstein_1d(x: np.ndarray, y: np.ndarray, *, work: _Workspace | None = None) -> float:
    """Exact first Wasserstein distance between two 1-D samples of finite values.

    Same value as ``scipy.stats.wasserstein_distance(x, y)`` (to rounding), in a few linear
    passes instead of a full sort for large samples (see the module docstring).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0 or y.size == 0:
        raise ValueError("wasserstein_1d needs at least one value in each sample")
    if not all(math.isfinite(v) for v in (x.min(), x.max(), y.min(), y.max())):
        raise ValueError("wasserstein_1d needs finite values; drop NaN and infinities first")
    if x.size + y.size < _SORT_BELOW:
        return _wasserstein_sorted(x, y)
    # about 16 values per bin, as a power of two between 256 and _BINS
    bins = int(min(_BINS, max(256, 2 ** round(math.log2((x.size + y.size) / 16)))))
    return _wasserstein_binned(x, y, bins, work or _Workspace())


def _wasserstein_sorted(x: np.ndarray, y: np.ndarray) -> float:
    xs, ys = np.sort(x), np.sort(y)
    pooled = np.sort(np.concatenate([xs, ys]))
    steps = np.diff(pooled)
    fx = np.searchsorted(xs, pooled[:-1], side="right") / xs.size
    fy = np.searchsorted(ys, pooled[:-1], side="right") / ys.size
    return float(np.sum(np.abs(fx - fy) * steps))


class _Workspace:
    """Scratch arrays reused from column to column.

    A fresh multi-megabyte array costs page faults on first touch (about as much as the
    arithmetic itself), so the per-value temporaries live here and are only grown.
    """

    def __init__(self) -> None:
        self._arrays: dict[tuple[str, type], np.ndarray] = {}

    def get(self, slot: str, size: int, dtype: type) -> np.ndarray:
        arr = self._arrays.get((slot, dtype))
        if arr is None or arr.size < size:
            arr = self._arrays[(slot, dtype)] = np.empty(size, dtype=dtype)
        return arr[:size]


def _place(v: np.ndarray, lo: float, inv: float, bins: int, safe_cast: bool, work: _Workspace, side: str) -> tuple[np.ndarray, np.ndarray]:
    """Bin index (0 = below the grid, 1..bins inside, bins+1 = above) and offset from the bin's left edge, in bin units."""
    u = np.subtract(v, lo, out=work.get(f"u{side}", v.size, np.float64))
    u *= inv  # position in bin units; bin j covers [j, j+1)
    idx = work.get(f"i{side}", v.size, np.intp)
    if safe_cast:  # |u| < 2**62: cast first, clip the integers in place
        np.copyto(idx, u, casting="unsafe")
        np.clip(idx, 0, bins + 1, out=idx)
    else:
        np.copyto(idx, np.clip(u, 0.0, bins + 1.0), casting="unsafe")
    np.subtract(u, idx, out=u)  # exact: the offset from the left edge
    return idx, u


def _robust_range(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    sample = np.concatenate([x[:: max(1, x.size // 20_000)], y[:: max(1, y.size // 20_000)]])
    lo, hi = np.quantile(sample, [0.005, 0.995])
    if not hi > lo:
        lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
    return float(lo), float(hi)


def _wasserstein_binned(x: np.ndarray, y: np.ndarray, bins: int, work: _Workspace | None = None) -> float:
    work = work or _Workspace()
    n, m = x.size, y.size
    lo, hi = _robust_range(x, y)
    if not hi > lo:
        return 0.0  # every value in both samples is the same
    inv = bins / (hi - lo)
    lo -= 1.0 / inv  # the grid starts one bin below lo: bin 0 holds everything under it
    extremes = (min(x.min(), y.min()) - lo) * inv, (max(x.max(), y.max()) - lo) * inv
    if not all(math.isfinite(e) for e in (inv, *extremes)):
        return _wasserstein_sorted(x, y)  # values near the float limits: no grid arithmetic
    safe_cast = max(abs(e) for e in extremes) < 2.0**62
    nb = bins + 2
    ix, ox = _place(x, lo, inv, bins, safe_cast, work, "x")
    iy, oy = _place(y, lo, inv, bins, safe_cast, work, "y")
    cx = np.bincount(ix, minlength=nb)
    cy = np.bincount(iy, minlength=nb)
    sx = np.bincount(ix, weights=ox, minlength=nb)
    sy = np.bincount(iy, weights=oy, minlength=nb)
    # F - G scaled by n*m (exact integers) before each bin, after it, and its extremes inside it
    ax, ay = np.cumsum(cx), np.cumsum(cy)
    bx, by = ax - cx, ay - cy
    d_before = bx * m - by * n
    d_after = ax * m - ay * n
    interior = np.zeros(nb, dtype=bool)
    interior[1:-1] = True
    constant = interior & ((bx * m >= ay * n) | (ax * m <= by * n))
    # sign-constant bins: |integral of (F - G)| from the sums of offsets (bin width 1)
    integral = (bx + cx - sx)[constant] * m - (by + cy - sy)[constant] * n
    total = float(np.abs(integral).sum())
    rest = ~constant & ((cx + cy) > 0)
    if not rest.any():
        return total / (n * m) / inv
    sel_x, sel_y = np.flatnonzero(rest[ix]), np.flatnonzero(rest[iy])
    ix, iy, ox, oy = ix[sel_x], iy[sel_y], ox[sel_x], oy[sel_y]
    first = np.full(nb, np.inf)
    last = np.full(nb, -np.inf)
    for idx, off in ((ix, ox), (iy, oy)):
        np.minimum.at(first, idx, off)
        np.maximum.at(last, idx, off)
    # bins whose points all sit at one position: F - G is d_before left of it, d_after right of it
    single = rest & (first == last)
    total += float((np.abs(d_before[single]) * first[single] + np.abs(d_after[single]) * (1.0 - first[single])).sum())
    ambiguous = rest & ~single
    if ambiguous.any():
        ax_, ay_ = ambiguous[ix], ambiguous[iy]
        total += _integrate_sorted(ix[ax_], ox[ax_], iy[ay_], oy[ay_], d_before, n, m)
    return total / (n * m) / inv


def _integrate_sorted(
    bins_x: np.ndarray, off_x: np.ndarray, bins_y: np.ndarray, off_y: np.ndarray, d_before: np.ndarray, n: int, m: int
) -> float:
    """Integral of |F - G| * n * m over the bins holding these points, walking them in order.

    Points are given as (bin, offset from the bin's left edge); ``d_before`` is the scaled
    ``F - G`` at each bin's left edge.
    """
    b = np.concatenate([bins_x, bins_y])
    off = np.concatenate([off_x, off_y])
    jump = np.concatenate([np.full(off_x.size, m, dtype=np.int64), np.full(off_y.size, -n, dtype=np.int64)])
    order = np.argsort(b + off)
    order = order[np.argsort(b[order], kind="stable")]  # ties across a bin edge: keep bins contiguous
    b, off, jump = b[order], off[order], jump[order]
    starts = np.empty(b.size, dtype=bool)
    starts[0] = True
    np.not_equal(b[1:], b[:-1], out=starts[1:])
    ends = np.empty(b.size, dtype=bool)
    ends[-1] = True
    ends[:-1] = starts[1:]
    running = np.cumsum(jump)
    head = np.flatnonzero(starts)
    group = np.cumsum(starts) - 1
    d = d_before[b] + (running - (running[head] - jump[head])[group])  # F - G just after each point
    right = np.empty_like(off)
    right[:-1] = off[1:]
    right[ends] = 1.0  # to the bin's right edge (after the very last point F - G is 0)
    inside = float(np.sum(np.abs(d.astype(np.float64)) * (right - off)))
    before_first = float(np.sum(np.abs(d_before[b[head]].astype(np.float64)) * off[head]))
    return inside + before_first


# --------------------------------------------------------------------------- categorical


def _label(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _category_counts(series: pd.Series) -> tuple[pd.Series, int]:
    counts = series.value_counts(dropna=True, sort=False)
    nulls = len(series) - int(counts.sum())
    counts = counts[counts > 0]
    labels = counts.index.map(_label)
    counts = pd.Series(counts.to_numpy(dtype=np.int64), index=pd.Index(labels, dtype=object))
    if not counts.index.is_unique:
        counts = counts.groupby(level=0).sum()
    return counts, nulls


def _categorical_feature(name: str, ref: pd.Series, cur: pd.Series, config: DriftConfig) -> FeatureDrift:
    ref_counts, nulls_x = _category_counts(ref)
    cur_counts, nulls_y = _category_counts(cur)
    n_x, n_y = int(ref_counts.sum()), int(cur_counts.sum())
    small = n_x <= config.small_sample_rows
    threshold = config.p_value if small else config.categorical_distance_threshold
    common = dict(feature=name, kind="categorical", threshold=threshold, n_reference=n_x, n_current=n_y,
                  nulls_reference=nulls_x, nulls_current=nulls_y)
    if n_x == 0 or n_y == 0:
        return _empty(common)
    ref_counts, cur_counts = ref_counts.align(cur_counts, fill_value=0)
    table = np.vstack([ref_counts.to_numpy(dtype=np.float64), cur_counts.to_numpy(dtype=np.float64)])
    if small:
        from scipy.stats import chi2_contingency

        res = chi2_contingency(table)  # Yates' correction applies only to a 2x2 table
        p = float(res.pvalue)
        return FeatureDrift(method="chi2", score=float(res.statistic), p_value=p, drifted=p <= threshold, **common)
    score = jensen_shannon(table[0], table[1])
    return FeatureDrift(method="jensen_shannon", score=score, p_value=None, drifted=score >= threshold, **common)


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between two count or frequency vectors.

    Same value as ``scipy.spatial.distance.jensenshannon(p, q, base=2)``, never NaN.
    """
    p = np.asarray(p, dtype=np.float64) / np.sum(p)
    q = np.asarray(q, dtype=np.float64) / np.sum(q)
    mid = (p + q) / 2.0

    def kl(a: np.ndarray) -> float:  # KL(a || mid); terms with a == 0 are 0
        nz = a > 0
        return float(np.sum(a[nz] * np.log(a[nz] / mid[nz])))

    divergence = (kl(p) + kl(q)) / (2.0 * math.log(2.0))
    return math.sqrt(min(max(divergence, 0.0), 1.0))


def _empty(common: dict[str, Any]) -> FeatureDrift:
    sides = [label for label, n in (("reference", common["n_reference"]), ("current", common["n_current"])) if n == 0]
    note = f"no non-null values in the {' and '.join(sides)} data; not tested"
    return FeatureDrift(method="empty", score=None, p_value=None, drifted=False, note=note, **common)
