from datetime import UTC, date, datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from mlops.config import load_dataset
from mlops.errors import ConfigError, SourceDataError
from mlops.sources import build_source
from mlops.sources.base import Interval
from mlops.sources.files import FilesSource
from mlops.sources.replay import ReplaySource, replay_day
from mlops.sources.sql import SqlSource
from mlops.sources.synthetic import SyntheticSource


def _frame(n=48):
    ts = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    return pd.DataFrame({"ts": ts, "x": range(n), "c": ["a", "b"] * (n // 2)})


def test_interval_keys_and_validation():
    assert Interval.days(date(2013, 3, 1)).key == "ds=2013-03-01"
    iv = Interval.parse("2013-03-01T06:00:00+00:00", "2013-03-02T06:00:00+00:00")
    assert iv.key == "from=2013-03-01T060000_to=2013-03-02T060000" and len(iv.day_starts()) == 2
    with pytest.raises(ConfigError, match="is empty; expected end after start"):
        Interval.parse("2013-03-01", "2013-03-01")


def test_interval_normalises_datetime_subclasses():
    import pendulum

    iv = Interval(pendulum.datetime(2013, 2, 28, tz="Europe/Paris"), pendulum.datetime(2013, 3, 1, tz="Europe/Paris"))
    assert type(iv.start) is datetime and iv.start == datetime(2013, 2, 27, 23, tzinfo=UTC)
    assert (iv.start - (iv.end - iv.start)).tzinfo is not None


def test_replay_serves_2013_and_maps_other_years(settings):
    src = ReplaySource(cache_dir=settings.cache_dir)
    day = src.read(Interval.days(date(2013, 3, 1)))
    assert 800 < len(day) < 1100
    assert day["time_hour"].min() >= pd.Timestamp("2013-03-01", tz="UTC")
    assert day["time_hour"].max() < pd.Timestamp("2013-03-02", tz="UTC")
    assert set(day["is_late"].unique()) <= {0, 1}
    assert (day["is_late"] == (day["arr_delay"] > 15)).all()
    later = src.read(Interval.days(date(2026, 3, 1)))
    assert len(later) == len(day)
    assert later["time_hour"].dt.date.unique().tolist() == [date(2026, 3, 1)]
    assert later.drop(columns="time_hour").equals(day.drop(columns="time_hour"))
    assert replay_day(date(2028, 2, 29)) == date(2013, 2, 28)


def test_synthetic_is_deterministic_and_injects_drift():
    base = dict(rows_per_day=2000, seed=3)
    plain = SyntheticSource(**base)
    drifted = SyntheticSource(**base, drift=[{"features": ["x0"], "start": "2024-01-02", "shift": 2.0}])
    iv = Interval.days(date(2024, 1, 1))
    assert plain.read(iv).equals(SyntheticSource(**base).read(iv))
    assert drifted.read(iv).equals(plain.read(iv))  # before the drift starts
    iv2 = Interval.days(date(2024, 1, 2))
    shift = drifted.read(iv2)["x0"].mean() - plain.read(iv2)["x0"].mean()
    assert shift == pytest.approx(2.0, abs=1e-9)
    assert drifted.read(iv2)["x1"].equals(plain.read(iv2)["x1"])


def test_synthetic_incidents():
    src = SyntheticSource(
        rows_per_day=1000,
        incidents=[
            {"kind": "nulls", "feature": "x1", "start": "2024-01-01", "fraction": 0.5},
            {"kind": "missing_column", "feature": "c1", "start": "2024-01-01"},
        ],
    )
    df = src.read(Interval.days(date(2024, 1, 1)))
    assert 0.4 < df["x1"].isna().mean() < 0.6 and "c1" not in df.columns
    with pytest.raises(ConfigError, match=r"unknown features \['x99'\]"):
        SyntheticSource(drift=[{"features": ["x99"], "shift": 1}])


def test_files_source_reads_only_the_interval(tmp_path):
    df = _frame()
    df.iloc[:24].to_parquet(tmp_path / "a.parquet")
    df.iloc[24:].assign(ts=df["ts"].iloc[24:].astype(str)).to_csv(tmp_path / "b.csv", index=False)
    src = FilesSource(path=str(tmp_path), timestamp_column="ts")
    out = src.read(Interval.days(date(2024, 1, 2)))
    assert len(out) == 24 and out["ts"].min() == pd.Timestamp("2024-01-02", tz="UTC")
    with pytest.raises(SourceDataError, match=r"no Parquet or CSV files in .*none/\*.parquet"):
        FilesSource(path=str(tmp_path / "none" / "*.parquet"), timestamp_column="ts").read(Interval.days(date(2024, 1, 2)))


def test_sql_source_binds_parameters(tmp_path):
    url = f"sqlite:///{tmp_path / 'src.db'}"
    df = _frame()
    df.assign(ts=df["ts"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_sql("events", sa.create_engine(url), index=False)
    by_table = SqlSource(url=url, table="events", timestamp_column="ts").read(Interval.days(date(2024, 1, 2)))
    assert len(by_table) == 24
    by_query = SqlSource(url=url, query="SELECT * FROM events WHERE ts >= :start AND ts < :end", timestamp_column="ts")
    assert len(by_query.read(Interval.days(date(2024, 1, 1)))) == 24
    # A value that would break string-formatted SQL is harmless as a bound parameter.
    evil = Interval(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC))
    assert len(by_query.read(evil)) == 48
    with pytest.raises(ConfigError, match="bound parameters :start and :end"):
        SqlSource(url=url, query="SELECT * FROM events", timestamp_column="ts")
    with pytest.raises(SourceDataError, match="has no column 'when'"):
        SqlSource(url=url, table="events", timestamp_column="when").read(Interval.days(date(2024, 1, 1)))


def test_build_source_from_config(settings):
    cfg = load_dataset("synthetic")
    assert isinstance(build_source(cfg, settings), SyntheticSource)
    bad = load_dataset("synthetic", override={"source": {"options": {"unknown_option": 1}}})
    with pytest.raises(Exception, match="do not fit the synthetic source"):
        build_source(bad, settings)
