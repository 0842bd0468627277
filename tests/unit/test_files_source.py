"""The files source against bad files on disk: unreadable, misnamed, missing columns, missing paths."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pandas as pd
import pytest

from mlops.errors import BadSourceFile, SourceDataError
from mlops.sources.base import PROVENANCE, Interval
from mlops.sources.files import FilesSource, date_in_path

pytestmark = pytest.mark.chaos

DAY1, DAY2, DAY3 = (Interval.days(date(2024, 1, 1) + timedelta(days=k)) for k in range(3))
COLUMNS = ["ts", "x", "c", "y"]


def _day(k: int, n: int = 24) -> pd.DataFrame:
    ts = pd.date_range(pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=k), periods=n, freq="h")
    return pd.DataFrame({"ts": ts, "x": [float(i) for i in range(n)], "c": ["a", "b"] * (n // 2), "y": [i % 2 for i in range(n)]})


def _source(folder, tmp_path, **kw) -> FilesSource:
    return FilesSource(path=str(folder), timestamp_column="ts", columns=COLUMNS, quarantine_dir=tmp_path / "q", **kw)


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for k in range(3):
        _day(k).to_parquet(src / f"part-{k}.parquet")
    return src


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_missing_path_fails_fast_naming_it(tmp_path):
    with pytest.raises(SourceDataError, match=r"files source: .*/nowhere does not exist; expected a folder, a file or a glob") as err:
        FilesSource(path=str(tmp_path / "nowhere"), timestamp_column="ts").read(DAY1)
    assert err.value.retryable is False  # a retry cannot make the folder appear: no Airflow retries


def test_a_file_lacking_a_declared_column_is_named_not_filled_with_nulls(folder, tmp_path):
    _day(1).drop(columns=["x"]).to_parquet(folder / "part-1.parquet")
    with pytest.raises(SourceDataError, match=r"part-1\.parquet holds 24 rows of ds=2024-01-02 but lacks the declared column\(s\) \['x'\]"):
        _source(folder, tmp_path).read(DAY2)
    # The file holds no row of the other days: they are not blocked by it.
    assert len(_source(folder, tmp_path).read(DAY1)) == 24


def test_one_file_per_interval_mixed_with_a_day_split_over_files(folder, tmp_path):
    extra = _day(1).assign(ts=lambda d: d["ts"] + pd.Timedelta(minutes=30))  # more rows of 2 January, in a CSV
    extra.assign(ts=extra["ts"].astype(str)).to_csv(folder / "late.csv", index=False)
    out = _source(folder, tmp_path).read(DAY2)
    assert len(out) == 48
    assert out.attrs[PROVENANCE]["files"] == {"late.csv": 24, "part-1.parquet": 24}


def test_a_column_whose_type_changed_in_one_file_is_named(folder, tmp_path):
    late = _day(1).assign(x=lambda d: d["x"].map(lambda v: f"{v:.1f} kWh"))
    late.to_csv(folder / "late.csv", index=False)
    with pytest.raises(
        SourceDataError,
        match=r"column 'x' holds different kinds of values across the files of ds=2024-01-02: text \(.*\) in late\.csv; numbers \(float64\) in part-1\.parquet",
    ):
        _source(folder, tmp_path).read(DAY2)


@pytest.mark.parametrize(
    ("spoil", "found"),
    [
        (_truncate, r"it starts like Parquet but its footer is missing, so it was cut short"),
        (lambda p: _day(1).to_csv(p, index=False), r"it holds CSV, not Parquet \(first line: 'ts,x,c,y'\)"),
        (lambda p: p.write_bytes(b""), r"the file is empty \(0 bytes\)"),
    ],
    ids=["truncated", "csv-named-parquet", "zero-bytes"],
)
def test_an_unreadable_file_fails_one_interval_and_is_kept(folder, tmp_path, spoil, found):
    bad = folder / "part-1.parquet"
    spoil(bad)
    size = bad.stat().st_size
    with pytest.raises(BadSourceFile) as err:
        _source(folder, tmp_path).read(DAY2)  # the first interval that meets it
    msg = str(err.value)
    assert msg.startswith(f"files source: {bad} ({size} bytes) cannot be read as Parquet: ")
    assert re.search(found, msg), msg
    assert "Replace it with a complete Parquet file" in msg and "clear the ingest task of ds=2024-01-02" in msg
    assert err.value.retryable is False
    # Kept for inspection: a copy with its reason; the file itself stays where the upstream put it.
    copy = tmp_path / "q" / err.value.record["sha256"][:16] / "part-1.parquet"
    assert err.value.quarantined == str(copy) and copy.read_bytes() == bad.read_bytes()
    reason = json.loads((copy.parent / "reason.json").read_text())
    assert reason["first_interval"] == "ds=2024-01-02" and reason["size"] == size and reason["name"] == "part-1.parquet"
    # Other intervals skip it and say so; its own interval keeps failing until the file is fixed.
    day3 = _source(folder, tmp_path).read(DAY3)
    assert len(day3) == 24
    assert "part-1.parquet" in day3.attrs[PROVENANCE]["skipped_files"]
    with pytest.raises(BadSourceFile):
        _source(folder, tmp_path).read(DAY2)
    # Fixed by the upstream (new content): read again.
    _day(1).to_parquet(bad)
    assert len(_source(folder, tmp_path).read(DAY2)) == 24


def test_an_unreadable_file_with_a_date_in_its_name_fails_that_day_only(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for k in range(3):
        _day(k).to_parquet(src / f"readings_{(date(2024, 1, 1) + timedelta(days=k)):%Y%m%d}.parquet")
    _truncate(src / "readings_20240102.parquet")
    # 1 January meets it first, but the name says it holds 2 January.
    assert len(_source(src, tmp_path).read(DAY1)) == 24
    with pytest.raises(BadSourceFile, match="counted against the day in its name, 2024-01-02"):
        _source(src, tmp_path).read(DAY2)
    assert len(_source(src, tmp_path).read(DAY3)) == 24


def test_without_a_quarantine_folder_an_unreadable_file_fails_every_interval(folder):
    _truncate(folder / "part-1.parquet")
    for day in (DAY1, DAY3):
        with pytest.raises(BadSourceFile, match="every interval fails until it is fixed"):
            FilesSource(path=str(folder), timestamp_column="ts").read(day)


def test_footer_statistics_spare_reading_files_of_other_days(folder, tmp_path):
    import pyarrow.parquet as pq

    path = folder / "part-1.parquet"
    data = bytearray(path.read_bytes())
    # Garble the pages of column 'x' but keep the footer (its statistics still say: 2 January).
    chunk = pq.ParquetFile(path).metadata.row_group(0).column(1)
    for i in range(chunk.data_page_offset, chunk.data_page_offset + chunk.total_compressed_size):
        data[i] = 0xFF
    path.write_bytes(bytes(data))
    assert len(_source(folder, tmp_path).read(DAY1)) == 24  # never opened beyond its footer
    with pytest.raises(BadSourceFile, match="its Parquet metadata or pages are corrupt"):
        _source(folder, tmp_path).read(DAY2)


def test_hidden_and_underscore_files_are_ignored(folder, tmp_path):
    (folder / ".part-9.parquet.inprogress.parquet").write_bytes(b"PAR1 half written")
    (folder / "_temporary").mkdir()
    (folder / "_temporary" / "part-8.parquet").write_bytes(b"")
    assert len(_source(folder, tmp_path).read(DAY1)) == 24


def test_a_file_without_the_timestamp_column_is_a_bad_file(folder, tmp_path):
    _day(1).rename(columns={"ts": "when"}).to_parquet(folder / "part-1.parquet")
    with pytest.raises(BadSourceFile, match=r"no timestamp column 'ts' \(columns: \['c', 'when', 'x', 'y'\]\)"):
        _source(folder, tmp_path).read(DAY2)


def test_dates_in_paths():
    from pathlib import Path

    assert date_in_path(Path("ds=2024-03-05/part-0.parquet")) == date(2024, 3, 5)
    assert date_in_path(Path("events_20240305.csv")) == date(2024, 3, 5)
    assert date_in_path(Path("part-00000000.parquet")) is None
    assert date_in_path(Path("2024-03-05_to_2024-03-06.parquet")) is None  # two dates: no single owner


def test_an_interval_without_rows_keeps_the_files_columns(folder, tmp_path):
    _day(1).assign(meter="m1").iloc[0:0].to_parquet(folder / "part-1.parquet")  # an empty day, with its schema
    out = _source(folder, tmp_path).read(DAY2)
    assert len(out) == 0 and list(out.columns) == ["ts", "x", "c", "y", "meter"]
    assert str(out["ts"].dtype) == "datetime64[us, UTC]"
    assert out.attrs[PROVENANCE] == {"files": {}, "empty_files": ["part-1.parquet"], "skipped_files": {}}
    # Every file pruned by its footer: the schema comes from a footer.
    (folder / "part-1.parquet").unlink()
    assert list(_source(folder, tmp_path).read(Interval.days(date(2023, 1, 1))).columns) == ["ts", "x", "c", "y"]
