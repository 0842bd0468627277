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
    # The link is the partition's own page, in Settings.data_docs_dir (the Models page serves it from there) ...
    page = uri_to_path(result["docs_uri"])
    site = settings.data_docs_dir.resolve()
    assert page.is_file() and page.relative_to(site).parts[:2] == ("validations", synthetic_config.name)
    assert (site / "expectations" / synthetic_config.name / "partition.html").is_file()
    # ... and GX's own index, which read every stored result on each validation, is not built (the Models page has its own).
    assert not (site / "index.html").exists()
    assert Lake(settings.lake_dir, synthetic_config.name).validation(IV)["success"] is True


def test_null_surge_and_missing_column_are_quarantined(settings, synthetic_config):
    info = _ingest(
        settings,
        synthetic_config,
        incidents=[
            {"kind": "nulls", "feature": "x1", "fraction": 0.4},
            {"kind": "missing_column", "feature": "c1"},
        ],
    )
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


def _write(settings, config, df, **kw):
    return Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir).write(df, IV, timestamp_column="ts", source="t", **kw)


def test_a_day_delivered_three_times_fails_on_whole_row_duplicates(settings, synthetic_config):
    import pandas as pd

    df = SyntheticSource(rows_per_day=300, seed=1).read(IV)
    _write(settings, synthetic_config, pd.concat([df] * 3), provenance={"files": {"events-2024-01-10.parquet": 900}})
    with pytest.raises(ValidationFailed) as err:
        validate_partition(synthetic_config, settings, IV)
    msg = str(err.value)
    assert "partition ds=2024-01-10 (source files: events-2024-01-10.parquet (900 rows))" in msg
    assert "expect_rows_to_be_distinct on whole rows (10 columns): 900 of 900 rows share their values with another row; expected at most 1.0 % of rows" in msg


def test_a_few_duplicates_are_tolerated_up_to_the_configured_share(settings, synthetic_config):
    import pandas as pd

    df = SyntheticSource(rows_per_day=300, seed=1).read(IV)
    _write(settings, synthetic_config, pd.concat([df, df.iloc[:1]]))  # one repeated row: 2 of 301 rows
    assert validate_partition(synthetic_config, settings, IV)["success"]
    _write(settings, synthetic_config, pd.concat([df, df.iloc[:3]]))  # 6 of 303 rows: 2 %
    with pytest.raises(ValidationFailed, match=r"whole rows \(10 columns\): 6 of 303 rows"):
        validate_partition(synthetic_config, settings, IV)
    relaxed = synthetic_config.model_copy(update={"validation": synthetic_config.validation.model_copy(update={"max_duplicate_fraction": 0.05})})
    _write(settings, relaxed, pd.concat([df, df.iloc[:3]]))
    assert validate_partition(relaxed, settings, IV)["success"]


def test_key_columns_catch_a_row_sent_twice_with_a_change(settings, synthetic_config):
    import pandas as pd

    from mlops.config import load_dataset

    config = load_dataset(
        "synthetic", override={"source": {"options": {"drift": []}}, "labels": {"delay_days": 0}, "validation": {"key_columns": ["ts", "x0"]}}
    )
    df = SyntheticSource(rows_per_day=300, seed=1).read(IV)
    corrected = df.iloc[:1].assign(x1=df["x1"].iloc[0] + 1)  # the same event again, with another value
    _write(settings, config, pd.concat([df, corrected]))
    with pytest.raises(ValidationFailed) as err:
        validate_partition(config, settings, IV)
    assert (
        "expect_compound_columns_to_be_unique on columns ['ts', 'x0']: 2 of 301 rows share their values with another row; expected each combination once"
        in str(err.value)
    )
    assert len(err.value.failed_expectations) == 1  # not a whole-row duplicate


def test_undeclared_columns_fail_unless_declared_or_allowed(settings, synthetic_config):
    df = SyntheticSource(rows_per_day=300, seed=1).read(IV).assign(promo="x")
    _write(settings, synthetic_config, df)
    with pytest.raises(ValidationFailed, match=r"expect_table_columns_to_match_set on table: mismatched columns \{'unexpected': \['promo'\]\}"):
        validate_partition(synthetic_config, settings, IV)
    for update in ({"extra_columns": ["promo"]}, {"allow_extra_columns": True}):
        config = synthetic_config.model_copy(update={"validation": synthetic_config.validation.model_copy(update=update)})
        _write(settings, config, df)
        assert validate_partition(config, settings, IV)["success"], update


@pytest.mark.chaos
def test_a_partition_another_run_quarantined_fails_with_that_runs_findings(settings, synthetic_config):
    info = _ingest(settings, synthetic_config, incidents=[{"kind": "nulls", "feature": "x1", "fraction": 0.4}])
    with pytest.raises(ValidationFailed):
        validate_partition(synthetic_config, settings, IV)  # another run got there first
    with pytest.raises(ValidationFailed) as err:
        validate_partition(synthetic_config, settings, IV)
    assert "partition ds=2024-01-10: in quarantine since" in str(err.value)
    assert err.value.failed_expectations[0]["column"] == "x1"
    assert len(list((settings.quarantine_dir / "synthetic" / IV.key).glob("*.parquet"))) == 1
    assert info.content_hash[:16] in str(err.value)
