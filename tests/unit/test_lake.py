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
    with pytest.raises(PartitionQuarantined, match=r"partition ds=2024-01-10: in quarantine since .* failed validation \(1 expectation\) and was moved to .*\.parquet\. .*clear the ingest task of ds=2024-01-10"):
        lake.read(iv)
    with pytest.raises(LakeError, match="partition ds=2024-01-11 not found .* Run \\(or clear\\) the ingest task"):
        lake.read(Interval.days(date(2024, 1, 11)))


def test_foreign_file_is_reported(settings):
    lake = Lake(settings.lake_dir, "s")
    lake.dir.mkdir(parents=True)
    pd.DataFrame({"a": [1]}).to_parquet(lake.dir / "ds=2024-01-01.parquet")
    with pytest.raises(LakeError, match="lacks its metadata"):
        lake.partitions()
