"""End-to-end timings of the nightly pipeline, and of logging and registering a model.

Usage (from the repository root)::

    . .venv/bin/activate && python bench/pipeline_bench.py          # ~2-4 min here
    python bench/pipeline_bench.py --keep --verbose                  # keep the home, show task logs

It builds its own throw-away environment the way ``scripts/test.sh`` does (a temporary
``AIRFLOW_HOME`` with a SQLite metadata DB, ``MLOPS_HOME`` under it, a SQLite MLflow store;
``scripts/env.sh`` fills in the rest), runs ``airflow db migrate`` once, then measures in
this process:

1. **Two nights** of ``mlops_nightly_training`` (flights replay) with ``dag.test()``: the
   first night, logical date 2013-03-01, in a fresh home (no champion; the training and
   reference windows' partitions are ingested and validated on demand); then version 1
   becomes ``champion`` (``MlflowClient.set_registered_model_alias``) and the next night,
   2013-03-02, runs (a typical night). Note: ``dag.test(logical_date=D)`` on the daily
   ``CronDataIntervalTimetable`` runs the *manual* data interval, the day before D
   (``infer_manual_data_interval``: the last complete day before D), so the nights process
   2013-02-28 and 2013-03-01; the table prints each run's data interval. For each: the DagRun state (asserted: success), wall
   time (fresh DagBag + ``dag.test``), per-task durations from the task instances' start and
   end dates, and the branch taken.
2. **Log and register**: fits the flights Pipeline once on the 28-day window that ends where
   the second night's data interval ends (all its partitions are in the lake the nights filled), then times ``mlflow.sklearn.log_model`` as
   the train step calls it, with explicit ``pip_requirements`` (``mlops.tracking.pip_requirements()``;
   ``--reps`` times, default 3) and with MLflow inferring them (once), and
   ``mlops.registry.register_version`` (first call, the same run key again = the idempotent
   look-up, and a second version of the same model).

Prints a compact table with the 1-minute load average next to each figure, writes the same
figures to ``bench/results/pipeline.json``, and deletes the temporary home unless ``--keep``.
Task output of ``dag.test`` goes to ``<home>/night-<date>.log`` unless ``--verbose``.
Fails only when something crashes or a DagRun does not succeed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parse_bench import env_sh_environment
from record import save

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
DAG_ID = "mlops_nightly_training"
DATASET = "flights"
NIGHTS = ("2013-03-01", "2013-03-02")
BENCH_MODEL = "bench_flights_late_arrival"


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def throwaway_environment(test_home: Path) -> dict[str, str]:
    """The environment ``scripts/test.sh`` builds for a test home (its exports, then scripts/env.sh)."""
    airflow_home = test_home / "airflow"
    os.environ.pop("MLFLOW_REGISTRY_URI", None)
    return env_sh_environment(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home}/airflow.db",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": f"{airflow_home}/passwords.json",
            "MLOPS_HOME": str(airflow_home / "data"),
            "MLFLOW_TRACKING_URI": f"sqlite:///{test_home}/mlflow.db",
            # as scripts/test.sh: dag.test() cannot run a DAG whose Deadline Alert was never serialized
            "MLOPS_DEADLINE_ALERTS": "false",
        }
    )


@contextlib.contextmanager
def output_to(path: Path | None):
    """Send this process's stdout and stderr (file descriptors 1 and 2) to ``path``; nothing when None."""
    if path is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "ab") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def xcom(dag_run, task_id: str, key: str = "return_value"):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.query(XComModel).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key=key).one_or_none()
        return None if row is None else XComModel.deserialize_value(row)


def lake_counts(settings) -> dict[str, int]:
    lake = settings.lake_dir / DATASET
    quarantine = settings.quarantine_dir / DATASET
    return {
        "partitions": len(list(lake.glob("ds=*.parquet"))) if lake.exists() else 0,
        "quarantined": len([p for p in quarantine.iterdir() if p.is_dir()]) if quarantine.exists() else 0,
    }


