"""training.max_rows: a seeded, stratified sample of the training window, read one partition at a time."""

from datetime import UTC, date, datetime, timedelta

import mlflow
import numpy as np
import pandas as pd
import pytest

from mlops import schema
from mlops.config import load_dataset
from mlops.errors import ConfigError, InsufficientData
from mlops.lake import Lake
from mlops.sources.base import Interval
from mlops.sources.synthetic import SyntheticSource
from mlops.training.train import train_model, training_cap
from mlops.windows import RowCap, _Reservoir, read_window

START = date(2024, 1, 1)
DAYS = 6
WINDOW = Interval(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1 + DAYS, tzinfo=UTC))


def _lake_with_days(settings, config, rows_per_day=2000, positive=0.1, extra_column=False):
    """``DAYS`` validated partitions of an imbalanced two-class frame; returns the rows written, in window order."""
    lake = Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir)
    rng = np.random.default_rng(0)
    frames = []
    for i in range(DAYS):
        day = Interval.days(START + timedelta(days=i))
        ts = pd.Timestamp(day.start) + pd.to_timedelta(np.sort(rng.integers(0, 86_400, rows_per_day)), unit="s")
        df = pd.DataFrame({"ts": ts, **{f"x{j}": rng.normal(size=rows_per_day) for j in range(5)}})
        df["c0"] = rng.choice(["a", "b", "c"], rows_per_day)
        df["c1"] = rng.choice(["u", "v"], rows_per_day)
        df["y"] = (rng.random(rows_per_day) < positive).astype("int64")
        if extra_column:
            df["unused_wide"] = "x" * 50
        lake.write(df, day, timestamp_column="ts", source="test")
        lake.mark_validated(day, {"success": True})
        frames.append(lake.read(day))
    return pd.concat(frames, ignore_index=True)


def _reference_sample(rows: pd.DataFrame, cap: RowCap) -> pd.DataFrame:
    """The sample computed the direct way: every row's key at once, smallest keys per class by the same quotas."""
    keys = np.concatenate(
        [
            np.random.default_rng([cap.seed, (START + timedelta(days=i)).toordinal()]).random(n)
            for i, n in enumerate(rows.groupby(rows["ts"].dt.date, sort=True).size())
        ]
    )
    counts = rows[cap.stratify].value_counts()
    exact = {k: cap.max_rows * v / len(rows) for k, v in counts.items()}
    quota = {k: int(e) for k, e in exact.items()}
    for k in sorted(exact, key=lambda k: -(exact[k] - quota[k]))[: cap.max_rows - sum(quota.values())]:
        quota[k] += 1
    picked = [g.assign(_k=keys[g.index]).nsmallest(quota[k], "_k").index for k, g in rows.groupby(cap.stratify)]
    return rows.loc[np.sort(np.concatenate(picked))].reset_index(drop=True)


def test_a_window_longer_than_max_rows_is_a_seeded_stratified_sample(settings, synthetic_config):
    rows = _lake_with_days(settings, synthetic_config)
    cap = RowCap(max_rows=1000, seed=7, stratify="y")
    w = read_window(synthetic_config, settings, WINDOW, cap=cap)
    assert len(w.frame) == 1000 and len(rows) == DAYS * 2000
    # Class shares kept to the row: 1000 x the window's share of each class, rounded by largest remainder.
    share = rows["y"].value_counts() / len(rows)
    got = w.frame["y"].value_counts()
    assert all(abs(got[k] - 1000 * share[k]) < 1 for k in share.index)
    # Exactly the sample drawn over the whole window at once: reading day by day changes nothing.
    pd.testing.assert_frame_equal(w.frame, _reference_sample(rows[w.frame.columns], cap), check_dtype=False)
    # Reproducible, a different seed gives another sample, and the record says what was kept.
    again = read_window(synthetic_config, settings, WINDOW, cap=cap)
    pd.testing.assert_frame_equal(w.frame, again.frame)
    other = read_window(synthetic_config, settings, WINDOW, cap=RowCap(max_rows=1000, seed=8, stratify="y"))
    assert not w.frame.equals(other.frame)
    assert w.sample["window_rows"] == len(rows) and w.sample["rows"] == 1000 and w.sample["sampled"]
    assert w.sample["seed"] == 7 and w.sample["stratified_by"] == "y"
    assert w.sample["strata_rows"] == {str(k): int(v) for k, v in rows["y"].value_counts().items()}
    assert len(w.data_hashes) == DAYS
    assert w.frame["ts"].is_monotonic_increasing  # window order, as without a cap


def test_a_window_within_max_rows_is_read_whole(settings, synthetic_config):
    rows = _lake_with_days(settings, synthetic_config, rows_per_day=100)
    w = read_window(synthetic_config, settings, WINDOW, cap=RowCap(max_rows=1000, seed=1, stratify="y"))
    plain = read_window(synthetic_config, settings, WINDOW)
    pd.testing.assert_frame_equal(w.frame, plain.frame)
    assert len(w.frame) == len(rows) and w.sample["sampled"] is False


def test_a_rare_class_keeps_a_row_and_regression_samples_without_strata(settings, synthetic_config):
    _lake_with_days(settings, synthetic_config, positive=0.0004)  # ~5 positives in 12,000 rows
    w = read_window(synthetic_config, settings, WINDOW, cap=RowCap(max_rows=200, seed=1, stratify="y"))
    assert len(w.frame) == 200 and w.frame["y"].sum() >= 1
    plain = read_window(synthetic_config, settings, WINDOW, cap=RowCap(max_rows=300, seed=1))
    assert len(plain.frame) == 300 and plain.sample["stratified_by"] is None


