"""Per-feature drift between a reference and a current frame.

A feature drifts when its change is **statistically distinguishable from sampling noise
at both sample sizes and practically relevant**: its two-sample test rejects at
``p_value`` *and* its effect size, less the part sampling noise alone explains at those
sizes, reaches the feature kind's threshold. The same rule holds at every size (no
switch of method at a reference size), so the verdict is continuous in the sizes; the
test bounds the false-alarm rate by ``p_value`` for any reference size, current size and
number of categories, and the effect floor keeps huge samples from flagging negligible
shifts. ``docs/drift.md`` gives the reasoning, the references and the calibration tables
(``bench/drift_calibration.py``).

=======================  ===============================  =====================================
feature                  test (p-value)                   effect size (score)
=======================  ===============================  =====================================
numeric                  two-sample Kolmogorov-Smirnov    Wasserstein-1 / robust scale of the
                         (exact up to 10,000 values a     reference (IQR / 1.349; mean absolute
                         side, else Smirnov's             deviation when the IQR is 0), noise
                         asymptotics, like scipy)         expected at (n, m) removed
categorical, and         chi-square on the 2 x k table    Fisher-Rao distance of the shares
numeric with at most     (rare levels pooled; Fisher's    (Cohen's h for two categories), noise
``discrete_max_values``  exact test for a sparse 2 x 2)   expected at (n, m, k) removed
distinct values
null rate (every         as above, on (null, not null)    Cohen's h of the null shares
feature, all rows)
=======================  ===============================  =====================================

Values and nulls are separate checks: the distribution check compares the non-null
values (for numeric features also without infinities), the missing-value check compares
the null shares over all rows. ``FeatureDrift.drifted`` is the first,
``FeatureDrift.missing_drifted`` the second; the retraining policy can count either.

Numeric values are brought to a power-of-two scale near 1 when their magnitude is extreme
(beyond 2**±512), which is exact, so nothing overflows or underflows; the robust scale
uses quantiles, not squares. Suspect columns (datetimes, identifiers, constants) get
warnings; ``drift.exclude`` leaves chosen kinds out of the verdicts (see
:mod:`mlops.drift.columns`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import kolmogorov  # survival function of the Kolmogorov distribution

from mlops.config import DriftConfig
from mlops.drift.columns import (
    ID_LIKE_SHARE,
    aligned_counts,
    category_counts,
    few_distinct,
    finite_values,
    is_datetime,
    looks_like_dates,
    value_counts,
)
from mlops.drift.distance import Workspace, wasserstein_ks
from mlops.drift.shares import ShareComparison, compare_shares
from mlops.errors import ConfigError

Kind = Literal["numeric", "categorical"]
Method = Literal["wasserstein_ks", "shares_chi2", "shares_fisher", "empty", "skipped"]
NOT_TESTED = ("empty", "skipped")

KS_EXACT_MAX = 10_000  # up to this many values a side the KS p-value is exact (scipy's own limit)
_IQR_TO_SD = 1.3489795003921634  # IQR of the standard normal distribution
_MEAN_AD_TO_SD = math.sqrt(math.pi / 2)  # sd / mean absolute deviation of a normal distribution
_SCALE_SAMPLE = 20_000  # values of the reference read (evenly spaced) for its quantiles
_NOISE = math.sqrt(2 / math.pi)  # E|N(0, 1)|


@dataclass(frozen=True)
class FeatureDrift:
    """Drift verdict for one feature.

    ``score`` is the effect size the verdict compares with ``threshold`` (see the module
    docstring), ``distance`` the same distance before the part expected from sampling
    noise is removed, and ``p_value`` the test's p-value, compared with ``alpha``.
    ``drifted`` needs both. ``n_reference`` / ``n_current`` count the non-null values
    used; ``nulls_*`` the null (and, for numeric features, infinite) values. The
    ``missing_*`` fields are the missing-value check (``None`` when it did not run).
    ``warnings`` holds ``{"kind", "message"}`` entries (``datetime``, ``id_like``,
    ``constant``, ``too_few``).
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
    alpha: float | None = None
    distance: float | None = None
    missing_score: float | None = None
    missing_p_value: float | None = None
    missing_threshold: float | None = None
    missing_drifted: bool = False
    warnings: list[dict[str, str]] = field(default_factory=list)

    @property
    def tested(self) -> bool:
        return self.method not in NOT_TESTED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DriftResult:
    """Drift of every feature between a reference and a current frame.

    ``drift_share`` is the share of *tested* features whose values drifted (features not
    tested are reported but not counted); ``dataset_drift`` is
    ``drift_share >= dataset_drift_share``. ``missing_drift_share`` is the same for null
    rates.
    """

    features: list[FeatureDrift]
    n_reference: int
    n_current: int
    dataset_drift_share: float = 0.5

    @property
    def tested(self) -> int:
        return sum(f.tested for f in self.features)

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
    def missing_drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.missing_drifted]

    @property
    def missing_drift_share(self) -> float:
        checked = sum(f.missing_p_value is not None for f in self.features)
        return len(self.missing_drifted_features) / checked if checked else 0.0

    @property
    def method_by_feature(self) -> dict[str, str]:
        return {f.feature: f.method for f in self.features}

    @property
    def warnings(self) -> list[dict[str, str]]:
        """Every feature's warnings, as ``{"feature", "kind", "message"}``."""
        return [{"feature": f.feature, **w} for f in self.features for w in f.warnings]

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
            "missing_drifted_features": self.missing_drifted_features,
            "missing_drift_share": self.missing_drift_share,
            "method_by_feature": self.method_by_feature,
            "warnings": self.warnings,
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
        Categorical columns are cheapest as ``category`` dtype
        (:func:`mlops.drift.columns.as_categories`).
    numeric, categorical : list of str
        Feature names by kind. Numeric columns must have a numeric, bool or datetime dtype.
    config : DriftConfig
        Significance level, effect thresholds, ``min_values``, ``discrete_max_values``,
        ``exclude`` and ``dataset_drift_share``.

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
    work = Workspace()
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
            raise ConfigError(
                f"drift: columns {repeated} appear more than once in the {label} frame; expected one column per feature. Drop the duplicate columns."
            )
    for name in numeric:
        for label, frame in (("reference", reference), ("current", current)):
            column = frame[name]
            if not (pd.api.types.is_numeric_dtype(column.dtype) or is_datetime(column)):
                raise ConfigError(
                    f"drift: numeric feature '{name}' has dtype {column.dtype} in the {label} frame; expected a numeric dtype. "
                    "Move it to categorical_features or fix its type at the source."
                )


