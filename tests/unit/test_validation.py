from datetime import date

import pytest

from mlops.errors import ValidationFailed
from mlops.lake import Lake, uri_to_path
from mlops.sources.base import Interval
from mlops.sources.synthetic import SyntheticSource
from mlops.validation import validate_partition
from mlops.validation.suite import build_suite

IV = Interval.days(date(2024, 1, 10))


def _ingest(settings, config, **source_kwargs):
    df = SyntheticSource(rows_per_day=300, seed=1, **source_kwargs).read(IV)
    return Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir).write(df, IV, timestamp_column="ts", source="t")


def test_suite_generated_from_config(synthetic_config):
    suite = build_suite(synthetic_config)
    kinds = [(e.expectation_type, getattr(e, "column", None)) for e in suite.expectations]
    assert ("expect_table_columns_to_match_set", None) in kinds
    assert ("expect_column_values_to_be_in_set", "y") in kinds  # classification labels
    assert ("expect_column_values_to_be_in_set", "c0") in kinds  # declared categories
    assert ("expect_column_values_to_be_between", "x0") in kinds  # declared range
    assert ("expect_column_values_to_be_between", "ts") in kinds  # inside the interval (suite parameters)
    assert sum(k == "expect_column_values_to_not_be_null" for k, _ in kinds) == 2 + len(synthetic_config.features) + len(synthetic_config.row_key)


def test_good_partition_passes_and_is_marked(settings, synthetic_config):
    _ingest(settings, synthetic_config)
    result = validate_partition(synthetic_config, settings, IV)
    assert result["success"] and result["failed_expectations"] == []
    assert result["docs_uri"].startswith("file://") and result["docs_uri"].endswith("index.html")
    # The Models page serves Data Docs from Settings.data_docs_dir: GX builds them there.
    assert uri_to_path(result["docs_uri"]) == settings.data_docs_dir.resolve() / "index.html"
    assert Lake(settings.lake_dir, synthetic_config.name).validation(IV)["success"] is True


def test_null_surge_and_missing_column_are_quarantined(settings, synthetic_config):
    info = _ingest(settings, synthetic_config, incidents=[
        {"kind": "nulls", "feature": "x1", "fraction": 0.4},
        {"kind": "missing_column", "feature": "c1"},
    ])
    with pytest.raises(ValidationFailed) as err:
        validate_partition(synthetic_config, settings, IV)
    msg = str(err.value)
    assert "partition ds=2024-01-10" in msg
    assert "expect_column_values_to_not_be_null on column 'x1'" in msg and "of 300 values violate it" in msg
    assert "expect_table_columns_to_match_set on table: mismatched columns {'missing': ['c1']}" in msg
    assert "moved to" in msg and "clear the ingest task" in msg
    lake = Lake(settings.lake_dir, synthetic_config.name, quarantine_root=settings.quarantine_dir)
    assert not lake.exists(IV)
    assert (settings.quarantine_dir / "synthetic" / IV.key / f"{info.content_hash[:16]}.parquet").is_file()


def test_out_of_range_values_fail(settings, synthetic_config):
    _ingest(settings, synthetic_config, incidents=[{"kind": "out_of_range", "feature": "x0", "fraction": 0.1, "value": 1e6}])
    with pytest.raises(ValidationFailed, match=r"expect_column_values_to_be_between on column 'x0'"):
        validate_partition(synthetic_config, settings, IV)


def test_rows_outside_the_interval_fail(settings, synthetic_config):
    import pandas as pd

    df = SyntheticSource(rows_per_day=300, seed=1).read(IV)
    df.loc[0, "ts"] = pd.Timestamp("2024-01-11 00:00:00", tz="UTC")  # the interval's end is exclusive
    Lake(settings.lake_dir, synthetic_config.name, quarantine_root=settings.quarantine_dir).write(df, IV, timestamp_column="ts", source="t")
    with pytest.raises(ValidationFailed, match=r"expect_column_values_to_be_between on column 'ts': 1 of 300 values violate it"):
        validate_partition(synthetic_config, settings, IV)


def test_second_partition_reuses_the_stored_suite(settings, synthetic_config):
    _ingest(settings, synthetic_config)
    validate_partition(synthetic_config, settings, IV)
    suite_file = settings.gx_dir / "expectations" / "synthetic" / "partition.json"
    before = suite_file.stat().st_mtime_ns
    other = Interval.days(date(2024, 1, 11))
    df = SyntheticSource(rows_per_day=300, seed=1).read(other)
    Lake(settings.lake_dir, synthetic_config.name).write(df, other, timestamp_column="ts", source="t")
    assert validate_partition(synthetic_config, settings, other)["success"]
    assert suite_file.stat().st_mtime_ns == before
