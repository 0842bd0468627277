"""No step may read a row at or after its run's data_interval_end."""

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from mlops.errors import InsufficientData
from mlops.lake import Lake
from mlops.monitor import reference_interval
from mlops.sources.base import Interval
from mlops.sources.synthetic import SyntheticSource
from mlops.training.train import split_windows
from mlops.windows import read_window

END = datetime(2024, 1, 10, tzinfo=UTC)


def test_split_windows_end_at_interval_end():
    train, holdout = split_windows(END, 10, 2)
    assert train.start == END - timedelta(days=10) and train.end == holdout.start
    assert holdout.end == END


def test_tell_tale_row_after_end_is_never_read(settings, synthetic_config):
    source = SyntheticSource(rows_per_day=200, seed=2)
    lake = Lake(settings.lake_dir, synthetic_config.name, quarantine_root=settings.quarantine_dir)
    # The last partition of the window also holds a row stamped after the window end.
    last = Interval.days(date(2024, 1, 9))
    df = source.read(last)
    tell = df.iloc[[0]].copy()
    tell["ts"] = pd.Timestamp(END) + pd.Timedelta(seconds=1)
    tell["x0"] = 12345.0
    lake.write(pd.concat([df, tell]), last, timestamp_column="ts", source="t")
    lake.mark_validated(last, {"success": True})
    # And a whole partition after the end exists in the lake.
    after = Interval.days(date(2024, 1, 10))
    lake.write(source.read(after).assign(x0=12345.0), after, timestamp_column="ts", source="t")
    lake.mark_validated(after, {"success": True})

    window = read_window(synthetic_config, settings, Interval(END - timedelta(days=3), END), source=source)
    assert (window.frame["x0"] != 12345.0).all()
    assert window.frame["ts"].max() < pd.Timestamp(END)
    assert sorted(window.data_hashes) == ["ds=2024-01-07", "ds=2024-01-08", "ds=2024-01-09"]


def test_missing_days_are_ingested_and_validated_on_demand(settings, synthetic_config):
    source = SyntheticSource(
        rows_per_day=100, seed=2, incidents=[{"kind": "nulls", "feature": "x0", "start": "2024-01-08", "end": "2024-01-09", "fraction": 0.9}]
    )
    window = read_window(synthetic_config, settings, Interval(END - timedelta(days=3), END), source=source)
    assert len(window.frame) == 200
    assert list(window.skipped) == ["ds=2024-01-08"] and "failed validation" in window.skipped["ds=2024-01-08"]
    with pytest.raises(InsufficientData, match=r"holds 0 validated rows, expected at least 1"):
        read_window(synthetic_config, settings, Interval(END, END + timedelta(days=1)))


def test_drift_reference_ends_before_the_interval(synthetic_config):
    class Champion:
        version = "3"
        tags = {"mlops.training_window": '["2024-01-01T00:00:00+00:00", "2024-01-12T00:00:00+00:00"]'}

    iv = Interval.days(date(2024, 1, 10))
    ref, why = reference_interval(synthetic_config, iv, Champion())
    assert ref.end == iv.start and "cut at the interval start" in why
    ref, why = reference_interval(synthetic_config, iv, None)
    assert ref == Interval(iv.start - timedelta(days=synthetic_config.drift.reference_days), iv.start)


def test_policy_report_uses_only_models_trained_before_the_day():
    from mlops.policy_report import policy_version

    timeline = [
        {"version": "1", "data_end": "2024-01-06T00:00:00+00:00"},
        {"version": "3", "data_end": "2024-01-09T00:00:00+00:00"},
    ]
    assert policy_version(timeline, date(2024, 1, 5)) is None
    assert policy_version(timeline, date(2024, 1, 6)) == "1"
    assert policy_version(timeline, date(2024, 1, 8)) == "1"  # v3 learned from 8 January itself
    assert policy_version(timeline, date(2024, 1, 9)) == "3"


@pytest.mark.chaos
def test_a_quarantined_day_is_not_ingested_again_by_later_windows(settings, synthetic_config):
    from mlops.ingest import ingest_interval

    bad = Interval.days(date(2024, 1, 8))
    source = SyntheticSource(
        rows_per_day=100, seed=2, incidents=[{"kind": "nulls", "feature": "x0", "start": "2024-01-08", "end": "2024-01-09", "fraction": 0.9}]
    )
    window = Interval(END - timedelta(days=3), END)
    first = read_window(synthetic_config, settings, window, source=source)
    assert first.skipped == {"ds=2024-01-08": "failed validation: 1 expectations"}
    lake = Lake(settings.lake_dir, synthetic_config.name, quarantine_root=settings.quarantine_dir)
    record = lake.quarantine_record(bad)
    results = sorted((settings.quarantine_dir / synthetic_config.name / bad.key).iterdir())
    # Later windows skip it with the reason, without reading the source or quarantining it again.
    second = read_window(synthetic_config, settings, window, source=source)
    assert second.skipped["ds=2024-01-08"].startswith("in quarantine: dataset 'synthetic', partition ds=2024-01-08: in quarantine since")
    assert lake.quarantine_record(bad) == record
    assert sorted((settings.quarantine_dir / synthetic_config.name / bad.key).iterdir()) == results
    assert second.data_hashes == first.data_hashes
    # A deliberate re-ingest (the day's ingest task, after the source was fixed) brings it back.
    ingest_interval(synthetic_config, settings, bad, SyntheticSource(rows_per_day=100, seed=2))
    third = read_window(synthetic_config, settings, window, source=source)
    assert third.skipped == {} and len(third.frame) == 300
