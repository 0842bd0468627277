from datetime import date

import pandas as pd
import pytest

from mlops.errors import LakeError, PartitionQuarantined
from mlops.lake import Lake, content_hash
from mlops.sources.base import Interval
from mlops.sources.synthetic import SyntheticSource


def test_write_is_idempotent_and_hash_is_order_independent(settings):
    lake = Lake(settings.lake_dir, "s")
    iv = Interval.days(date(2024, 1, 10))
    df = SyntheticSource(rows_per_day=200).read(iv)
    first = lake.write(df, iv, timestamp_column="ts", source="test")
    second = lake.write(df.sample(frac=1, random_state=1), iv, timestamp_column="ts", source="test")
    assert first == second and first.rows == 200 and len(first.content_hash) == 64
    assert lake.info(iv) == first
    assert not list(lake.dir.glob(".*.tmp")), "temporary files left behind"
    changed = df.copy()
    changed.loc[0, "x0"] += 1
    assert lake.write(changed, iv, timestamp_column="ts", source="test").content_hash != first.content_hash


def test_content_hash_sees_dtypes_and_values():
    a = pd.DataFrame({"x": [1, 2]})
    assert content_hash(a) == content_hash(a.copy())
    assert content_hash(a) != content_hash(a.astype("float64"))
    assert content_hash(a) != content_hash(pd.DataFrame({"y": [1, 2]}))


def test_validation_mark_is_tied_to_content(settings):
    lake = Lake(settings.lake_dir, "s")
    iv = Interval.days(date(2024, 1, 10))
    df = SyntheticSource(rows_per_day=50).read(iv)
    lake.write(df, iv, timestamp_column="ts", source="test")
    lake.mark_validated(iv, {"success": True})
    assert lake.validation(iv)["success"] is True
    lake.write(df.head(10), iv, timestamp_column="ts", source="test")
    assert lake.validation(iv) is None  # rewritten partition must be validated again


def test_quarantine_moves_partition_with_its_result(settings):
    lake = Lake(settings.lake_dir, "s", quarantine_root=settings.quarantine_dir)
    iv = Interval.days(date(2024, 1, 10))
    info = lake.write(SyntheticSource(rows_per_day=50).read(iv), iv, timestamp_column="ts", source="test")
    target = lake.quarantine(iv, {"success": False, "failed_expectations": [{"expectation": "x"}]})
    assert not lake.exists(iv) and target.is_file()
    assert (target.parent / f"{info.content_hash[:16]}.validation.json").is_file()
    with pytest.raises(
        PartitionQuarantined,
        match=r"partition ds=2024-01-10: in quarantine since .* failed validation \(1 expectation\) and was moved to .*\.parquet\. .*clear the ingest task of ds=2024-01-10",
    ):
        lake.read(iv)
    with pytest.raises(LakeError, match=r"partition ds=2024-01-11 not found .* Run \(or clear\) the ingest task"):
        lake.read(Interval.days(date(2024, 1, 11)))


def test_foreign_file_is_reported(settings):
    lake = Lake(settings.lake_dir, "s")
    lake.dir.mkdir(parents=True)
    pd.DataFrame({"a": [1]}).to_parquet(lake.dir / "ds=2024-01-01.parquet")
    with pytest.raises(LakeError, match="lacks its metadata"):
        lake.partitions()


FAILED = {"success": False, "failed_expectations": [{"expectation": "expect_column_values_to_not_be_null", "column": "x0"}]}


def _two_runs_and_a_partition(settings, day: date):
    """Two runs' handles on one lake (as two worker processes have) and a partition written by the first."""
    a, b = (Lake(settings.lake_dir, "s", quarantine_root=settings.quarantine_dir) for _ in range(2))
    iv = Interval.days(day)
    return a, b, iv, a.write(SyntheticSource(rows_per_day=50).read(iv), iv, timestamp_column="ts", source="test")


@pytest.mark.chaos
def test_a_partition_quarantined_by_another_run_mid_read_is_reported_as_quarantined(settings):
    # The steps interleave as in the incident.
    reader, other, iv, info = _two_runs_and_a_partition(settings, date(2013, 12, 31))
    assert reader.exists(iv)  # the reader decides the partition is there ...
    other.quarantine(iv, FAILED, content_hash=info.content_hash)  # ... and another run moves it away
    assert reader.validation(iv) is None
    for step in (reader.info, reader.read):
        with pytest.raises(PartitionQuarantined) as err:
            step(iv)
        msg = str(err.value)
        assert "Delete it" not in msg and "unreadable" not in msg
        assert "partition ds=2013-12-31: in quarantine since" in msg and "failed validation (1 expectation)" in msg
        assert "clear the ingest task of ds=2013-12-31" in msg
    state, record = reader.state(iv)
    assert state == "quarantined" and record["content_hash"] == info.content_hash


@pytest.mark.chaos
def test_two_runs_quarantining_the_same_content_both_succeed(settings):
    a, b, iv, info = _two_runs_and_a_partition(settings, date(2024, 1, 10))
    first = a.quarantine(iv, FAILED, content_hash=info.content_hash)
    assert b.quarantine(iv, FAILED, content_hash=info.content_hash) == first and first.is_file()


@pytest.mark.chaos
def test_readers_see_the_record_before_the_file_moves_and_a_new_ingest_lifts_it(settings):
    from mlops.lake import atomic_write_json

    lake = Lake(settings.lake_dir, "s", quarantine_root=settings.quarantine_dir)
    iv = Interval.days(date(2024, 1, 10))
    df = SyntheticSource(rows_per_day=50).read(iv)
    info = lake.write(df, iv, timestamp_column="ts", source="test")
    # The moment inside quarantine() after the record is written and before the move.
    atomic_write_json(lake.quarantine_record_path(iv), {"reason": "failed validation", "content_hash": info.content_hash})
    assert lake.state(iv)[0] == "quarantined"
    # A deliberate re-ingest with new content: a live, unvalidated partition again.
    lake.write(df.head(40), iv, timestamp_column="ts", source="test")
    assert lake.state(iv)[0] == "unvalidated" and lake.quarantine_record(iv) is None


def test_a_validation_mark_belongs_to_the_content_that_was_validated(settings):
    lake = Lake(settings.lake_dir, "s")
    iv = Interval.days(date(2024, 1, 10))
    df = SyntheticSource(rows_per_day=50).read(iv)
    old = lake.write(df, iv, timestamp_column="ts", source="test")
    lake.write(df.head(10), iv, timestamp_column="ts", source="test")  # rewritten while the old content was validated
    lake.mark_validated(iv, {"success": True}, content_hash=old.content_hash)
    assert lake.validation(iv) is None and lake.state(iv)[0] == "unvalidated"


def test_content_that_passes_a_relaxed_suite_leaves_quarantine(settings):
    lake = Lake(settings.lake_dir, "s", quarantine_root=settings.quarantine_dir)
    iv = Interval.days(date(2024, 1, 10))
    df = SyntheticSource(rows_per_day=50).read(iv)
    info = lake.write(df, iv, timestamp_column="ts", source="test")
    lake.quarantine(iv, FAILED, content_hash=info.content_hash)
    # The operator relaxes the suite and clears the ingest task: the same content comes back and passes.
    assert lake.write(df, iv, timestamp_column="ts", source="test") == info
    assert lake.state(iv)[0] == "quarantined"  # still known bad until it is validated again
    lake.mark_validated(iv, {"success": True}, content_hash=info.content_hash)
    assert lake.state(iv) == ("validated", info) and lake.quarantine_record(iv) is None
