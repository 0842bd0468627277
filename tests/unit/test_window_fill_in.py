"""Runs that start together fill a window's unseen days in once, between them.

A backfill's first days start at the same moment, and each one's drift reference is a
window of days the lake has never seen: each window ingests and validates those days.
Three real processes read overlapping windows over an empty lake; the source counts its
reads (and is slow, so that every reader meets the others at work).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import date

import pytest

from mlops.ingest import ingest_interval
from mlops.lake import Lake
from mlops.sources.base import Interval
from mlops.sources.synthetic import SyntheticSource
from mlops.validation import validate_partition

pytestmark = pytest.mark.chaos

READERS = 3
OVERRIDE = {"source": {"options": {"rows_per_day": 300, "drift": []}}, "labels": {"delay_days": 0}}  # as the synthetic_config fixture

CHILD = r"""
import json, os, sys, time
from datetime import datetime, timezone
from pathlib import Path

name, home, out, reads = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
from mlops.config import Settings, load_dataset
from mlops.sources.base import Interval
from mlops.sources.synthetic import SyntheticSource
from mlops.windows import read_window
import great_expectations  # noqa: F401  (imported before the start line, so all start together)


class CountingSource(SyntheticSource):
    def read(self, interval):
        with open(reads, "a") as f:
            f.write(f"{os.getpid()} {interval.key}\n")
        time.sleep(0.3)
        return super().read(interval)


settings = Settings(home=home, tracking_uri="sqlite:///unused.db")
config = load_dataset("synthetic", override=json.loads(os.environ["OVERRIDE"]))
(home / f"ready-{name}").touch()
while len(list(home.glob("ready-*"))) < int(os.environ["READERS"]):
    time.sleep(0.01)
utc = timezone.utc
w = read_window(config, settings, Interval(datetime(2024, 1, 2, tzinfo=utc), datetime(2024, 1, 10, tzinfo=utc)), source=CountingSource(rows_per_day=300, seed=1))
out.write_text(json.dumps({"hashes": w.data_hashes, "rows": len(w.frame), "skipped": w.skipped}))
"""


def test_concurrent_windows_ingest_and_validate_each_unseen_day_once(settings, synthetic_config, tmp_path):
    assert synthetic_config.source.options["rows_per_day"] == OVERRIDE["source"]["options"]["rows_per_day"]
    first = Interval.days(date(2024, 1, 1))  # outside the window: the GX project and suite exist before the start
    ingest_interval(synthetic_config, settings, first, SyntheticSource(rows_per_day=300, seed=1))
    validate_partition(synthetic_config, settings, first, build_docs=False)
    reads = tmp_path / "reads.log"
    env = {**os.environ, "OVERRIDE": json.dumps(OVERRIDE), "READERS": str(READERS)}
    procs = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(i), str(settings.home), str(tmp_path / f"{i}.json"), str(reads)], env=env) for i in range(READERS)
    ]
    assert [p.wait(timeout=600) for p in procs] == [0] * READERS
    windows = [json.loads((tmp_path / f"{i}.json").read_text()) for i in range(READERS)]
    lines = [line.split() for line in reads.read_text().splitlines()]
    by_day = Counter(key for _, key in lines)
    # Each of the eight days came from the source once; the readers shared the work.
    assert by_day == {f"ds=2024-01-{d:02d}": 1 for d in range(2, 10)}, by_day
    assert len({pid for pid, _ in lines}) >= 2, lines
    # And every reader read the same window, whole.
    assert all(w == windows[0] for w in windows), windows
    assert windows[0]["skipped"] == {} and windows[0]["rows"] == 8 * 300 and len(windows[0]["hashes"]) == 8
    lake = Lake(settings.lake_dir, synthetic_config.name, quarantine_root=settings.quarantine_dir)
    assert all(lake.state(Interval.days(date(2024, 1, d)))[0] == "validated" for d in range(2, 10))


def test_a_day_lock_is_refused_without_waiting_while_another_process_holds_it(settings, synthetic_config):
    lake = Lake(settings.lake_dir, synthetic_config.name)
    day = Interval.days(date(2024, 1, 3))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from datetime import date; from mlops.lake import Lake; from mlops.sources.base import Interval\n"
            "with Lake(sys.argv[1], sys.argv[2]).day_lock(Interval.days(date(2024, 1, 3))) as held:\n"
            "    print(held, flush=True); time.sleep(60)",
            str(settings.lake_dir),
            synthetic_config.name,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "True"
        with lake.day_lock(day, wait=False) as held:
            assert held is False
        with lake.day_lock(Interval.days(date(2024, 1, 4)), wait=False) as held:
            assert held is True  # another day's lock is free
    finally:
        holder.kill()
        holder.wait()
    with lake.day_lock(day, wait=False) as held:
        assert held is True  # released when its process ended
