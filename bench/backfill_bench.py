"""Wall time of a backfill of the replay data under the real scheduler, and where it goes.

    . .venv/bin/activate && python bench/backfill_bench.py --days 30 [--max-active-runs 8] [--keep] [--profile prod]

Starts the stack with ``scripts/run.sh`` in a throw-away home on spare ports (the same
stack as ``make run``), creates a backfill of ``mlops_nightly_training`` through the REST
API from 2013-03-01, waits for it, and prints: wall time, runs and their states, the sum of
task durations and the median duration per task (task instance durations as Airflow
records them: from the task runner's start, so process spawn is not included), and the time
task instances spent between being queued and starting.

Then, with the stack stopped, ``pipeline_bench.py --nights`` runs the first
``--warm-nights`` days of the same period in one process (``dag.test``: every task runs in
that process, so imports are paid once). The median of a task over those nights, the first
one excluded, is the pipeline's own work for that task; what the scheduler's median adds to
it is the per-task cost of a fresh task process (start-up, DAG parse, imports). The split:
``overhead = sum over tasks of runs x max(0, scheduler median - in-process median)``; tasks
that only run in backfills (``replay_promotion``, ``policy_report``) and the ordering sensor
are reported on their own. The same nights check the backfill's outcome: every compared
day's retrain decision and challenger metrics must equal the sequential run's
(``same_as_in_process``; per-run outcomes in ``backfill-<days>-outcomes.json``). Results go to ``bench/results/backfill-<days>.json`` (raw task
instances in ``backfill-<days>-tis.json``). Prints figures; never fails on a timing.

``--profile prod`` runs the same backfill on the production profile (PostgreSQL metadata,
CeleryExecutor on Redis, MLflow with basic auth), started natively as ``tests/prod`` does:
its own databases on 127.0.0.1:5432 (dropped afterwards), Redis database 12 (flushed),
secrets generated into the throw-away home. Results go to ``backfill-prod-<days>.json``.
"""

from __future__ import annotations

import argparse
import itertools
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

from proc_cpu import CpuSampler  # noqa: E402
from record import RESULTS, machine, save  # noqa: E402

from live.stack import live_stack  # noqa: E402

