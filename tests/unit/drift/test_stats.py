"""Unit tests of mlops.drift.stats: the four methods, the size switch, nulls, errors, exactness."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon as scipy_js
from scipy.stats import chisquare, wasserstein_distance

from mlops.config import DriftConfig
from mlops.drift import DriftResult, FeatureDrift, detect_drift, jensen_shannon, wasserstein_1d
from mlops.drift.stats import _finite_values, _wasserstein_binned
from mlops.errors import ConfigError, MlopsError

CONFIG = DriftConfig()
CATS = [f"c{i:02d}" for i in range(20)]
PROBS = np.linspace(1, 3, 20) / np.linspace(1, 3, 20).sum()


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _one(ref, cur, kind: str = "numeric", config: DriftConfig = CONFIG) -> FeatureDrift:
    result = detect_drift(
        pd.DataFrame({"f": ref}),
        pd.DataFrame({"f": cur}),
        numeric=["f"] if kind == "numeric" else [],
        categorical=["f"] if kind == "categorical" else [],
        config=config,
    )
    return result.features[0]


# --------------------------------------------------------------------------- the four methods


def test_ks_small_sample_flags_a_shift_and_not_noise():
    rng = _rng(1)
    drifted = _one(rng.normal(0, 1, 400), rng.normal(0.5, 1, 400))
    same = _one(rng.normal(0, 1, 400), rng.normal(0, 1, 400))
    assert (drifted.method, drifted.drifted) == ("ks", True)
    assert drifted.p_value < 1e-6 and drifted.threshold == CONFIG.p_value
    assert (same.method, same.drifted) == ("ks", False)
    assert same.p_value > CONFIG.p_value


def test_chi2_small_sample_flags_changed_shares_and_not_noise():
    rng = _rng(2)
    ref = rng.choice(CATS, 500, p=PROBS)
    drifted = _one(ref, rng.choice(CATS, 500, p=PROBS[::-1]), "categorical")
    same = _one(ref, rng.choice(CATS, 500, p=PROBS), "categorical")
    assert (drifted.method, drifted.drifted) == ("chi2", True)
    assert drifted.p_value < 1e-6
    assert (same.method, same.drifted) == ("chi2", False)


def test_wasserstein_large_sample_flags_a_shift_and_not_noise():
    rng = _rng(3)
    drifted = _one(rng.normal(10, 2, 5000), rng.normal(10.6, 2, 5000))
    same = _one(rng.normal(10, 2, 5000), rng.normal(10, 2, 5000))
    assert (drifted.method, drifted.drifted, drifted.p_value) == ("wasserstein_norm", True, None)
    assert drifted.score == pytest.approx(0.3, abs=0.03)
    assert (same.method, same.drifted) == ("wasserstein_norm", False)
    assert same.score < 0.05 and same.threshold == CONFIG.numeric_distance_threshold


def test_jensen_shannon_large_sample_flags_changed_shares_and_not_noise():
    rng = _rng(4)
    ref = rng.choice(CATS, 5000, p=PROBS)
    drifted = _one(ref, rng.choice(CATS, 5000, p=PROBS[::-1]), "categorical")
    same = _one(ref, rng.choice(CATS, 5000, p=PROBS), "categorical")
    assert (drifted.method, drifted.drifted, drifted.p_value) == ("jensen_shannon", True, None)
    assert (same.method, same.drifted) == ("jensen_shannon", False)
    assert same.score < 0.05 and same.threshold == CONFIG.categorical_distance_threshold


def test_size_switch_is_at_small_sample_rows_of_non_null_reference_values():
    rng = _rng(5)
    cfg = DriftConfig(small_sample_rows=100)
    assert _one(rng.normal(size=100), rng.normal(size=50), config=cfg).method == "ks"
    assert _one(rng.normal(size=101), rng.normal(size=50), config=cfg).method == "wasserstein_norm"
    with_nulls = np.r_[rng.normal(size=100), np.full(50, np.nan)]  # 150 rows, 100 values
    assert _one(with_nulls, rng.normal(size=50), config=cfg).method == "ks"


# --------------------------------------------------------------------------- size-awareness


def test_large_n_small_shift_is_no_drift_by_distance_although_ks_flags_it():
    rng = _rng(6)
    ref, cur = rng.normal(0, 1, 200_000), rng.normal(0.02, 1, 200_000)
    by_distance = _one(ref, cur)
    by_ks = _one(ref, cur, config=DriftConfig(small_sample_rows=1_000_000))
    assert (by_distance.method, by_distance.drifted) == ("wasserstein_norm", False)
    assert by_distance.score == pytest.approx(0.02, abs=0.01)
    assert (by_ks.method, by_ks.drifted) == ("ks", True)


def test_two_sample_chi2_holds_its_false_alarm_rate_where_goodness_of_fit_does_not():
    rng = _rng(7)
    alarms = gof_alarms = 0
    for _ in range(200):
        ref = rng.choice(CATS, 500, p=PROBS)
        cur = rng.choice(CATS, 500, p=PROBS)
        feat = _one(ref, cur, "categorical")
        assert feat.method == "chi2"
        alarms += feat.drifted
        # Evidently-style goodness of fit: reference shares taken as exact
        r = pd.Series(ref).value_counts().reindex(CATS, fill_value=0).to_numpy()
        c = pd.Series(cur).value_counts().reindex(CATS, fill_value=0).to_numpy()
        keep = r > 0
        gof_alarms += chisquare(c[keep], r[keep] / r[keep].sum() * c[keep].sum()).pvalue <= 0.05
    assert 0.01 <= alarms / 200 < 0.1
    assert gof_alarms / 200 > 2 * alarms / 200


# --------------------------------------------------------------------------- exact Wasserstein


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
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_wasserstein_matches_scipy_on_realistic_data(name):
    x, y = _cases()[name]
    expected = wasserstein_distance(x, y)
    got = wasserstein_1d(x, y)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_binned_wasserstein_is_exact_on_every_branch_with_coarse_grids():
    rng = _rng(9)
    for i in range(60):
        n, m = rng.integers(1, 400, size=2)
        make = [
            lambda k: rng.normal(0, 1, k),
            lambda k: rng.integers(0, 6, k).astype(float),
            lambda k: rng.standard_cauchy(k),
            lambda k: np.where(rng.random(k) < 0.7, 1.0, rng.exponential(1, k)),
        ][i % 4]
        x, y = make(n), make(m) + (i % 3) * 0.1
        expected = wasserstein_distance(x, y)
        for bins in (1, 7, 64):
            assert _wasserstein_binned(x, y, bins) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_wasserstein_rejects_missing_values():
    with pytest.raises(ValueError, match="needs finite values"):
        wasserstein_1d(np.array([1.0, np.nan]), np.array([1.0]))
    with pytest.raises(ValueError, match="at least one value"):
        wasserstein_1d(np.array([]), np.array([1.0]))


def test_wasserstein_of_constant_samples():
    assert wasserstein_1d(np.full(30_000, 2.0), np.full(10, 2.0)) == 0.0
    assert wasserstein_1d(np.full(30_000, 2.0), np.full(10, 5.0)) == pytest.approx(3.0)


def test_jensen_shannon_matches_scipy_base_2():
    p, q = np.array([10, 0, 5, 85]), np.array([30, 20, 0, 50])
    assert jensen_shannon(p, q) == pytest.approx(scipy_js(p, q, base=2), rel=1e-12)
    assert jensen_shannon(p, p) == 0.0
    assert jensen_shannon([1, 0], [0, 1]) == pytest.approx(1.0)


# --------------------------------------------------------------------------- nulls, labels, guards


def test_nulls_are_dropped_and_counted_per_side():
    rng = _rng(10)
    ref = np.r_[rng.normal(size=3000), [np.nan] * 7, [np.inf]]
    cur = np.r_[rng.normal(size=2000), [np.nan] * 3]
    feat = _one(ref, cur)
    assert (feat.n_reference, feat.nulls_reference, feat.n_current, feat.nulls_current) == (3000, 8, 2000, 3)
    cat = _one(pd.Series(["a", None, "b"] * 400), pd.Series(["a", "b", "b", np.nan] * 300), "categorical")
    assert (cat.n_reference, cat.nulls_reference, cat.n_current, cat.nulls_current) == (800, 400, 900, 300)


def test_feature_empty_on_one_side_is_reported_not_tested():
    rng = _rng(11)
    ref = pd.DataFrame({"x": rng.normal(size=2000), "y": rng.normal(size=2000), "c": ["a"] * 2000})
    cur = pd.DataFrame({"x": [np.nan] * 500, "y": rng.normal(3, 1, 500), "c": pd.Series([None] * 500, dtype="str")})
    result = detect_drift(ref, cur, numeric=["x", "y"], categorical=["c"], config=CONFIG)
    x, y, c = result.features
    assert (x.method, x.drifted, x.score, x.p_value) == ("empty", False, None, None)
    assert (x.n_current, x.nulls_current) == (0, 500)
    assert x.note == "no non-null values in the current data; not tested"
    assert (c.method, c.drifted) == ("empty", False)
    assert y.drifted and result.tested == 1
    assert result.drift_share == 1.0 and result.dataset_drift


def test_categorical_values_compare_as_strings():
    ref = pd.Series([1, 2, 3] * 400)  # int64
    cur = pd.Series([1.0, 2.0, 3.0, np.nan] * 300)  # became float because of nulls
    mixed = pd.Series(["1", 2, 3.0] * 300, dtype=object)
    for other in (cur, mixed, pd.Series(pd.Categorical(["1", "2", "3"] * 300))):
        feat = _one(ref, other, "categorical")
        assert feat.score == pytest.approx(0.0, abs=1e-9), other.dtype
        assert not feat.drifted


def test_numeric_accepts_ints_bools_and_nullable_dtypes():
    ref = pd.DataFrame({"i": np.arange(2400), "b": [True, False] * 1200, "n": pd.array([1.5, None] * 1200, dtype="Float64")})
    cur = pd.DataFrame({"i": np.arange(2400) + 1000, "b": [True] * 2400, "n": pd.array([1.5, 2.5] * 1200, dtype="Float64")})
    result = detect_drift(ref, cur, numeric=["i", "b", "n"], categorical=[], config=CONFIG)
    assert result.drifted_features == ["i", "b", "n"]
    assert set(result.method_by_feature.values()) == {"wasserstein_norm"}
    assert result.feature("n").nulls_reference == 1200
    assert "pooled std" in result.feature("n").note  # constant reference (all 1.5): guarded


def test_constant_reference_is_guarded():
    same = _one(np.full(3000, 7.0), np.full(3000, 7.0))
    moved = _one(np.full(3000, 7.0), np.full(3000, 8.0))
    assert (same.score, same.drifted) == (0.0, False)
    assert moved.drifted and np.isfinite(moved.score)
    assert moved.score == pytest.approx(2.0)  # |8-7| / pooled std 0.5


def test_float64_column_is_read_without_a_copy():
    frame = pd.DataFrame({"x": np.linspace(0, 1, 1000)})
    values, bad = _finite_values(frame["x"])
    assert bad == 0 and np.shares_memory(values, frame["x"].to_numpy())


# --------------------------------------------------------------------------- result object


def _mixed_result() -> DriftResult:
    rng = _rng(12)
    n = 3000
    ref = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(CATS, n, p=PROBS), "d": rng.choice(CATS, n, p=PROBS)})
    cur = pd.DataFrame({"a": rng.normal(1, 1, n), "b": rng.normal(size=n), "c": rng.choice(CATS, n, p=PROBS[::-1]), "d": rng.choice(CATS, n, p=PROBS)})
    return detect_drift(ref, cur, numeric=["a", "b"], categorical=["c", "d"], config=DriftConfig(dataset_drift_share=0.5))


def test_result_summary_fields():
    result = _mixed_result()
    assert result.drifted_features == ["a", "c"]
    assert result.drift_share == 0.5 and result.dataset_drift
    assert result.method_by_feature == {"a": "wasserstein_norm", "b": "wasserstein_norm", "c": "jensen_shannon", "d": "jensen_shannon"}
    assert (result.n_reference, result.n_current) == (3000, 3000)
    assert not DriftResult(result.features, 3000, 3000, dataset_drift_share=0.75).dataset_drift


def test_to_dict_is_plain_json_and_round_trips():
    result = _mixed_result()
    data = result.to_dict()
    text = json.dumps(data, allow_nan=False)

    def plain(value):
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or type(value) in (bool, int, float, str)

    assert plain(data)
    assert DriftResult.from_dict(json.loads(text)) == result
    assert set(data) >= {"drift_share", "drifted_features", "method_by_feature", "dataset_drift", "n_reference", "n_current", "features"}


# --------------------------------------------------------------------------- errors


def test_missing_column_names_the_column_the_frame_and_the_fix():
    ref = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    cur = pd.DataFrame({"a": [1.0, 2.0]})
    with pytest.raises(ConfigError) as err:
        detect_drift(ref, cur, numeric=["a"], categorical=["b"], config=CONFIG)
    assert str(err.value) == (
        "drift: column 'b' (categorical) missing from the current frame, which has columns ['a']. "
        "Add the column to the data or remove it from the dataset config's features."
    )
    assert isinstance(err.value, MlopsError)


def test_non_numeric_numeric_feature_is_a_config_error():
    frame = pd.DataFrame({"a": ["x", "y"]})
    with pytest.raises(ConfigError, match=r"numeric feature 'a' has dtype .* in the reference frame; expected a numeric dtype\. Move it to categorical_features"):
        detect_drift(frame, frame, numeric=["a"], categorical=[], config=CONFIG)


def test_feature_listed_twice_or_no_feature_is_a_config_error():
    frame = pd.DataFrame({"a": [1.0]})
    with pytest.raises(ConfigError, match=r"features \['a'\] are listed more than once"):
        detect_drift(frame, frame, numeric=["a"], categorical=["a"], config=CONFIG)
    with pytest.raises(ConfigError, match="no features to test"):
        detect_drift(frame, frame, numeric=[], categorical=[], config=CONFIG)


def test_duplicate_column_in_a_frame_is_a_config_error():
    ref = pd.DataFrame([[1.0, 2.0]], columns=["a", "a"])
    cur = pd.DataFrame({"a": [1.0]})
    with pytest.raises(ConfigError, match=r"columns \['a'\] appear more than once in the reference frame"):
        detect_drift(ref, cur, numeric=["a"], categorical=[], config=CONFIG)