def run_night(day: str, settings, log_path: Path | None) -> dict:
    """One ``dag.test`` from a fresh DagBag; its state, wall time, per-task durations and branch."""
    from airflow.dag_processing.dagbag import DagBag

    logical = datetime.fromisoformat(day).replace(tzinfo=UTC)
    started = time.perf_counter()
    with output_to(log_path):
        bag = DagBag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
        parsed = time.perf_counter()
        if bag.import_errors:
            raise SystemExit(f"pipeline_bench: DAG import errors: {bag.import_errors}")
        dag = bag.dags[DAG_ID]
        dr = dag.test(logical_date=logical)
    wall = time.perf_counter() - started
    load = load1()
    order = list(dag.task_ids)  # the DAG's declaration order: ingest ... decide, no_retrain, retrain.*
    tis = sorted(dr.get_task_instances(), key=lambda ti: order.index(ti.task_id) if ti.task_id in order else len(order))
    tasks = []
    for ti in tis:
        seconds = (ti.end_date - ti.start_date).total_seconds() if ti.start_date and ti.end_date else None
        tasks.append({"task_id": ti.task_id, "state": str(ti.state), "seconds": seconds, "try_number": ti.try_number})
    states = {t["task_id"]: t["state"] for t in tasks}
    assert dr.state == "success", f"DagRun {dr.run_id} of {DAG_ID} for {day}: state {dr.state}; tasks {states}" + (
        f"; task output in {log_path}" if log_path else ""
    )
    ran = [t for t in tasks if t["seconds"] is not None]
    first = min(ti.start_date for ti in tis if ti.start_date)
    last = max(ti.end_date for ti in tis if ti.end_date)
    decision = xcom(dr, "decide", "decision")
    return {
        "logical_date": day,
        "data_interval": [dr.data_interval_start.isoformat(), dr.data_interval_end.isoformat()],
        "run_id": dr.run_id,
        "state": str(dr.state),
        "wall_seconds": wall,
        "dagbag_seconds": parsed - started,
        "dag_test_seconds": wall - (parsed - started),
        "task_seconds_sum": sum(t["seconds"] for t in ran),
        "first_start_to_last_end_seconds": (last - first).total_seconds(),
        "tasks": tasks,
        "branch": "retrain.train" if states.get("retrain.train") == "success" else "no_retrain",
        "decision": decision,
        "drift_share": (xcom(dr, "detect_drift") or {}).get("drift_share"),
        "registered": xcom(dr, "retrain.register"),
        "evaluation": xcom(dr, "retrain.evaluate"),
        "lake": lake_counts(settings),
        "load1": load,
    }


