"""The nightly run against rows per day: wall time and peak RSS of every task.

Usage (from the repository root, project virtualenv active)::

    python bench/nightly_scale_bench.py                                  # 10k, 100k and 1M rows a day
    python bench/nightly_scale_bench.py --rows 100000 --max-rows 500000 --window-days 28

For each ``--rows`` value, a fresh interpreter with its own throw-away home (SQLite metadata DB
after ``airflow db migrate``, SQLite MLflow store, ``MLOPS_HOME``; like ``scripts/test.sh``)
runs the real nightly DAG of one dataset, ``scale``: the synthetic source at that many rows a
day (5 numeric and 2 categorical features, labels in the partition, no drift),
``training.window_days`` = ``--window-days`` (3 held out), ``training.max_rows`` =
``--max-rows``, scheduled daily. Three nights with ``dag.test()`` in the same process, each
triggered with ``force_retrain`` so every step runs (ingest, validate, detect_drift, decide,
train, evaluate, register):

1. **first night**: no champion; the window's earlier days are ingested and validated on
   demand by the drift and train steps (a new deployment's first night);
2. **new champion**: the first night's version is made champion; drift profiles its
   training window (once per champion);
3. **steady night**: the same champion; the stored profile is used.

Per task: wall time (the task instance's start and end) and peak RSS (the process's
``VmHWM``, reset through ``/proc/self/clear_refs`` when the task starts and read when it ends:
the libraries loaded once, as in a preloaded worker, plus what the task holds at its peak).
A task listener registered in this process does the RSS bookkeeping. The parent prints one
table per size and the curve. Results also go to ``bench/results/nightly_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from airflow.listeners import hookimpl
from record import save

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DAG_ID = "mlops_nightly_training_scale"
STEPS = ("ingest", "validate", "detect_drift", "decide", "retrain.train", "retrain.evaluate", "retrain.register")
NIGHTS = (("first night", "2024-02-01"), ("new champion", "2024-02-02"), ("steady night", "2024-02-03"))


def _hwm() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_hwm() -> None:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


class RssListener:
    """Peak RSS of each task instance run in this process (``dag.test`` runs them here)."""

    def __init__(self):
        self.peaks: dict[str, int] = {}

    @hookimpl
    def on_task_instance_running(self, previous_state, task_instance):
        _reset_hwm()

    @hookimpl
    def on_task_instance_success(self, previous_state, task_instance):
        self.peaks[task_instance.task_id] = _hwm()

    @hookimpl
    def on_task_instance_failed(self, previous_state, task_instance, error):
        self.peaks[task_instance.task_id] = _hwm()

    @hookimpl
    def on_task_instance_skipped(self, previous_state, task_instance):
        self.peaks[task_instance.task_id] = _hwm()


def write_config(folder: Path, rows: int, window_days: int, max_rows: int) -> None:
    import yaml

    raw = yaml.safe_load((ROOT / "include" / "datasets" / "synthetic.yaml").read_text())
    raw.pop("scoring", None)
    raw.update(
        name="scale",
        description=f"Synthetic, {rows:,} rows a day.",
        dag={
            "dag_id": DAG_ID,
            "schedule": "@daily",
            "start_date": "2024-01-01",
            "promotion_dag_id": "mlops_model_promotion_scale",
            "rollback_dag_id": "mlops_model_rollback_scale",
        },
        labels={"delay_days": 0},
    )
    raw["source"]["options"] = {"rows_per_day": rows, "seed": 7, "drift": []}
    raw["training"] = {**raw["training"], "window_days": window_days, "holdout_days": 3, "max_rows": max_rows, "min_train_rows": min(1000, max_rows)}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scale.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def child(args: argparse.Namespace) -> None:
    """One size in this (fresh) process; the environment was prepared by the parent."""
    import logging

    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.listener import get_listener_manager

    from mlops import tracking
    from mlops.config import Settings, load_dataset

    logging.disable(logging.WARNING)
    listener = RssListener()
    get_listener_manager().add_listener(listener)
    settings = Settings.from_env()
    model_name = load_dataset("scale").model_name
    out = {"rows_per_day": args.rows, "window_days": args.window_days, "max_rows": args.max_rows, "nights": []}
    log = Path(os.environ["AIRFLOW_HOME"]).parent / "nights.log"
    for label, day in NIGHTS:
        listener.peaks.clear()
        started = time.perf_counter()
        with open(log, "ab") as fh:
            saved = os.dup(1), os.dup(2)
            os.dup2(fh.fileno(), 1)
            os.dup2(fh.fileno(), 2)
            try:
                bag = DagBag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
                dag = bag.dags[DAG_ID]
                dr = dag.test(logical_date=datetime.fromisoformat(day).replace(tzinfo=UTC), run_conf={"force_retrain": True})
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
        wall = time.perf_counter() - started
        tasks = {}
        for ti in dr.get_task_instances():
            seconds = (ti.end_date - ti.start_date).total_seconds() if ti.start_date and ti.end_date else None
            tasks[ti.task_id] = {"state": str(ti.state), "seconds": seconds, "peak_rss_bytes": listener.peaks.get(ti.task_id)}
        night = {
            "night": label,
            "logical_date": day,
            "state": str(dr.state),
            "wall_seconds": wall,
            "tasks": tasks,
            "steps_seconds": sum(tasks[s]["seconds"] or 0 for s in STEPS if s in tasks),
            "load1": os.getloadavg()[0],
        }
        out["nights"].append(night)
        print(f"  {args.rows:>9,} rows/day, {label}: {night['state']} in {wall:.1f} s", flush=True)
        if dr.state != "success":
            break
        if label == "first night":
            from mlops.registry import CHAMPION

            versions = tracking.client(settings).search_model_versions(f"name = '{model_name}'")
            tracking.client(settings).set_registered_model_alias(model_name, CHAMPION, str(max(int(v.version) for v in versions)))
    Path(args.out).write_text(json.dumps(out, indent=2))


def environment(home: Path, datasets: Path) -> dict[str, str]:
    from pipeline_bench import throwaway_environment

    env = throwaway_environment(home)
    env["MLOPS_DATASETS_DIR"] = str(datasets)
    env["MLOPS_DEADLINE_ALERTS"] = "false"  # as scripts/test.sh: dag.test() cannot run a DAG with a Deadline Alert that was never serialized
    return env


def run_size(rows: int, args: argparse.Namespace) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"mlops-scale-{rows}."))
    try:
        datasets = home / "datasets"
        write_config(datasets, rows, args.window_days, args.max_rows)
        env = environment(home, datasets)
        Path(env["AIRFLOW_HOME"]).mkdir(parents=True)
        Path(env["MLOPS_HOME"]).mkdir(parents=True)
        with (home / "db-migrate.log").open("wb") as fh:
            if subprocess.run(["airflow", "db", "migrate"], stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT).returncode:
                raise SystemExit(f"airflow db migrate failed: {(home / 'db-migrate.log').read_text()[-2000:]}")
        out = home / "result.json"
        cmd = [
            sys.executable,
            __file__,
            "--child",
            "--rows",
            str(rows),
            "--window-days",
            str(args.window_days),
            "--max-rows",
            str(args.max_rows),
            "--out",
            str(out),
        ]
        proc = subprocess.run(cmd, env=env, cwd=ROOT)
        if proc.returncode or not out.exists():
            raise SystemExit(f"the run at {rows} rows a day failed; task output in {home / 'nights.log'} (home kept)")
        result = json.loads(out.read_text())
        if not args.keep:
            import shutil

            shutil.rmtree(home, ignore_errors=True)
        else:
            result["home"] = str(home)
        return result
    except BaseException:
        print(f"home kept for inspection: {home}", file=sys.stderr)
        raise


def _gb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e9:.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, action="append", help="rows per day (repeatable; default 10000, 100000, 1000000)")
    ap.add_argument("--window-days", type=int, default=28)
    ap.add_argument("--max-rows", type=int, default=500_000, help="training.max_rows (default 500000)")
    ap.add_argument("--keep", action="store_true", help="keep each size's throw-away home")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        args.rows = args.rows[0]
        child(args)
        return 0
    sizes = args.rows or [10_000, 100_000, 1_000_000]
    results = {"started": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(), "sizes": []}
    for rows in sizes:
        print(
            f"nightly_scale_bench: {rows:,} rows a day, {args.window_days}-day window, max_rows {args.max_rows:,} (load average {os.getloadavg()[0]:.1f}) ...",
            flush=True,
        )
        t = time.perf_counter()
        results["sizes"].append(run_size(rows, args) | {"total_seconds": time.perf_counter() - t})
        save("nightly_scale", results, quiet=True)
    for size in results["sizes"]:
        print(f"\n{size['rows_per_day']:,} rows a day ({args.window_days}-day window, training.max_rows {args.max_rows:,}): seconds / peak RSS GB per task")
        print(f"  {'night':<14} {'state':<8} {'wall':>7}  " + "  ".join(f"{s.removeprefix('retrain.'):>16}" for s in STEPS))
        for night in size["nights"]:
            cells = []
            for s in STEPS:
                t = night["tasks"].get(s) or {}
                cells.append(f"{(t.get('seconds') or 0):7.1f} / {_gb(t.get('peak_rss_bytes')):>5}")
            print(
                f"  {night['night']:<14} {night['state']:<8} {night['wall_seconds']:7.1f}  "
                + "  ".join(f"{c:>16}" for c in cells)
                + f"   [load {night['load1']:.1f}]"
            )
    print("\nresults in bench/results/nightly_scale.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
