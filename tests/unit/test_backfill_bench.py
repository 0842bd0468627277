"""The backfill bench's pace: from the first queued task to the last model step (``bench/backfill_bench.py``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import backfill_bench


def _ti(run, task, queued, end, state="success"):
    return {"dag_run_id": run, "task_id": task, "state": state, "queued_when": queued, "end_date": end}


def test_the_pace_runs_from_the_first_queued_task_to_the_last_model_step():
    records = [
        _ti("backfill__1", "ingest", "2026-12-01T09:00:00.000000Z", "2026-12-01T09:00:01.000000Z"),
        _ti("backfill__1", "decide", "2026-12-01T09:00:05.000000Z", "2026-12-01T09:00:06.000000Z"),
        _ti("backfill__2", "retrain.train", "2026-12-01T09:00:07.000000Z", "2026-12-01T09:00:12.500000Z"),
        # The period's report ends later: not part of the pace.
        _ti("backfill__2", "policy_report", "2026-12-01T09:00:13.000000Z", "2026-12-01T09:00:40.000000Z"),
    ]
    assert backfill_bench.last_model_step(records) == 12.5
    assert backfill_bench.last_model_step(records[:1]) is None
