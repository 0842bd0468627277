"""Wall time of a backfill of the replay data under the real scheduler, and where it goes.

    . .venv/bin/activate && python bench/backfill_bench.py --days 30 [--max-active-runs 4] [--keep]

Starts the stack with ``scripts/run.sh`` in a throw-away home on spare ports (the same
stack as ``make run``), creates a backfill of ``mlops_nightly_training`` through the REST
API from 2013-03-01, waits for it, and prints: wall time, runs and their states, the sum of
task durations and the median duration per task (task instance durations as Airflow
records them: from the task runner's start, so process spawn is not included). Results go
to ``bench/results/backfill-<days>.json``. Prints figures; never fails on a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from live.stack import live_stack  # noqa: E402

DAG = "mlops_nightly_training"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--start", default="2013-03-01")
    parser.add_argument("--max-active-runs", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the throw-away home")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="mlops-backfill-bench."))
    parallelism = os.environ.get("AIRFLOW__CORE__PARALLELISM", "4")
    stack = live_stack(home, api_port=38080, mlflow_port=35000)
    t0 = time.perf_counter()
    stack.start()
    started = time.perf_counter() - t0
    try:
        stack.unpause(DAG)
        first = date.fromisoformat(args.start)
        last = first + timedelta(days=args.days - 1)
        body = {"dag_id": DAG, "from_date": f"{first}T00:00:00Z", "to_date": f"{last}T00:00:00Z", "max_active_runs": args.max_active_runs}
        t1 = time.perf_counter()
        backfill = stack.ok("POST", "/api/v2/backfills", json=body)
        stack.wait_for("the backfill", lambda: stack.ok("GET", f"/api/v2/backfills/{backfill['id']}")["completed_at"], timeout=6 * 3600, every=10)
        wall = time.perf_counter() - t1
        runs = stack.ok("GET", f"/api/v2/dags/{DAG}/dagRuns", params={"run_type": "backfill", "limit": 1000})["dag_runs"]
        durations: dict[str, list[float]] = {}
        for run in runs:
            tis = stack.ok("GET", f"/api/v2/dags/{DAG}/dagRuns/{run['dag_run_id']}/taskInstances")["task_instances"]
            for ti in tis:
                if ti["duration"] is not None and ti["state"] == "success":
                    durations.setdefault(ti["task_id"], []).append(ti["duration"])
        total = sum(sum(v) for v in durations.values())
        tasks_run = sum(len(v) for v in durations.values())
        result = {
            "days": args.days, "max_active_runs": args.max_active_runs, "parallelism": int(parallelism),
            "stack_start_seconds": round(started, 1), "backfill_wall_seconds": round(wall, 1),
            "runs": len(runs), "run_states": {s: sum(1 for r in runs if r["state"] == s) for s in {r["state"] for r in runs}},
            "task_instances_run": tasks_run, "sum_task_seconds": round(total, 1),
            "median_task_seconds": {k: round(statistics.median(v), 2) for k, v in sorted(durations.items())},
            "wall_seconds_per_day": round(wall / max(len(runs), 1), 1),
            "load_average": os.getloadavg(),
        }
    finally:
        stack.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(home, ignore_errors=True)
    out = ROOT / "bench" / "results" / f"backfill-{args.days}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