def bench_log_and_register(settings, reps: int, end: datetime) -> dict:
    """Fit once on 28 days, then time log_model (explicit vs inferred requirements) and register_version."""
    import mlflow
    from mlflow.models import infer_signature

    from mlops import tracking
    from mlops.config import load_dataset
    from mlops.registry import register_version
    from mlops.training.model import predict_scores, prepare_features
    from mlops.training.train import fit, skops_trusted_types, split_windows
    from mlops.windows import read_window

    config = load_dataset(DATASET)
    window_days, holdout_days = config.training.window_days, config.training.holdout_days
    train_iv, holdout_iv = split_windows(end, window_days, holdout_days)
    t = time.perf_counter()
    train_w = read_window(config, settings, train_iv, min_rows=config.training.min_train_rows)
    holdout_w = read_window(config, settings, holdout_iv, min_rows=1)
    read_seconds = time.perf_counter() - t
    t = time.perf_counter()
    pipe, metrics = fit(config, train_w.frame, holdout_w.frame)
    fit_seconds = time.perf_counter() - t
    out: dict = {
        "window": [train_iv.start.isoformat(), holdout_iv.end.isoformat()],
        "window_days": window_days,
        "train_rows": len(train_w.frame),
        "holdout_rows": len(holdout_w.frame),
        "read_window_seconds": read_seconds,
        "fit_seconds": fit_seconds,
        "fit_load1": load1(),
        "holdout_metrics": metrics,
    }

    X_example = prepare_features(holdout_w.frame.head(200), config)
    signature = infer_signature(X_example, predict_scores(pipe, X_example, config.task))
    trusted = skops_trusted_types(pipe)
    tracking.client(settings)
    exp_id = tracking.experiment_id(settings, "bench/log_model")
    t = time.perf_counter()
    requirements = tracking.pip_requirements()
    out["pip_requirements"] = {"seconds": time.perf_counter() - t, "value": requirements}

    def log_once(label: str, pip_requirements: list[str] | None) -> dict:
        kwargs = dict(
            name="model",
            signature=signature,
            input_example=X_example.head(5),
            serialization_format="skops",
            skops_trusted_types=trusted,
        )
        if pip_requirements is not None:
            kwargs["pip_requirements"] = pip_requirements
        with mlflow.start_run(experiment_id=exp_id, run_name=f"bench log_model {label}") as run:
            t0 = time.perf_counter()
            info = mlflow.sklearn.log_model(pipe, **kwargs)
            seconds = time.perf_counter() - t0
        return {"seconds": seconds, "load1": load1(), "run_id": run.info.run_id, "model_uri": info.model_uri, "model_id": getattr(info, "model_id", None)}

    explicit = [log_once(f"explicit {i + 1}", requirements) for i in range(reps)]
    inferred = log_once("inferred", None)
    try:
        from mlflow.pyfunc import get_model_dependencies

        inferred["requirements"] = [
            line for line in Path(get_model_dependencies(inferred["model_uri"])).read_text().splitlines() if line.strip() and not line.startswith("#")
        ]
    except Exception as e:  # figures matter more than this detail
        inferred["requirements"] = f"could not read: {type(e).__name__}: {e}"
    out["log_model_explicit"] = explicit
    out["log_model_inferred"] = inferred

    client = tracking.client(settings)
    tags = {
        "mlops.dataset": config.name,
        "mlops.metrics": metrics,
        "mlops.training_window": json.dumps([train_iv.start.isoformat(), train_iv.end.isoformat()]),
        "mlops.data_hashes": {k: v[:16] for k, v in {**train_w.data_hashes, **holdout_w.data_hashes}.items()},
    }

    def register(label: str, logged: dict, run_key: str) -> dict:
        t0 = time.perf_counter()
        result = register_version(
            client,
            name=BENCH_MODEL,
            model_uri=logged["model_uri"],
            model_id=logged["model_id"],
            run_id=logged["run_id"],
            run_key=run_key,
            tags=tags,
        )
        return {"label": label, "seconds": time.perf_counter() - t0, "load1": load1(), **result}

    out["register"] = [
        register("first call (new model, version 1, alias)", explicit[0], "bench/run-1"),
        register("same run key again (idempotent look-up)", explicit[0], "bench/run-1"),
        register("new run key (version 2 of the model)", explicit[-1], "bench/run-2"),
    ]
    return out