# --------------------------------------------------------------------------- shared parts


def _warning(kind: str, message: str) -> dict[str, str]:
    return {"kind": kind, "message": message}


def _missing_check(nulls: tuple[int, int], rows: tuple[int, int], config: DriftConfig) -> dict[str, Any]:
    """The missing-value fields of a FeatureDrift: null shares over all rows, compared like two categories."""
    out: dict[str, Any] = {"missing_threshold": config.missing_value_threshold}
    if min(rows) < config.min_values:
        return out
    (nx, ny), (rx, ry) = nulls, rows
    cmp = compare_shares(np.array([nx, rx - nx]), np.array([ny, ry - ny]))
    drifted = cmp.p_value <= config.p_value and cmp.score >= config.missing_value_threshold
    return out | {"missing_score": cmp.score, "missing_p_value": cmp.p_value, "missing_drifted": drifted}


def _not_tested(common: dict[str, Any], method: Method, note: str) -> FeatureDrift:
    return FeatureDrift(method=method, score=None, p_value=None, drifted=False, note=note, **common)


def _guard(common: dict[str, Any], suspects: list[tuple[str, str]], config: DriftConfig) -> FeatureDrift | None:
    """A not-tested result when a suspect kind is excluded or a side is empty or too small, else None."""
    name, warnings = common["feature"], common["warnings"]
    for kind, message in suspects:
        excluded = kind in config.exclude
        action = f"not tested (drift.exclude lists '{kind}')" if excluded else f"tested anyway (add '{kind}' to drift.exclude to leave it out)"
        warnings.append(_warning(kind, f"feature '{name}' {message}; {action}."))
        if excluded:
            return _not_tested(common, "skipped", f"{kind.replace('_', '-')} column excluded by drift.exclude")
    sizes = {"reference": common["n_reference"], "current": common["n_current"]}
    empty = [side for side, n in sizes.items() if n == 0]
    if empty:
        return _not_tested(common, "empty", f"no non-null values in the {' and '.join(empty)} data; not tested")
    few = [f"{n:,} in the {side}" for side, n in sizes.items() if n < config.min_values]
    if few:
        message = f"feature '{name}' has too few non-null values to test ({' and '.join(few)} data; drift.min_values is {config.min_values})"
        warnings.append(_warning("too_few", message + "; not tested."))
        return _not_tested(common, "skipped", f"fewer than {config.min_values} non-null values on a side; not tested")
    return None