DAG = "mlops_nightly_training"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--start", default="2013-03-01")
    parser.add_argument("--max-active-runs", type=int, default=8, help="the backfill's max active runs (docs/backfills.md; tables before 1 Dec 2026: 4)")
    parser.add_argument("--keep", action="store_true", help="keep the throw-away home")
    parser.add_argument("--profile", choices=("embedded", "prod"), default="embedded")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="a stack setting, e.g. MLOPS_DEFAULT_CONCURRENCY=3 (repeatable)")
    parser.add_argument("--warm-nights", type=int, default=10, help="in-process nights for the overhead split (0: skip)")
    parser.add_argument(
        "--resplit",
        nargs=2,
        type=Path,
        metavar=("RESULT", "WARM"),
        help="only recompute the split of a saved result file against a saved pipeline_bench --nights file",
    )
    args = parser.parse_args()
    if args.resplit:
        saved = json.loads(args.resplit[0].read_text())
        saved["split"] = overhead_split(saved, args.start, len(json.loads(args.resplit[1].read_text())["nights"]), warm_file=args.resplit[1])
        save(args.resplit[0], saved)
        print(json.dumps(saved["split"], indent=2))
        return 0

    home = Path(tempfile.mkdtemp(prefix="mlops-backfill-bench."))
    parallelism = os.environ.get("AIRFLOW__CORE__PARALLELISM", "4")
    cleanup = lambda: None  # noqa: E731
    extra = dict(item.split("=", 1) for item in args.env)
    if args.profile == "prod":
        stack, cleanup = production_stack(home, extra)
    else:
        stack = live_stack(home, api_port=38080, mlflow_port=35000, extra_env=extra)
    name = f"backfill-{args.days}" if args.profile == "embedded" else f"backfill-prod-{args.days}"
    name += "".join(f"-{k.lower()}={v}" for k, v in sorted(extra.items()))
    try:  # a stack that fails to start is stopped too (what did start keeps running otherwise)
        t0 = time.perf_counter()
        stack.start()
        started = time.perf_counter() - t0
        stack.unpause(DAG)
        # Unpausing makes the scheduler create the latest scheduled run; create_backfill then
        # waits for it to finish (see LiveStack.create_backfill).
        stack.wait_for(
            "the scheduled run that unpausing creates",
            lambda: stack.ok("GET", f"/api/v2/dags/{DAG}/dagRuns", params={"run_type": "scheduled"})["dag_runs"],
            timeout=120,
        )
        first = date.fromisoformat(args.start)
        last = first + timedelta(days=args.days - 1)
        body = {"dag_id": DAG, "from_date": f"{first}T00:00:00Z", "to_date": f"{last}T00:00:00Z", "max_active_runs": args.max_active_runs}
        sampler = CpuSampler(stack.home / "airflow" / "run").start()
        t1 = time.perf_counter()
        backfill = stack.create_backfill(body)
        stack.wait_for("the backfill", lambda: stack.ok("GET", f"/api/v2/backfills/{backfill['id']}")["completed_at"], timeout=6 * 3600, every=10)
        wall = time.perf_counter() - t1
        cpu = sampler.stop()
        runs = stack.every(f"/api/v2/dags/{DAG}/dagRuns", "dag_runs", {"run_type": "backfill", "order_by": "logical_date"})
        records = []
        for run in runs:
            tis = stack.ok("GET", f"/api/v2/dags/{DAG}/dagRuns/{run['dag_run_id']}/taskInstances")["task_instances"]
            records += [
                {
                    k: ti.get(k)
                    for k in ("dag_run_id", "task_id", "state", "duration", "queued_when", "start_date", "end_date", "try_number", "hostname", "queue")
                }
                for ti in tis
            ]
        outcomes = {run["logical_date"][:10]: run_outcome(stack, run) for run in runs}
        durations: dict[str, list[float]] = {}
        for ti in records:
            if ti["duration"] is not None and ti["state"] == "success":
                durations.setdefault(ti["task_id"], []).append(ti["duration"])
        queued = [_seconds(ti["queued_when"], ti["start_date"]) for ti in records if ti["queued_when"] and ti["start_date"]]
        queued_by_task: dict[str, list[float]] = {}
        for ti in records:
            if ti["queued_when"] and ti["start_date"]:
                queued_by_task.setdefault(ti["task_id"], []).append(_seconds(ti["queued_when"], ti["start_date"]))
        total = sum(sum(v) for v in durations.values())
        tasks_run = sum(len(v) for v in durations.values())
        result = {
            "profile": args.profile,
            "days": args.days,
            "max_active_runs": args.max_active_runs,
            "settings": extra,
            "parallelism": int(parallelism),
            "stack_start_seconds": round(started, 1),
            "backfill_wall_seconds": round(wall, 1),
            "runs": len(runs),
            "run_states": {s: sum(1 for r in runs if r["state"] == s) for s in {r["state"] for r in runs}},
            "task_instances_run": tasks_run,
            "sum_task_seconds": round(total, 1),
            "task_runs": {k: len(v) for k, v in sorted(durations.items())},
            "median_task_seconds": {k: round(statistics.median(v), 2) for k, v in sorted(durations.items())},
            "sum_task_seconds_by_task": {k: round(sum(v), 1) for k, v in sorted(durations.items())},
            "queued_to_start_seconds": {"sum": round(sum(queued), 1), "median": round(statistics.median(queued), 2) if queued else None},
            # Per task: a model step that waits here holds up every later day (the chain is serial).
            "queued_to_start_median_by_task": {k: round(statistics.median(v), 2) for k, v in sorted(queued_by_task.items())},
            "wall_seconds_per_day": round(wall / max(len(runs), 1), 1),
            "day_cadence_seconds": day_cadence(records),
            "last_model_step_seconds": last_model_step(records),
            # From the backfill's creation to its completion, every 0.5 s from /proc (bench/proc_cpu.py).
            "cpu_seconds": cpu,
            "load_average": os.getloadavg(),
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{name}-tis.json").write_text(json.dumps(records, indent=1))
        (RESULTS / f"{name}-outcomes.json").write_text(json.dumps(outcomes, indent=1, sort_keys=True))
    finally:
        stack.stop()
        cleanup()
        if not args.keep:
            import shutil

            shutil.rmtree(home, ignore_errors=True)
    result = {"machine": machine(), **result}  # probed now, beside the stack's run, kept on the second save
    out = save(name, result)
    if args.warm_nights:
        result["split"] = overhead_split(result, args.start, args.warm_nights)
        warm = RESULTS / f"backfill-warm-{args.warm_nights}.json"
        result["same_as_in_process"] = compare_outcomes(outcomes, json.loads(warm.read_text())["nights"])
        save(out, result)
    print(json.dumps(result, indent=2))
    return 0


def production_stack(home: Path, extra: dict[str, str]):
    """The production profile as ``tests/prod`` starts it (see the module doc); returns it and its clean-up."""
    sys.path.insert(0, str(ROOT / "tests" / "prod"))
    from conftest import drop_profile_data
    from conftest import production_stack as profile

    stack = profile(home, prefix=f"mlops_bench{os.getpid()}", api_port=38280, mlflow_port=35200, redis_db=12, **extra)
    return stack, lambda: drop_profile_data(stack)


def run_outcome(stack, run: dict) -> dict:
    """A backfill run's decision and, when it trained, its challenger's metrics (from XCom)."""

    def xcom(task: str, key: str):
        path = f"/api/v2/dags/{DAG}/dagRuns/{run['dag_run_id']}/taskInstances/{task}/xcomEntries/{key}"
        r = stack.call("GET", path, params={"deserialize": "true", "stringify": "false"})
        return r.json().get("value") if r.status_code == 200 else None

    decision = xcom("decide", "decision") or {}
    evaluation = xcom("retrain.evaluate", "return_value") or {}
    return {"state": run["state"], "retrain": decision.get("retrain"), "reasons": decision.get("reasons"), "metrics": evaluation.get("challenger_metrics")}


def compare_outcomes(outcomes: dict, nights: list[dict]) -> dict:
    """The backfill's decisions and challengers' metrics against the sequential in-process nights (same days)."""
    compared, differ = 0, []
    for night in nights:
        day = night["data_interval"][0][:10]
        if day not in outcomes:
            continue
        mine = outcomes[day]
        theirs = {"retrain": (night["decision"] or {}).get("retrain"), "metrics": (night["evaluation"] or {}).get("challenger_metrics")}
        compared += 1
        if mine["retrain"] != theirs["retrain"] or mine["metrics"] != theirs["metrics"]:
            differ.append({"day": day, "backfill": mine, "in_process": theirs})
    return {"days_compared": compared, "identical": compared - len(differ), "differ": differ}


def day_cadence(records: list[dict]) -> dict:
    """Seconds between one day's last model step and the next day's (the serial part of a backfill)."""
    last: dict[str, str] = {}
    for ti in records:
        if ti["task_id"] in ("no_retrain", "retrain.replay_promotion") and ti["state"] == "success" and ti["end_date"]:
            last[ti["dag_run_id"]] = max(last.get(ti["dag_run_id"], ""), ti["end_date"])
    ends = [last[k] for k in sorted(last)]  # run ids sort by logical date
    gaps = [_seconds(a, b) for a, b in itertools.pairwise(ends)]
    if not gaps:
        return {}
    return {"median": round(statistics.median(gaps), 2), "mean": round(statistics.mean(gaps), 2), "days": len(gaps) + 1}


#: A day's model steps (decide, then the retrain steps; in a backfill, train runs the rest).
MODEL_STEPS = ("decide", "retrain.train", "retrain.evaluate", "retrain.register", "retrain.replay_promotion")


def last_model_step(records: list[dict]) -> float | None:
    """Seconds from the backfill's first queued task to the end of its last model step: the backfill's pace.

    Unlike the wall time, this leaves out the scheduled run that unpausing makes (the backfill
    is created after it), the status polls and the period's policy report at the end.
    """
    queued = [ti["queued_when"] for ti in records if ti["queued_when"]]
    ended = [ti["end_date"] for ti in records if ti["task_id"] in MODEL_STEPS and ti["end_date"]]
    return round(_seconds(min(queued), max(ended)), 1) if queued and ended else None


def _seconds(start: str, end: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()


#: Tasks whose duration is waiting, not work: the ordering sensor (deferred to the triggerer).
WAITS = ("wait_for_previous_run",)


def overhead_split(result: dict, start: str, nights: int, warm_file: Path | None = None) -> dict:
    """Scheduler task durations against the same tasks run in one warm process (see the module doc).

    The same in-process nights check the backfill's outcome: each day's retrain decision and
    its challenger's metrics must equal the sequential run's (``same_as_in_process``).
    """
    import subprocess

    out = warm_file or RESULTS / f"backfill-warm-{nights}.json"
    if warm_file is None:
        cmd = [sys.executable, str(ROOT / "bench" / "pipeline_bench.py"), "--nights", start, str(nights), "--skip-log-register", "--out", str(out)]
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    warm: dict[str, list[float]] = {}
    for night in json.loads(out.read_text())["nights"][1:]:  # the first night also pays the imports
        for task in night["tasks"]:
            if task["state"] == "success" and task["seconds"] is not None:
                warm.setdefault(task["task_id"], []).append(task["seconds"])
    per_task, overhead, work = {}, 0.0, 0.0
    for task_id, runs in result["task_runs"].items():
        if task_id not in warm or task_id in WAITS:
            continue
        scheduler, in_process = result["median_task_seconds"][task_id], statistics.median(warm[task_id])
        extra = max(0.0, scheduler - in_process)
        per_task[task_id] = {"runs": runs, "scheduler_median": scheduler, "in_process_median": round(in_process, 2), "overhead_per_run": round(extra, 2)}
        overhead += runs * extra
        work += result["sum_task_seconds_by_task"][task_id] - runs * extra
    compared = sum(result["sum_task_seconds_by_task"][t] for t in per_task)
    return {
        "warm_nights": nights,
        "per_task": per_task,
        "compared_task_seconds": round(compared, 1),
        "overhead_seconds": round(overhead, 1),
        "work_seconds": round(work, 1),
        "overhead_share": round(overhead / compared, 3) if compared else None,
        "not_compared": {t: result["sum_task_seconds_by_task"][t] for t in result["task_runs"] if t not in per_task and t not in WAITS},
        "waiting_seconds": {t: result["sum_task_seconds_by_task"].get(t) for t in WAITS},
    }


if __name__ == "__main__":
    sys.exit(main())