def print_table(results: dict) -> None:
    print()
    print(f"pipeline_bench: airflow db migrate {results['db_migrate_seconds']:.1f} s [load {results['db_migrate_load1']:.2f}]")
    for night in results["nights"]:
        d = night["decision"] or {}
        print()
        iv = night["data_interval"]
        print(
            f"night {night['logical_date']} (data interval {iv[0][:16]} .. {iv[1][:16]}): {night['state']}, wall {night['wall_seconds']:.1f} s "
            f"(DagBag {night['dagbag_seconds']:.1f} s + dag.test {night['dag_test_seconds']:.1f} s; "
            f"tasks {night['task_seconds_sum']:.1f} s) [load {night['load1']:.2f}]"
        )
        print(
            f"  branch: {night['branch']}; decision {d.get('retrain')} {d.get('reasons')}; drift_share {night['drift_share']}; "
            f"lake {night['lake']['partitions']} partitions, {night['lake']['quarantined']} quarantined"
            + (f"; registered v{night['registered']['version']} @{night['registered']['alias']}" if night["registered"] else "")
        )
        print(f"  {'task':<20} {'state':<10} {'seconds':>8}")
        for t in night["tasks"]:
            secs = "-" if t["seconds"] is None else f"{t['seconds']:.2f}"
            print(f"  {t['task_id']:<20} {t['state']:<10} {secs:>8}")
    lr = results.get("log_register")
    if lr:
        print()
        print(
            f"log/register: window {lr['window'][0][:10]}..{lr['window'][1][:10]} ({lr['train_rows']} train + "
            f"{lr['holdout_rows']} holdout rows); read {lr['read_window_seconds']:.2f} s, fit {lr['fit_seconds']:.2f} s "
            f"[load {lr['fit_load1']:.2f}]; holdout roc_auc {lr['holdout_metrics'].get('roc_auc', float('nan')):.4f}"
        )
        print(f"  {'step':<55} {'seconds':>8}  load")
        for i, r in enumerate(lr["log_model_explicit"]):
            print(f"  {f'log_model, explicit pip_requirements #{i + 1}':<55} {r['seconds']:>8.2f}  {r['load1']:.2f}")
        r = lr["log_model_inferred"]
        print(f"  {'log_model, requirements inferred by MLflow':<55} {r['seconds']:>8.2f}  {r['load1']:.2f}")
        for r in lr["register"]:
            print(f"  {'register_version: ' + r['label']:<55} {r['seconds']:>8.2f}  {r['load1']:.2f}  (v{r['version']}, created {r['created']})")
        if isinstance(r := lr["log_model_inferred"].get("requirements"), list):
            print(f"  explicit requirements: {lr['pip_requirements']['value']}")
            print(f"  inferred requirements: {r}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", action="store_true", help="keep the temporary home (its path is printed)")
    ap.add_argument("--verbose", action="store_true", help="show dag.test's task output instead of writing it to a log file")
    ap.add_argument("--reps", type=int, default=3, help="log_model repetitions with explicit pip_requirements (default 3)")
    ap.add_argument("--skip-log-register", action="store_true", help="only the nights")
    ap.add_argument(
        "--nights",
        nargs=2,
        metavar=("FIRST", "COUNT"),
        help="run COUNT consecutive nights from FIRST instead of the two default nights; a blessed "
        "version becomes champion after its night, as a backfill's replayed promotion does",
    )
    ap.add_argument("--out", type=Path, default=RESULTS / "pipeline.json")
    args = ap.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="mlops-bench."))
    results: dict = {"started": datetime.now(UTC).isoformat(timespec="seconds"), "home": str(home) if args.keep else None}
    try:
        env = throwaway_environment(home)
        os.environ.clear()
        os.environ.update(env)
        Path(env["AIRFLOW_HOME"]).mkdir(parents=True)
        Path(env["MLOPS_HOME"]).mkdir(parents=True)
        print(f"pipeline_bench: throw-away home {home}; load average {os.getloadavg()[0]:.2f}")

        t = time.perf_counter()
        migrate_log = home / "db-migrate.log"
        with migrate_log.open("wb") as fh:
            proc = subprocess.run(["airflow", "db", "migrate"], stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        if proc.returncode != 0:
            raise SystemExit(f"pipeline_bench: 'airflow db migrate' failed:\n{migrate_log.read_text()[-3000:]}")
        results["db_migrate_seconds"] = time.perf_counter() - t
        results["db_migrate_load1"] = load1()
        print(f"pipeline_bench: airflow db migrate {results['db_migrate_seconds']:.1f} s")

        from mlops import tracking
        from mlops.config import Settings, load_dataset

        settings = Settings.from_env()
        model_name = load_dataset(DATASET).model_name
        results["nights"] = []
        nights = NIGHTS
        if args.nights:
            first = datetime.fromisoformat(args.nights[0])
            nights = tuple((first + timedelta(days=i)).date().isoformat() for i in range(int(args.nights[1])))
        for i, day in enumerate(nights):
            if i == 1 and not args.nights:  # stand-in for the promotion DAG: version 1 serves
                tracking.client(settings).set_registered_model_alias(model_name, "champion", "1")
            print(f"pipeline_bench: night {day} ...", flush=True)
            night = run_night(day, settings, None if args.verbose else home / f"night-{day}.log")
            results["nights"].append(night)
            if args.nights and night["registered"] and (night["evaluation"] or {}).get("blessed"):
                tracking.client(settings).set_registered_model_alias(model_name, "champion", str(night["registered"]["version"]))
            print(f"pipeline_bench: night {day}: {night['state']} in {night['wall_seconds']:.1f} s, branch {night['branch']}", flush=True)

        if not args.skip_log_register:
            print("pipeline_bench: fit once, then log_model and register_version ...", flush=True)
            # The window that ends where the last night's data interval ends: all its partitions are in the lake.
            end = datetime.fromisoformat(results["nights"][-1]["data_interval"][1])
            results["log_register"] = bench_log_and_register(settings, args.reps, end)
        results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        print_table(results)
        save(args.out, results)
    finally:
        if args.keep:
            print(f"pipeline_bench: kept the home {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
