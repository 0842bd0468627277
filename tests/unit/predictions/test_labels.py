"""Late labels on a real lake and a real SQLite store: arrival, refusal, and windows that train on labelled rows only."""

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from mlops.errors import LabelsRejected
from mlops.ingest import ingest_interval
from mlops.lake import Lake
from mlops.predictions.labels import (
    accept_labels,
    collect_labels,
    label_day,
    labelled_end,
    labels_path,
    read_label_batch,
    stored_labels,
)
from mlops.predictions.store import PredictionStore, Unit, embedded_url
from mlops.sources.base import Interval
from mlops.sources.synthetic import SyntheticSource
from mlops.training.train import train_model
from mlops.validation.suite import build_suite
from mlops.windows import read_window

SOURCE = SyntheticSource(rows_per_day=300, seed=3)
FIRST = date(2024, 1, 1)


def _ingest(config, settings, day: date, frame: pd.DataFrame | None = None) -> Interval:
    """Ingest a day (the partition loses its target) and mark it validated."""
    interval = Interval.days(day)
    lake = Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir)
    if frame is None:
        ingest_interval(config, settings, interval, SOURCE)
    else:
        lake.write(frame.drop(columns=[config.target]), interval, timestamp_column="ts", source="t")
    lake.mark_validated(interval, {"success": True})
    return interval


def test_the_partition_arrives_without_its_target_and_the_suite_does_not_expect_it(late_labels_config, settings):
    interval = _ingest(late_labels_config, settings, FIRST)
    partition = Lake(settings.lake_dir, "synthetic").read(interval)
    assert "y" not in partition.columns and "row_id" in partition.columns
    columns = [getattr(e, "column", None) for e in build_suite(late_labels_config).expectations]
    assert "y" not in columns and "row_id" in columns
    assert label_day(late_labels_config, Interval.days(date(2024, 1, 4))) == FIRST


def test_labels_of_day_d_arrive_with_the_run_of_d_plus_3_and_join_its_predictions(late_labels_config, settings):
    config = late_labels_config
    store = PredictionStore(embedded_url(settings.home))
    _ingest(config, settings, FIRST)
    keys = Lake(settings.lake_dir, "synthetic").read(Interval.days(FIRST))["row_id"].astype(str)
    store.replace_predictions(
        Unit("synthetic", FIRST, "m", 1, "champion"), pd.DataFrame({"row_key": keys, "prediction": 1.0, "score": 0.7}), scored_at=datetime.now(UTC)
    )
    out = collect_labels(config, settings, Interval.days(date(2024, 1, 4)), source=SOURCE, store=store, run_key="d/r")
    assert out["status"] == "stored" and out["day"] == "2024-01-01" and out["labelled"] == 300 and out["unlabelled_rows"] == 0
    labels, meta = stored_labels(settings, "synthetic", FIRST)
    truth = SOURCE.read(Interval.days(FIRST))
    assert dict(zip(labels["row_key"], labels["label"], strict=True)) == dict(zip(truth["row_id"].astype(str), truth["y"], strict=True))
    assert meta["run_key"] == "d/r" and meta["rows"] == 300
    joined = store.labelled_predictions("synthetic", FIRST)
    assert len(joined) == 300 and set(joined["label"]) == {0.0, 1.0}
    # No partition (quarantined or never ingested): nothing is stored, and the reason says so.
    skipped = collect_labels(config, settings, Interval.days(date(2024, 1, 5)), source=SOURCE, store=store)
    assert skipped == {"day": "2024-01-02", "status": "skipped", "reason": "its partition is not in the lake"}


@pytest.mark.parametrize(
    ("spoil", "message", "counts"),
    [
        (
            lambda b: pd.concat([b, pd.DataFrame({"row_key": ["nope-1", "nope-2"], "label": [1, 0]})]),
            r"refused, nothing was stored: 2 of 302 labels name rows that are not in the partition \(e.g. \['nope-1', 'nope-2'\]\)",
            {"unknown_keys": 2, "duplicate_keys": 0},
        ),
        (lambda b: pd.concat([b, b.head(3)]), r"refused, nothing was stored: 3 labels repeat a key that came before", {"unknown_keys": 0, "duplicate_keys": 3}),
        (lambda b: b.assign(label=b["label"].where(b.index != 5, 7)), r"1 labels are not in \[0, 1\] \(e.g. \[7\]\)", {"invalid_values": 1}),
    ],
)
def test_a_bad_batch_is_refused_whole_with_counts_and_nothing_stored_changes(late_labels_config, settings, spoil, message, counts):
    config = late_labels_config
    store = PredictionStore(embedded_url(settings.home))
    _ingest(config, settings, FIRST)
    good = read_label_batch(config, FIRST, SOURCE)
    accept_labels(config, settings, FIRST, good.head(200), store=store)
    before = labels_path(settings, "synthetic", FIRST).read_bytes()
    with pytest.raises(LabelsRejected, match=message) as e:
        accept_labels(config, settings, FIRST, spoil(good), store=store)
    assert "dataset 'synthetic', labels of partition ds=2024-01-01" in str(e.value)
    assert e.value.counts.items() >= counts.items()
    assert labels_path(settings, "synthetic", FIRST).read_bytes() == before
    assert store.label_count("synthetic", FIRST) == 200


