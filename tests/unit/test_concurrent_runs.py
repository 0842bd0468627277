"""Two real processes working on one lake at the same time, as two DAG runs do.

One re-ingests and validates a bad day over and over (the day's own run, cleared and re-run);
the other reads training windows that contain that day. Whatever the interleaving, neither
may fail: the day is quarantined or skipped with its reason, never reported as a damaged
file, and it ends up quarantined once per content.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

import pytest

from mlops.ingest import ingest_interval
from mlops.lake import Lake
from mlops.sources.base import Interval
from mlops.sources.synthetic import SyntheticSource
from mlops.validation import validate_partition

pytestmark = pytest.mark.chaos

ROUNDS = 12
OVERRIDE = {"source": {"options": {"rows_per_day": 300, "drift": []}}, "labels": {"delay_days": 0}}  # as the synthetic_config fixture
BAD = {"kind": "nulls", "feature": "x1", "start": "2024-01-09", "end": "2024-01-10", "fraction": 0.5}

CHILD = r"""
import json, os, sys, time, traceback
from datetime import date, datetime, timezone
from pathlib import Path

role, home, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
from mlops.config import Settings, load_dataset
from mlops.errors import ValidationFailed
from mlops.ingest import ingest_interval
from mlops.sources.base import Interval
from mlops.sources.synthetic import SyntheticSource
from mlops.validation import validate_partition
from mlops.windows import read_window
import great_expectations  # noqa: F401  (imported before the start line, so both start together)

settings = Settings(home=home, tracking_uri="sqlite:///unused.db")
config = load_dataset("synthetic", override=json.loads(os.environ["OVERRIDE"]))
bad_day = Interval.days(date(2024, 1, 9))
source = SyntheticSource(rows_per_day=300, seed=1, incidents=[json.loads(os.environ["BAD"])])
(home / f"ready-{role}").touch()
while not all((home / f"ready-{r}").exists() for r in ("ingester", "reader")):
    time.sleep(0.01)
outcomes = []
try:
    for _ in range(int(os.environ["ROUNDS"])):
        if role == "ingester":
            ingest_interval(config, settings, bad_day, source)
            try:
                validate_partition(config, settings, bad_day, build_docs=False)
                outcomes.append("passed")
            except ValidationFailed as e:
                outcomes.append("quarantined" if "moved to" in str(e) else "found in quarantine")
        else:
            w = read_window(config, settings, Interval(datetime(2024, 1, 8, tzinfo=timezone.utc), datetime(2024, 1, 10, tzinfo=timezone.utc)))
            outcomes.append(w.skipped.get("ds=2024-01-09", "used").split(":")[0])
            assert "ds=2024-01-08" in w.data_hashes, w.skipped
except Exception:
    out.write_text(json.dumps({"error": traceback.format_exc(), "outcomes": outcomes}))
    sys.exit(1)
out.write_text(json.dumps({"outcomes": outcomes}))
"""


def test_two_runs_race_on_a_bad_day_without_failing(settings, synthetic_config, tmp_path):
    assert synthetic_config.source.options["rows_per_day"] == OVERRIDE["source"]["options"]["rows_per_day"]
    good = Interval.days(date(2024, 1, 8))
    ingest_interval(synthetic_config, settings, good, SyntheticSource(rows_per_day=300, seed=1))
    validate_partition(synthetic_config, settings, good, build_docs=False)  # the GX project and suite exist before the race
    env = {**os.environ, "OVERRIDE": json.dumps(OVERRIDE), "BAD": json.dumps(BAD), "ROUNDS": str(ROUNDS)}
    procs = {
        role: subprocess.Popen([sys.executable, "-c", CHILD, role, str(settings.home), str(tmp_path / f"{role}.json")], env=env)
        for role in ("ingester", "reader")
    }
    codes = {role: p.wait(timeout=600) for role, p in procs.items()}
    results = {role: json.loads((tmp_path / f"{role}.json").read_text()) for role in procs}
    assert codes == {"ingester": 0, "reader": 0}, {r: v.get("error") for r, v in results.items()}
    assert len(results["ingester"]["outcomes"]) == ROUNDS and "passed" not in results["ingester"]["outcomes"]
    assert set(results["reader"]["outcomes"]) <= {"failed validation", "in quarantine", "no partition"}, results["reader"]
    # One content, one quarantined copy; the day is in quarantine, the good day untouched.
    lake = Lake(settings.lake_dir, synthetic_config.name, quarantine_root=settings.quarantine_dir)
    assert lake.state(Interval.days(date(2024, 1, 9)))[0] == "quarantined"
    assert len(list((settings.quarantine_dir / synthetic_config.name / "ds=2024-01-09").glob("*.parquet"))) == 1
    assert lake.state(good)[0] == "validated"