def _shares_result(common: dict[str, Any], cmp: ShareComparison, threshold: float, alpha: float, note: str) -> FeatureDrift:
    if cmp.pooled:
        note = (note + "; " if note else "") + f"{cmp.pooled:,} rare values pooled into groups for the test"
    if cmp.test == "none":
        note = (note + "; " if note else "") + "a single value (or group) on both sides: nothing to compare"
    method: Method = "shares_fisher" if cmp.test == "fisher" else "shares_chi2"
    drifted = cmp.p_value <= alpha and cmp.score >= threshold
    return FeatureDrift(
        method=method, score=cmp.score, distance=cmp.distance, p_value=cmp.p_value, drifted=drifted, note=note, **{**common, "threshold": threshold}
    )


# --------------------------------------------------------------------------- numeric


def _numeric_feature(name: str, ref: pd.Series, cur: pd.Series, config: DriftConfig, work: Workspace) -> FeatureDrift:
    x, nulls_x = finite_values(ref)
    y, nulls_y = finite_values(cur)
    common: dict[str, Any] = dict(
        feature=name,
        kind="numeric",
        threshold=config.numeric_distance_threshold,
        n_reference=int(x.size),
        n_current=int(y.size),
        nulls_reference=nulls_x,
        nulls_current=nulls_y,
        alpha=config.p_value,
        warnings=[],
        **_missing_check((nulls_x, nulls_y), (len(ref), len(cur)), config),
    )
    suspects = []
    if is_datetime(ref) or is_datetime(cur):
        suspects.append(("datetime", "has a datetime dtype; every partition covers a later time span, so its values always look shifted"))
    levels = few_distinct(x, config.discrete_max_values)
    if levels is not None and levels.size == 1:
        suspects.append(("constant", f"has a single value in the reference ({_shown(levels[0])}); any other value in the current data counts as drift"))
    guarded = _guard(common, suspects, config)
    if guarded is not None:
        return guarded
    if levels is not None:
        _, ref_counts = value_counts(x, levels)  # the levels cover the reference exactly
        all_levels, cur_counts = value_counts(y, levels)  # plus values new in the current data
        ref_on_all = np.zeros(all_levels.size, dtype=np.int64)
        ref_on_all[np.searchsorted(all_levels, levels)] = ref_counts
        cmp = compare_shares(ref_on_all, cur_counts)
        note = f"{levels.size} distinct value{'s' if levels.size > 1 else ''} in the reference (drift.discrete_max_values is {config.discrete_max_values}): compared as categories"
        return _shares_result(common, cmp, config.categorical_distance_threshold, config.p_value, note)
    return _continuous(common, x, y, config, work)


def _shown(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))


