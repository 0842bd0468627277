"""Unit tests of mlops.drift.stats: verdicts, calibration at small sizes, edge cases, result object, errors."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from mlops.config import DriftConfig
from mlops.drift import DriftResult, FeatureDrift, detect_drift
from mlops.drift.columns import finite_values
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


def _binary(rng, n: int, share: float) -> np.ndarray:
    return (rng.random(n) < share).astype(np.int64)


# --------------------------------------------------------------------------- the verdict rule


def test_numeric_shift_is_drift_and_noise_is_not():
    rng = _rng(1)
    drifted = _one(rng.normal(10, 2, 5000), rng.normal(10.6, 2, 5000))
    same = _one(rng.normal(10, 2, 5000), rng.normal(10, 2, 5000))
    assert (drifted.method, drifted.drifted) == ("wasserstein_ks", True)
    assert drifted.score == pytest.approx(0.3, abs=0.03) and drifted.p_value < 1e-10
    assert drifted.threshold == CONFIG.numeric_distance_threshold and drifted.alpha == CONFIG.p_value
    assert (same.method, same.drifted) == ("wasserstein_ks", False)
    assert same.score < 0.05 and same.distance > same.score


def test_categorical_change_is_drift_and_noise_is_not():
    rng = _rng(2)
    ref = rng.choice(CATS, 5000, p=PROBS)
    drifted = _one(ref, rng.choice(CATS, 800, p=PROBS[::-1]), "categorical")
    same = _one(ref, rng.choice(CATS, 800, p=PROBS), "categorical")
    assert (drifted.method, drifted.drifted) == ("shares_chi2", True)
    assert drifted.p_value < 1e-10 and drifted.score > 0.3
    assert (same.method, same.drifted) == ("shares_chi2", False)
    assert same.threshold == CONFIG.categorical_distance_threshold


def test_large_samples_do_not_flag_a_negligible_shift_although_the_test_rejects():
    rng = _rng(6)
    feat = _one(rng.normal(0, 1, 200_000), rng.normal(0.02, 1, 200_000))
    assert feat.p_value < 1e-6  # statistically distinguishable ...
    assert feat.score == pytest.approx(0.02, abs=0.01)  # ... but below the practical threshold
    assert not feat.drifted


def test_one_method_at_every_size_and_no_cliff_at_the_old_small_sample_switch():
    # Old engine: 1,000 reference rows used a test, 1,001 a Jensen-Shannon threshold that
    # misses a binary going from 50 % to 60 % (JS 0.085 < 0.1).
    rng = _rng(5)
    ref = _binary(rng, 1001, 0.5)
    cur = _binary(rng, 1000, 0.6)
    at_1000, at_1001 = _one(ref[:1000], cur, "categorical"), _one(ref, cur, "categorical")
    assert at_1000.method == at_1001.method == "shares_chi2"
    assert at_1000.drifted and at_1001.drifted
    assert at_1001.score == pytest.approx(at_1000.score, abs=0.01)


def test_small_daily_partition_against_a_large_reference_keeps_false_alarms_low():
    # Old engine (distance thresholds chosen from the reference size): 47-66 % of features
    # flagged at 100 current rows with no drift, and dataset_drift in 20 of 20 runs.
    rng = _rng(11)
    names = [f"x{i}" for i in range(8)]
    cats = [f"c{i}" for i in range(4)]
    flagged = dataset = 0
    reps = 30
    for _ in range(reps):

        def frame(k):
            data = {x: rng.normal(0, 1, k) for x in names}
            data |= {c: rng.choice(CATS, k, p=PROBS) for c in cats}
            return pd.DataFrame(data)

        result = detect_drift(frame(20_000), frame(100), numeric=names, categorical=cats, config=CONFIG)
        flagged += len(result.drifted_features)
        dataset += result.dataset_drift
    assert flagged / (reps * 12) <= 0.03
    assert dataset == 0


# --------------------------------------------------------------------------- edge cases


def test_constant_reference_warns_and_compares_values():
    same = _one(np.full(3000, 7.0), np.full(3000, 7.0))
    moved = _one(np.full(3000, 7.0), np.full(3000, 8.0))
    assert (same.method, same.drifted, same.score, same.p_value) == ("shares_chi2", False, 0.0, 1.0)
    assert [w["kind"] for w in same.warnings] == ["constant"]
    assert same.warnings[0]["message"].startswith("feature 'f' has a single value in the reference (7)")
    assert moved.drifted and moved.score == pytest.approx(np.pi, abs=0.01)  # no value in common
    skipped = _one(np.full(3000, 7.0), np.full(3000, 8.0), config=DriftConfig(exclude=["constant"]))
    assert (skipped.method, skipped.drifted) == ("skipped", False)
    assert "not tested (drift.exclude lists 'constant')" in skipped.warnings[0]["message"]


def test_all_null_current_partition_is_missing_value_drift():
    rng = _rng(12)
    ref = pd.DataFrame({"x": rng.normal(size=2000), "c": rng.choice(CATS, 2000)})
    cur = pd.DataFrame({"x": np.full(500, np.nan), "c": pd.Series([None] * 500, dtype="str")})
    result = detect_drift(ref, cur, numeric=["x"], categorical=["c"], config=CONFIG)
    for feat in result.features:
        assert (feat.method, feat.drifted, feat.score) == ("empty", False, None)
        assert feat.note == "no non-null values in the current data; not tested"
        assert feat.missing_drifted and feat.missing_p_value < 1e-100
        assert feat.missing_score == pytest.approx(np.pi, abs=1e-3)  # 0 % -> 100 % null
    assert result.missing_drifted_features == ["x", "c"] and result.missing_drift_share == 1.0
    assert result.tested == 0 and not result.dataset_drift


def test_half_null_columns_compare_their_values_and_keep_their_null_rate():
    rng = _rng(13)

    def half_null(k, mean=0.0):
        values = rng.normal(mean, 1, k)
        values[rng.random(k) < 0.5] = np.nan
        return values

    same = _one(half_null(4000), half_null(1000))
    shifted = _one(half_null(4000), half_null(1000, mean=0.5))
    assert (same.drifted, same.missing_drifted) == (False, False)
    assert same.nulls_reference == pytest.approx(2000, abs=120) and same.n_current == pytest.approx(500, abs=60)
    assert (shifted.drifted, shifted.missing_drifted) == (True, False)


@pytest.mark.parametrize(
    ("before", "after", "drifted"),
    [(0.0, 0.99, True), (0.0, 0.2, True), (0.02, 0.3, True), (0.10, 0.12, False), (0.05, 0.05, False)],
)
def test_null_rate_change_is_its_own_check(before, after, drifted):
    rng = _rng(14)

    def with_nulls(k, share):
        values = rng.normal(size=k)
        values[: round(share * k)] = np.nan
        return values

    feat = _one(with_nulls(20_000, before), with_nulls(2000, after))
    assert feat.missing_drifted is drifted
    assert not feat.drifted  # the non-null values did not change
    assert feat.missing_threshold == CONFIG.missing_value_threshold


def test_booleans_and_flags_are_compared_as_categories():
    rng = _rng(15)
    half = _one(rng.random(2000) < 0.5, rng.random(2000) < 0.6)
    assert (half.method, half.drifted) == ("shares_chi2", True)
    assert "2 distinct values in the reference" in half.note
    # A flag that was never set and now is on 5 % of rows: KS found nothing here.
    appears = _one(np.zeros(2000, dtype=bool), np.r_[np.zeros(1900, dtype=bool), np.ones(100, dtype=bool)])
    assert appears.drifted and appears.score > 0.4
    # A rare flag going from 1 % to 2 % is real but small (Cohen's h 0.08): Wasserstein/std scored it 0.10 and flagged it.
    rare = _one(np.r_[np.ones(200), np.zeros(19_800)], np.r_[np.ones(400), np.zeros(19_600)])
    assert rare.p_value < 1e-6 and rare.distance == pytest.approx(0.0835, abs=1e-3)
    assert not rare.drifted


def test_five_thousand_levels_without_drift_are_not_flagged_and_a_real_change_is():
    # Jensen-Shannon scored 0.38-0.46 here with no drift at all.
    rng = _rng(16)
    probs = 1 / np.arange(1, 5001) ** 0.8
    probs /= probs.sum()
    labels = np.array([f"z{i:04d}" for i in range(5000)], dtype=object)
    ref = labels[rng.choice(5000, 10_000, p=probs)]
    same = _one(ref, labels[rng.choice(5000, 10_000, p=probs)], "categorical")
    moved = labels[rng.choice(5000, 10_000, p=probs)]
    moved[:2000] = "z4999"  # 20 % of the rows on a rare level
    changed = _one(ref, moved, "categorical")
    assert (same.drifted, changed.drifted) == (False, True)
    assert same.p_value > 0.1 and same.distance > 0.3 and same.score < same.distance / 2  # noise mostly removed
    assert "rare values pooled into groups" in same.note
    assert not [w for w in same.warnings if w["kind"] == "id_like"]


def test_one_row_current_partition_is_not_tested():
    rng = _rng(17)
    for feat in (_one(rng.normal(size=5000), [40.0]), _one(rng.choice(CATS, 5000), ["c01"], "categorical")):
        assert (feat.method, feat.drifted, feat.missing_drifted, feat.missing_p_value) == ("skipped", False, False, None)
        assert feat.warnings[0]["kind"] == "too_few"
        assert "(1 in the current data; drift.min_values is 30)" in feat.warnings[0]["message"]


def test_datetime_columns_warn_and_are_left_out_by_default():
    # A day column declared categorical: every partition is a day the reference never saw.
    ref_days = pd.Series(np.repeat(pd.date_range("2013-01-01", periods=30, freq="D", tz="UTC"), 100))
    cur_days = pd.Series(np.repeat(pd.date_range("2013-01-31", periods=1, freq="D", tz="UTC"), 500))
    as_text = _one(ref_days.dt.strftime("%Y-%m-%d"), cur_days.dt.strftime("%Y-%m-%d"), "categorical")
    as_dtype = _one(ref_days, cur_days)
    for feat in (as_text, as_dtype):
        assert (feat.method, feat.drifted) == ("skipped", False)
        assert feat.warnings[0]["kind"] == "datetime" and "not tested (drift.exclude lists 'datetime')" in feat.warnings[0]["message"]
    tested = _one(ref_days.dt.strftime("%Y-%m-%d"), cur_days.dt.strftime("%Y-%m-%d"), "categorical", DriftConfig(exclude=[]))
    assert tested.method == "shares_chi2" and tested.drifted
    assert "tested anyway (add 'datetime' to drift.exclude" in tested.warnings[0]["message"]
    assert _one(ref_days, cur_days, config=DriftConfig(exclude=[])).drifted


def test_identifier_columns_warn_and_are_left_out_by_default():
    ref = pd.Series([f"order-{i}" for i in range(3000)])
    cur = pd.Series([f"order-{i}" for i in range(3000, 3500)])
    feat = _one(ref, cur, "categorical")
    assert (feat.method, feat.drifted) == ("skipped", False)
    assert feat.warnings[0]["kind"] == "id_like" and "3,000 distinct values in 3,000 reference values" in feat.warnings[0]["message"]


@pytest.mark.parametrize("scale", [1e200, 1e-300, 1e-310, 1.0])
def test_extreme_scales_neither_overflow_nor_underflow(scale):
    # std(1e200 * x) overflows and std(1e-300 * x) underflows: a 1-sd shift scored 0 before.
    rng = _rng(18)
    x, y, z = rng.normal(0, 1, 5000), rng.normal(1, 1, 5000), rng.normal(0, 1, 5000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or underflow RuntimeWarning either
        shifted = _one(x * scale, y * scale)
        same = _one(x * scale, z * scale)
    assert shifted.drifted and shifted.score == pytest.approx(1.0, abs=0.1)
    assert not same.drifted and same.score < 0.05


def test_zero_inflated_values_get_a_scale_that_is_not_zero():
    rng = _rng(19)

    def zero_inflated(k, mean):
        return np.where(rng.random(k) < 0.9, 0.0, rng.exponential(mean, k))

    same = _one(zero_inflated(20_000, 1.0), zero_inflated(2000, 1.0))
    doubled = _one(zero_inflated(20_000, 1.0), zero_inflated(2000, 3.0))
    assert same.note.startswith("interquartile range of the reference is 0")
    assert np.isfinite(same.score) and not same.drifted
    assert doubled.drifted


# --------------------------------------------------------------------------- values, nulls, dtypes


def test_nulls_are_dropped_and_counted_per_side():
    rng = _rng(10)
    ref = np.r_[rng.normal(size=3000), [np.nan] * 7, [np.inf]]
    cur = np.r_[rng.normal(size=2000), [np.nan] * 3]
    feat = _one(ref, cur)
    assert (feat.n_reference, feat.nulls_reference, feat.n_current, feat.nulls_current) == (3000, 8, 2000, 3)
    cat = _one(pd.Series(["a", None, "b"] * 400), pd.Series(["a", "b", "b", np.nan] * 300), "categorical")
    assert (cat.n_reference, cat.nulls_reference, cat.n_current, cat.nulls_current) == (800, 400, 900, 300)


def test_categorical_values_compare_as_strings():
    ref = pd.Series([1, 2, 3] * 400)  # int64
    cur = pd.Series([1.0, 2.0, 3.0, np.nan] * 300)  # became float because of nulls
    mixed = pd.Series(["1", 2, 3.0] * 300, dtype=object)
    for other in (cur, mixed, pd.Series(pd.Categorical(["1", "2", "3"] * 300)), pd.Series(["1", "2", "3"] * 300, dtype="str")):
        feat = _one(ref, other, "categorical")
        assert feat.distance == pytest.approx(0.0, abs=1e-9), other.dtype
        assert not feat.drifted


def test_numeric_accepts_ints_bools_and_nullable_dtypes():
    ref = pd.DataFrame({"i": np.arange(2400), "b": [True, False] * 1200, "n": pd.array([1.5, None] * 1200, dtype="Float64")})
    cur = pd.DataFrame({"i": np.arange(2400) + 1000, "b": [True] * 2400, "n": pd.array([1.5, 2.5] * 1200, dtype="Float64")})
    result = detect_drift(ref, cur, numeric=["i", "b", "n"], categorical=[], config=CONFIG)
    assert result.drifted_features == ["i", "b", "n"]
    assert result.method_by_feature == {"i": "wasserstein_ks", "b": "shares_chi2", "n": "shares_chi2"}
    assert result.feature("n").nulls_reference == 1200 and result.missing_drifted_features == ["n"]
    assert [w["kind"] for w in result.warnings] == ["constant"]  # n is 1.5 throughout the reference


def test_float64_column_is_read_without_a_copy():
    frame = pd.DataFrame({"x": np.linspace(0, 1, 1000)})
    values, bad = finite_values(frame["x"])
    assert bad == 0 and np.shares_memory(values, frame["x"].to_numpy())


# --------------------------------------------------------------------------- result object


def _mixed_result() -> DriftResult:
    rng = _rng(12)
    n = 3000
    ref = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(CATS, n, p=PROBS), "d": rng.choice(CATS, n, p=PROBS)})
    cur = pd.DataFrame({"a": rng.normal(1, 1, n), "b": rng.normal(size=n), "c": rng.choice(CATS, n, p=PROBS[::-1]), "d": rng.choice(CATS, n, p=PROBS)})
    cur.loc[: n // 2, "b"] = np.nan
    return detect_drift(ref, cur, numeric=["a", "b"], categorical=["c", "d"], config=DriftConfig(dataset_drift_share=0.5))


def test_result_summary_fields():
    result = _mixed_result()
    assert result.drifted_features == ["a", "c"] and result.missing_drifted_features == ["b"]
    assert result.drift_share == 0.5 and result.dataset_drift and result.missing_drift_share == 0.25
    assert result.method_by_feature == {"a": "wasserstein_ks", "b": "wasserstein_ks", "c": "shares_chi2", "d": "shares_chi2"}
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
    assert set(data) >= {
        "drift_share",
        "drifted_features",
        "method_by_feature",
        "dataset_drift",
        "n_reference",
        "n_current",
        "features",
        "missing_drifted_features",
        "missing_drift_share",
        "warnings",
    }


def test_reports_written_before_the_missing_value_check_still_load():
    old = {
        "feature": "x",
        "kind": "numeric",
        "method": "wasserstein_norm",
        "score": 0.2,
        "threshold": 0.1,
        "p_value": None,
        "drifted": True,
        "n_reference": 10,
        "n_current": 10,
        "nulls_reference": 0,
        "nulls_current": 0,
        "note": "",
    }
    result = DriftResult.from_dict({"features": [old], "n_reference": 10, "n_current": 10, "dataset_drift_share": 0.5})
    assert result.drifted_features == ["x"] and result.missing_drifted_features == [] and result.warnings == []


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
    with pytest.raises(
        ConfigError, match=r"numeric feature 'a' has dtype .* in the reference frame; expected a numeric dtype\. Move it to categorical_features"
    ):
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


@pytest.mark.parametrize(("n", "m"), [(400, 300), (10_000, 50), (200_000, 2_000), (60_000, 40_000)])
def test_ks_p_value_is_scipys_or_within_a_percent_of_it(n, m):
    from scipy.stats import ks_2samp

    from mlops.drift.distance import wasserstein_ks
    from mlops.drift.stats import _ks_p_value

    rng = _rng(20)
    en = n * m / (n + m)
    x, y = rng.normal(0, 1, n), rng.normal(2.5 / np.sqrt(en), 1, m)  # a p-value well inside (0, 1)
    expected = ks_2samp(x, y).pvalue
    got = _ks_p_value(x, y, wasserstein_ks(x, y)[1])
    assert 1e-6 < expected < 0.9
    assert got == pytest.approx(expected, rel=0.01 if en > 10_000 else 1e-9)