def test_null_labels_are_left_out_and_counted(late_labels_config, settings):
    _ingest(late_labels_config, settings, FIRST)
    batch = read_label_batch(late_labels_config, FIRST, SOURCE)
    batch.loc[:9, "label"] = None
    out = accept_labels(late_labels_config, settings, FIRST, batch)
    assert out["labelled"] == 290 and out["null_labels"] == 10 and out["unlabelled_rows"] == 10


def test_no_unlabelled_or_future_row_ever_trains(late_labels_config, settings):
    """Tell-tale rows (x0 = 12345): an unlabelled day, a row whose label never came, a row after the end."""
    config = late_labels_config
    end = datetime(2024, 1, 9, tzinfo=UTC)  # the run of 2024-01-08: labels up to 2024-01-05 have arrived
    for k in range(8):
        day = FIRST + timedelta(days=k)
        frame = SOURCE.read(Interval.days(day))
        if day == date(2024, 1, 3):  # its first row's label never arrives
            frame.loc[0, "x0"] = 12345.0
        if day == date(2024, 1, 6):  # labels of this day arrive only with the run of 2024-01-09
            frame["x0"] = 12345.0
        if day == date(2024, 1, 5):  # a row stamped after the end of the run's interval
            frame.loc[1, "ts"] = pd.Timestamp(end) + pd.Timedelta(hours=1)
            frame.loc[1, "x0"] = 12345.0
        _ingest(config, settings, day, frame)
        if day <= date(2024, 1, 5):
            batch = read_label_batch(config, day, SOURCE)
            if day == date(2024, 1, 3):
                batch = batch.iloc[1:]
            accept_labels(config, settings, day, batch)
        if day == date(2024, 1, 6):  # even if they were there, a run ending 2024-01-09 must not see them
            accept_labels(config, settings, day, read_label_batch(config, day, SOURCE))
    assert labelled_end(config, settings, end) == datetime(2024, 1, 6, tzinfo=UTC)
    result = train_model(config, settings, end=end, run_key="dag/late", window_days=5, holdout_days=1)
    assert result["holdout_window"][1] == "2024-01-06T00:00:00+00:00"
    assert result["training_window"][0] == "2024-01-01T00:00:00+00:00"
    seen = 0
    for key in ("training_window", "holdout_window"):
        frame = read_window(config, settings, Interval.parse(*result[key])).frame
        assert not (frame["x0"] == 12345.0).any() and frame["y"].notna().all()
        assert (frame["ts"] < pd.Timestamp(datetime(2024, 1, 6, tzinfo=UTC))).all()
        seen += len(frame)
    assert result["train_rows"] + result["holdout_rows"] == seen == 5 * 300 - 1 - 1  # one unlabelled, one after the end
    assert "ds=2024-01-03.labels" in result["data_hashes"]


def test_a_day_without_labels_ends_the_window_earlier(late_labels_config, settings):
    config = late_labels_config
    for k in range(6):
        _ingest(config, settings, FIRST + timedelta(days=k))
    for k in range(2):
        accept_labels(config, settings, FIRST + timedelta(days=k), read_label_batch(config, FIRST + timedelta(days=k), SOURCE))
    # The run of 2024-01-06 may use labels up to 2024-01-03; those of 01-03 never came.
    assert labelled_end(config, settings, datetime(2024, 1, 7, tzinfo=UTC)) == datetime(2024, 1, 3, tzinfo=UTC)


def test_a_first_night_ingests_and_labels_the_window(late_labels_config, settings):
    window = Interval(datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 2, 4, tzinfo=UTC))
    got = read_window(late_labels_config, settings, window, source=SOURCE)
    assert len(got.frame) == 900 and got.frame["y"].notna().all()
    assert all(labels_path(settings, "synthetic", date(2024, 2, d)).is_file() for d in (1, 2, 3))
    features_only = read_window(late_labels_config, settings, window, columns=["ts", "x0"])
    assert list(features_only.frame.columns) == ["ts", "x0"] and len(features_only.frame) == 900


def test_files_sources_read_their_labels_from_a_second_location(late_labels_config, settings, tmp_path):
    from pydantic import ValidationError

    from mlops.airflow.runtime import labels_source_for, source_for
    from mlops.config import DatasetConfig

    day = SOURCE.read(Interval.days(FIRST))
    day.drop(columns=["y"]).to_parquet(tmp_path / "events.parquet")
    day[["ts", "row_id", "y"]].assign(ts=day["ts"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(tmp_path / "labels.csv", index=False)
    files = {"kind": "files", "options": {"path": str(tmp_path / "events.parquet")}}
    raw = late_labels_config.model_dump()
    with pytest.raises(ValidationError, match=r"labels.delay_days > 0 with a files source needs labels.source"):
        DatasetConfig(**{**raw, "source": files})
    config = DatasetConfig(
        **{**raw, "source": files, "labels": {"delay_days": 3, "source": {"kind": "files", "options": {"path": str(tmp_path / "labels.csv")}}}}
    )
    interval = Interval.days(FIRST)
    ingest_interval(config, settings, interval, source_for(config, settings))
    Lake(settings.lake_dir, "synthetic").mark_validated(interval, {"success": True})
    out = collect_labels(config, settings, Interval.days(FIRST + timedelta(days=3)), source=labels_source_for(config, settings))
    assert out["status"] == "stored" and out["labelled"] == 300
    labels, _ = stored_labels(settings, "synthetic", FIRST)
    assert dict(zip(labels["row_key"], labels["label"], strict=True)) == dict(zip(day["row_id"].astype(str), day["y"], strict=True))
