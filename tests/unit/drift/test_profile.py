"""A profiled reference gives exactly the verdicts of detect_drift on the reference frame itself."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mlops.config import DriftConfig
from mlops.drift import detect_drift
from mlops.drift.profile import build_profile, compare_with_profile, load_profile, reference_counts, reference_values, save_profile
from mlops.errors import ConfigError

CONFIG = DriftConfig()


def _frames(rows_ref: int, rows_cur: int, seed: int):
    """A reference and a current frame with drifted and undrifted features of every kind the engine treats apart."""
    rng = np.random.default_rng(seed)

    def side(n: int, drift: bool) -> pd.DataFrame:
        shift = 0.3 if drift else 0.0
        x_nulls = rng.normal(size=n)
        x_nulls[rng.random(n) < (0.2 if drift else 0.02)] = np.nan
        cat = rng.choice(list("abcdefghij"), n, p=np.linspace(1, 2, 10) / np.linspace(1, 2, 10).sum())
        if drift:
            cat[rng.random(n) < 0.2] = "new"
        return pd.DataFrame(
            {
                "normal_shift": rng.normal(shift, 1, n),
                "normal_same": rng.normal(0, 1, n),
                "tiny_shift": rng.normal(0.02 if drift else 0.0, 1, n),
                "lognormal_scale": rng.lognormal(0, 0.5 * (1.5 if drift else 1.0), n),
                "zero_inflated": np.where(rng.random(n) < 0.7, 0.0, rng.exponential(3, n)),
                "counts": rng.poisson(3 if drift else 2, n).astype(np.int64),
                "flag": (rng.random(n) < (0.3 if drift else 0.1)).astype(np.int64),
                "constant": np.full(n, 1.5),
                "with_nulls": x_nulls,
                "with_inf": np.where(rng.random(n) < 0.01, np.inf, rng.normal(size=n)),
                "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 86_400 * (40 if drift else 28), n), unit="s"),
                "far_out": rng.normal(50 if drift else 0, 1, n),  # the current lies outside the reference's grid
                "huge": rng.normal(0, 1, n) * 2.0**600,
                "cat": pd.array(cat, dtype="str"),
                "cat_same": rng.choice(["u", "v", "w"], n).astype(object),
                "ids": np.array([f"id{seed}-{drift}-{i}" for i in range(n)], dtype=object),
                "date_text": pd.array((pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 40, n), unit="D")).strftime("%Y-%m-%d"), dtype="str"),
            }
        )

    return side(rows_ref, False), side(rows_cur, True)


NUMERIC = [
    "normal_shift",
    "normal_same",
    "tiny_shift",
    "lognormal_scale",
    "zero_inflated",
    "counts",
    "flag",
    "constant",
    "with_nulls",
    "with_inf",
    "when",
    "far_out",
    "huge",
]
CATEGORICAL = ["cat", "cat_same", "ids", "date_text"]


def _same(a, b):
    assert [f.feature for f in a.features] == [f.feature for f in b.features]
    for fa, fb in zip(a.features, b.features, strict=True):
        da, db = fa.to_dict(), fb.to_dict()
        for key in ("drifted", "missing_drifted", "method", "n_reference", "n_current", "nulls_reference", "nulls_current", "warnings", "note"):
            assert da[key] == db[key], (fa.feature, key, da[key], db[key])
        for key in ("score", "distance", "p_value", "missing_score", "missing_p_value"):
            if da[key] is None or db[key] is None:
                assert da[key] == db[key], (fa.feature, key)
            else:
                assert math.isclose(da[key], db[key], rel_tol=1e-9, abs_tol=1e-12), (fa.feature, key, da[key], db[key])
    assert a.drifted_features == b.drifted_features and a.missing_drifted_features == b.missing_drifted_features
    assert a.drift_share == b.drift_share and a.dataset_drift == b.dataset_drift and a.n_reference == b.n_reference


@pytest.mark.parametrize(("rows_ref", "rows_cur", "seed"), [(300, 120, 1), (8_000, 3_000, 2), (120_000, 40_000, 3), (60_000, 60_000, 4)])
def test_profiled_verdicts_equal_the_exact_computation(tmp_path, rows_ref, rows_cur, seed):
    ref, cur = _frames(rows_ref, rows_cur, seed)
    config = DriftConfig(exclude=[])
    exact = detect_drift(ref, cur, numeric=NUMERIC, categorical=CATEGORICAL, config=config)
    profile = build_profile(ref, numeric=NUMERIC, categorical=CATEGORICAL, config=config)
    _same(exact, compare_with_profile(profile, cur, numeric=NUMERIC, categorical=CATEGORICAL, config=config))
    # Stored and read back (memory-mapped values): the same again, and against an undrifted current too.
    save_profile(profile, tmp_path / "p")
    stored = load_profile(tmp_path / "p")
    _same(exact, compare_with_profile(stored, cur, numeric=NUMERIC, categorical=CATEGORICAL, config=config))
    calm = _frames(rows_ref, rows_cur, seed + 100)[0]
    _same(
        detect_drift(ref, calm, numeric=NUMERIC, categorical=CATEGORICAL, config=config),
        compare_with_profile(stored, calm, numeric=NUMERIC, categorical=CATEGORICAL, config=config),
    )
    if rows_ref >= 100_000:  # these sizes exercise the profiled grid (the others take the plain path)
        assert profile.numeric["normal_shift"].side is not None
        assert exact.feature("normal_shift").drifted and not exact.feature("normal_same").drifted
        assert exact.feature("far_out").drifted and not exact.feature("tiny_shift").drifted


def test_the_excluded_kinds_and_the_report_inputs_come_from_the_profile(tmp_path):
    ref, cur = _frames(5_000, 1_000, 9)
    config = DriftConfig()  # excludes datetime and id-like columns by default
    profile = build_profile(ref, numeric=NUMERIC, categorical=CATEGORICAL, config=config)
    _same(
        detect_drift(ref, cur, numeric=NUMERIC, categorical=CATEGORICAL, config=config),
        compare_with_profile(profile, cur, numeric=NUMERIC, categorical=CATEGORICAL, config=config),
    )
    save_profile(profile, tmp_path / "p")
    stored = load_profile(tmp_path / "p")
    labels, counts = reference_counts(stored, "cat")
    assert dict(zip(labels, counts, strict=True)) == ref["cat"].value_counts().to_dict()
    assert reference_values(stored, "normal_shift").size == 5_000 and reference_values(stored, "flag").size == 5_000


def test_a_profile_for_other_features_or_settings_is_refused(tmp_path):
    ref, cur = _frames(500, 200, 5)
    profile = build_profile(ref, numeric=["normal_shift"], categorical=[], config=CONFIG)
    with pytest.raises(ConfigError, match=r"features not profiled: \['normal_same'\]"):
        compare_with_profile(profile, cur, numeric=["normal_shift", "normal_same"], categorical=[], config=CONFIG)
    with pytest.raises(ConfigError, match="discrete_max_values 10 profiled, 5 asked"):
        compare_with_profile(profile, cur, numeric=["normal_shift"], categorical=[], config=DriftConfig(discrete_max_values=5))
    assert load_profile(tmp_path / "absent") is None
    save_profile(profile, tmp_path / "p")
    (tmp_path / "p" / "profile.json").write_text('{"format": 0}')
    assert load_profile(tmp_path / "p") is None  # an older format is built again


def test_a_profile_stored_concurrently_under_the_same_key_is_kept(tmp_path):
    ref, _ = _frames(500, 200, 6)
    profile = build_profile(ref, numeric=["normal_shift"], categorical=["cat"], config=CONFIG)
    save_profile(profile, tmp_path / "p")
    first = (tmp_path / "p" / "profile.json").stat().st_ino
    save_profile(profile, tmp_path / "p")  # a second run of the same key: no error, the stored one stays
    assert (tmp_path / "p" / "profile.json").stat().st_ino == first
    assert [p.name for p in tmp_path.iterdir()] == ["p"]  # nothing left aside
    (tmp_path / "p" / "profile.json").unlink()  # damaged: replaced
    save_profile(profile, tmp_path / "p")
    assert load_profile(tmp_path / "p") is not None