def test_the_reservoir_never_holds_more_than_max_rows_per_class():
    cap = RowCap(max_rows=500, seed=3, stratify="y")
    res = _Reservoir(cap)
    rng = np.random.default_rng(1)
    for i in range(10):
        res.add(pd.DataFrame({"x": rng.normal(size=5000), "y": rng.integers(0, 3, 5000)}), datetime(2024, 1, 1 + i, tzinfo=UTC))
        assert res.kept["y"].value_counts().max() <= 500
    out = res.result(["x", "y"])
    assert len(out) == 500 and res.rows == 50_000


def test_only_the_needed_columns_are_read(settings, synthetic_config):
    _lake_with_days(settings, synthetic_config, rows_per_day=50, extra_column=True)
    lake = Lake(settings.lake_dir, synthetic_config.name)
    assert "unused_wide" in lake.read(Interval.days(START)).columns
    w = read_window(synthetic_config, settings, WINDOW, columns=["x0", "y"])
    assert sorted(w.frame.columns) == ["ts", "x0", "y"]
    # A column the file does not hold is left out, not an error (a partition written before labels arrive).
    assert list(lake.read(Interval.days(START), columns=["x0", "no_such_column"]).columns) == ["x0"]


def test_min_rows_counts_the_window_not_the_sample(settings, synthetic_config):
    _lake_with_days(settings, synthetic_config, rows_per_day=50)
    read_window(synthetic_config, settings, WINDOW, min_rows=300, cap=RowCap(max_rows=100, seed=1, stratify="y"))
    with pytest.raises(InsufficientData, match="holds 300 validated rows, expected at least 301"):
        read_window(synthetic_config, settings, WINDOW, min_rows=301, cap=RowCap(max_rows=100, seed=1, stratify="y"))


def test_max_rows_below_min_train_rows_is_refused():
    with pytest.raises(
        ConfigError, match=r"training\.max_rows.*must be at least min_train_rows \(1000\)|max_rows \(500\) must be at least min_train_rows \(1000\)"
    ):
        load_dataset("synthetic", override={"training": {"max_rows": 500}})
    cfg = load_dataset("synthetic", override={"training": {"max_rows": 5000}})
    assert training_cap(cfg) == RowCap(max_rows=5000, seed=cfg.model.seed, stratify=cfg.target)
    assert training_cap(load_dataset("synthetic")) is None


def test_the_run_records_the_sample_it_trained_on(settings):
    cfg = load_dataset(
        "synthetic",
        override={"source": {"options": {"rows_per_day": 300, "drift": []}}, "labels": {"delay_days": 0}, "training": {"max_rows": 1000}},
    )
    end = datetime(2024, 1, 15, tzinfo=UTC)
    result = train_model(cfg, settings, run_key="dag/sampled", end=end, source=SyntheticSource(rows_per_day=300, seed=5), window_days=6, holdout_days=2)
    assert result["train_rows"] == 1000 and result["training_sample"]["window_rows"] == 1200
    run = mlflow.get_run(result["run_id"])
    tag = schema.TRAINING_SAMPLE.get(run.data.tags)
    assert tag["rows"] == 1000 and tag["window_rows"] == 1200 and tag["seed"] == cfg.model.seed and tag["stratified_by"] == "y"
    assert tag["sample_hash"] == result["training_sample"]["sample_hash"]
    assert run.data.params["train_rows"] == "1000" and run.data.params["train_window_rows"] == "1200"
    # The sample's hash is that of exactly the rows fitted on: the same window read again gives them.
    from mlops.lake import content_hash
    from mlops.training.train import split_windows

    train_iv, _ = split_windows(end, 6, 2)
    assert content_hash(read_window(cfg, settings, train_iv, cap=training_cap(cfg)).frame) == tag["sample_hash"]


def test_dataset_inputs_carry_the_full_schema_and_the_partitions_digest(settings):
    """The logged inputs' schema is read from the first rows: it equals MLflow's inference over every row."""
    import json

    from mlops.training.train import logged_dataset, split_windows
    from mlops.windows import data_fingerprint

    cfg = load_dataset("synthetic", override={"source": {"options": {"rows_per_day": 300, "drift": []}}, "labels": {"delay_days": 0}})
    end = datetime(2024, 1, 15, tzinfo=UTC)
    result = train_model(cfg, settings, run_key="dag/inputs", end=end, source=SyntheticSource(rows_per_day=300, seed=5), window_days=6, holdout_days=2)
    run = mlflow.get_run(result["run_id"])
    inputs = {i.dataset.name: i.dataset for i in run.inputs.dataset_inputs}
    _, holdout_iv = split_windows(end, 6, 2)
    holdout = read_window(cfg, settings, holdout_iv)
    logged = inputs["synthetic-holdout"]
    assert logged.digest == data_fingerprint(holdout.data_hashes)
    assert json.loads(logged.profile)["num_rows"] == len(holdout.frame) == 600
    full = mlflow.data.from_pandas(holdout.frame, targets="y")  # MLflow's own inference over every row
    assert json.loads(logged.schema)["mlflow_colspec"] == full.schema.to_dict()
    mine = logged_dataset(holdout.frame, "x", "y", "file:///tmp", "d")
    assert mine.schema == full.schema and mine.profile == full.profile
