"""A full disk, for real (a tiny tmpfs): every writer names the path and the free space, and
leaves nothing half-written behind."""

from __future__ import annotations

import os
from datetime import date

import numpy as np
import pandas as pd
import pytest

from mlops.config import DriftConfig
from mlops.drift import detect_drift, write_report
from mlops.errors import InfrastructureError, StorageFull
from mlops.lake import Lake, atomic_write_bytes
from mlops.sources.base import Interval
from mlops.sources.synthetic import SyntheticSource

DAY = Interval.days(date(2024, 1, 10))


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*.tmp"))


def test_atomic_write_on_a_full_disk_names_path_and_space_and_keeps_the_old_file(small_filesystem):
    path = small_filesystem / "reports" / "r.json"
    atomic_write_bytes(path, b"old")
    with pytest.raises(StorageFull) as e:
        atomic_write_bytes(path, os.urandom(1024 * 1024))
    message = str(e.value)
    assert message.startswith(f"could not write {path}: No space left on device (")
    assert f"free of 256.0 KiB on the file system of {path.parent}" in message
    assert "nothing was written there" in message and "then clear the task" in message
    assert isinstance(e.value, InfrastructureError)  # tasks keep Airflow's retries
    assert path.read_bytes() == b"old" and _leftovers(small_filesystem) == []


def test_a_partition_that_does_not_fit_leaves_the_previous_one(small_filesystem):
    lake = Lake(small_filesystem / "lake", "s")
    small = SyntheticSource(rows_per_day=50, seed=1).read(DAY)
    before = lake.write(small, DAY, timestamp_column="ts", source="test")
    big = SyntheticSource(rows_per_day=20_000, seed=2).read(DAY)
    with pytest.raises(StorageFull, match=rf"could not write {lake.path_for(DAY)}: No space left on device \(\d"):
        lake.write(big, DAY, timestamp_column="ts", source="test")
    assert lake.info(DAY) == before and len(lake.read(DAY)) == 50
    assert _leftovers(small_filesystem) == []


def test_a_drift_report_that_does_not_fit_leaves_no_part_of_it(small_filesystem):
    rng = np.random.default_rng(0)
    # Many distinct features: a large figure and table, far past the 256 KiB.
    ref = pd.DataFrame({f"f{i}": rng.normal(0, 1, 4000) for i in range(40)})
    cur = pd.DataFrame({f"f{i}": rng.normal(1, 1, 4000) for i in range(40)})
    result = detect_drift(ref, cur, numeric=list(ref.columns), categorical=[], config=DriftConfig())
    out = small_filesystem / "drift" / "ds=2024-01-10"
    with pytest.raises(StorageFull, match=rf"could not write {out}/drift\.(png|html|json)"):
        write_report(result, ref, cur, out, title="full")
    assert _leftovers(small_filesystem) == []


def test_a_library_running_out_of_space_in_a_task_is_named_and_retryable(small_filesystem, monkeypatch):
    """A file written by a library (here plain ``open``, whose error names no file), not by the
    lake: ``fail_fast`` says so, with the free space where MLOPS_HOME is."""
    from mlops.airflow.runtime import fail_fast

    monkeypatch.setenv("MLOPS_HOME", str(small_filesystem))
    target = small_filesystem / "result.json"
    expected = (
        r"could not write a file \(the system did not say which\): No space left on device \(\d+ bytes free of 256\.0 KiB "
        rf"on the file system of {small_filesystem}\); the file may be incomplete"
    )
    with pytest.raises(StorageFull, match=expected), fail_fast(), open(target, "wb") as fh:
        fh.write(os.urandom(1024 * 1024))