def _continuous(common: dict[str, Any], x: np.ndarray, y: np.ndarray, config: DriftConfig, work: Workspace) -> FeatureDrift:
    x, y = _moderate_magnitude(x, y)
    wd = wasserstein_ks(x, y, work=work)
    return _continuous_verdict(common, x, y, wd, np.sort(x[:: max(1, x.size // _SCALE_SAMPLE)]), config)


def _continuous_verdict(common: dict[str, Any], x: np.ndarray, y: np.ndarray, wd: tuple[float, float], sample: np.ndarray, config: DriftConfig) -> FeatureDrift:
    """The verdict from ``(W1, D)`` of ``x`` and ``y`` and the sorted strided ``sample`` of ``x`` (``x`` in any order)."""
    n, m = x.size, y.size
    w, d = wd
    p = _ks_p_value(x, y, d)
    scale, how = _robust_scale(x, sample)
    # Under no drift sqrt(nm/(n+m)) (F - G) tends to a Brownian bridge B(F), whose mean
    # absolute value is sqrt(2/pi) sqrt(F(1-F)): the W1 expected from noise alone.
    ecdf = np.arange(1, sample.size) / sample.size
    spread = float(np.sum(np.sqrt(ecdf * (1.0 - ecdf)) * np.diff(sample)))
    noise = _NOISE * math.sqrt(1.0 / n + 1.0 / m) * spread / scale
    distance = w / scale
    score = math.sqrt(max(0.0, distance * distance - noise * noise))
    drifted = p <= config.p_value and score >= common["threshold"]
    note = "" if how == "iqr" else "interquartile range of the reference is 0: scale is its mean absolute deviation"
    return FeatureDrift(method="wasserstein_ks", score=score, distance=distance, p_value=p, drifted=drifted, note=note, **common)


def _ks_p_value(x: np.ndarray, y: np.ndarray, d: float) -> float:
    """Two-sided p-value of the two-sample KS statistic ``d``.

    Exact (scipy's ``ks_2samp``) up to ``KS_EXACT_MAX`` values a side; else, like scipy,
    the one-sample distribution at ``en = nm/(n+m)`` (``kstwo``), and past
    ``KS_EXACT_MAX`` for ``en`` (where ``kstwo`` takes up to a second a call) Stephens'
    (1970) corrected asymptotic form ``Q((sqrt(en) + 0.12 + 0.11/sqrt(en)) d)``, which
    agrees with ``kstwo`` to 0.3 % of the p-value around 0.01 there.
    """
    n, m = x.size, y.size
    en = n * m / (n + m)
    if en > KS_EXACT_MAX:
        root = math.sqrt(en)
        return float(np.clip(kolmogorov((root + 0.12 + 0.11 / root) * d), 0.0, 1.0))
    from scipy.stats import ks_2samp, kstwo

    if max(n, m) <= KS_EXACT_MAX:
        with warnings.catch_warnings():
            # scipy falls back to the asymptotic p-value when its exact recursion fails, and says so
            warnings.filterwarnings("ignore", message="ks_2samp: Exact calculation unsuccessful", category=RuntimeWarning)
            return float(ks_2samp(x, y).pvalue)
    return float(np.clip(kstwo.sf(d, round(en)), 0.0, 1.0))


def _moderate_magnitude(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both samples times the same power of two (exact) when their magnitude is beyond 2**±512."""
    top = max(abs(float(x.min())), abs(float(x.max())), abs(float(y.min())), abs(float(y.max())))
    if top == 0.0 or 2.0**-512 <= top <= 2.0**512:
        return x, y
    exponent = math.frexp(top)[1]
    return np.ldexp(x, -exponent), np.ldexp(y, -exponent)


def _robust_scale(x: np.ndarray, sample: np.ndarray) -> tuple[float, str]:
    """The reference's scale in standard-deviation units: IQR / 1.349, else its mean absolute deviation times sqrt(pi/2)."""
    q1, q3 = np.quantile(sample, [0.25, 0.75])
    if q3 > q1:
        return float((q3 - q1) / _IQR_TO_SD), "iqr"
    # More than half the reference at one value (e.g. zero-inflated): the deviation from
    # the mean, not the median, which would sit on that value and ignore the rest.
    mean_ad = float(np.mean(np.abs(x - float(np.mean(x)))))
    if mean_ad > 0:
        return mean_ad * _MEAN_AD_TO_SD, "mean_ad"
    return float(x.max() - x.min()) or 1.0, "range"


# --------------------------------------------------------------------------- categorical


def _categorical_feature(name: str, ref: pd.Series, cur: pd.Series, config: DriftConfig) -> FeatureDrift:
    ref_labels, ref_counts, nulls_x = category_counts(ref)
    nulls_y = int(cur.isna().sum())
    n_x, n_y = int(ref_counts.sum()), len(cur) - nulls_y
    common: dict[str, Any] = dict(
        feature=name,
        kind="categorical",
        threshold=config.categorical_distance_threshold,
        n_reference=n_x,
        n_current=n_y,
        nulls_reference=nulls_x,
        nulls_current=nulls_y,
        alpha=config.p_value,
        warnings=[],
        **_missing_check((nulls_x, nulls_y), (len(ref), len(cur)), config),
    )
    suspects = []
    if looks_like_dates(ref, ref_labels) or is_datetime(cur):
        example = str(ref_labels[0]) if ref_labels.size else "no reference value"
        suspects.append(("datetime", f"holds dates or times (e.g. '{example[:40]}'); every partition brings values the reference never saw"))
    if ref_labels.size >= ID_LIKE_SHARE * n_x and n_x >= config.min_values:
        suspects.append(
            (
                "id_like",
                f"looks like an identifier: {ref_labels.size:,} distinct values in {n_x:,} reference values; shares of near-unique values cannot be compared",
            )
        )
    if ref_labels.size == 1:
        suspects.append(("constant", f"has a single value in the reference ('{str(ref_labels[0])[:40]}'); any other value in the current data counts as drift"))
    guarded = _guard(common, suspects, config)
    if guarded is not None:
        return guarded
    cur_labels, cur_counts, _ = category_counts(cur)
    _, r, c = aligned_counts((ref_labels, ref_counts), (cur_labels, cur_counts))
    return _shares_result(common, compare_shares(r, c), config.categorical_distance_threshold, config.p_value, "")
