"""Batch scoring figures: rows/s for a 1M-row partition (SQL write included), embedded and PostgreSQL;
and the scoring DAG's wall time per night on the flights replay.

Usage (from the repository root)::

    . .venv/bin/activate && python bench/scoring_bench.py                 # both parts, ~6-10 min here
    python bench/scoring_bench.py --part throughput --rows 1000000 --reps 2
    python bench/scoring_bench.py --part dag --nights 5

**throughput** (no Airflow): a LogisticRegression Pipeline of the synthetic dataset, trained on
5 days of 2,000 rows and registered as champion in a SQLite MLflow store, scores one
validated partition of ``--rows`` synthetic rows with ``mlops.predictions.scoring.score_partition``
(read the partition, row keys, signature check and feature preparation, predict, replace the
unit in the SQL store, write the Parquet copy; with ``--with-labels`` the partition holds its
labels, as with ``labels.delay_days: 0``, and the run stores them too), into (a) the embedded store, a SQLite file,
and (b) PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth; a database created for the
run and dropped after). Each stage is also timed on its own, and the live monitoring of the
unit (estimate calibrated on the holdout, prediction drift: ``live.after_scoring``) apart.
A re-score replaces the unit: the row count is checked after every repetition.

**dag**: a throw-away Airflow home like ``scripts/test.sh``'s (``bench/pipeline_bench.py``'s
helper); a flights champion trained on the 28 days before the first night (``train_model``,
partitions ingested and validated on the way) and registered; then for each night the
partition is ingested and validated (GX) and ``mlops_batch_scoring`` runs with ``dag.test()``
and ``partition_date`` (its asset schedule needs the real scheduler; the tasks are the same).
Prints wall time (fresh DagBag + ``dag.test``) and the two tasks' durations per night.

Writes ``bench/results/scoring.json``. Fails only when something crashes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parse_bench import load1
from record import save

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
DAY = date(2024, 2, 1)
PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/{db}"


def _pg(statement: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(PG_URL.format(db="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def _champion(settings, config) -> None:
    """Train a small model, register it and make it the champion (stand-in for the nightly and promotion DAGs)."""
    from mlops import schema, tracking
    from mlops.registry import CHAMPION, register_version
    from mlops.sources.synthetic import SyntheticSource
    from mlops.training.train import train_model

    trained = train_model(
        config,
        settings,
        end=datetime(2024, 1, 31, tzinfo=UTC),
        run_key="bench/scoring",
        source=SyntheticSource(rows_per_day=2000, seed=5),
        window_days=5,
        holdout_days=1,
    )
    tags = schema.encode_tags({schema.METRICS: trained["metrics"], schema.HOLDOUT_WINDOW: trained["holdout_window"]})
    register_version(
        tracking.client(settings),
        name=config.model_name,
        model_uri=trained["model_uri"],
        run_id=trained["run_id"],
        run_key="bench/scoring",
        tags=tags,
        alias=CHAMPION,
    )


def _stages(config, settings, store, models, cache) -> dict[str, float]:
    """Each stage of scoring one partition, timed on its own (the same calls score_partition makes)."""
    import pandas as pd

    from mlops.lake import Lake
    from mlops.predictions.keys import row_keys
    from mlops.predictions.scoring import model_inputs, predict, write_lake
    from mlops.predictions.store import Unit
    from mlops.sources.base import Interval

    model = models[0]
    loaded, signature = cache.get(model)
    t = {}
    t0 = time.perf_counter()
    frame = Lake(settings.lake_dir, config.name).read(Interval.days(DAY))
    t["read partition"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    keys = row_keys(frame, config.row_key, where="bench")
    t["row keys"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    X = model_inputs(frame, config, signature, where="bench", model=model)
    t["signature check + features"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    prediction, score = predict(loaded, X, config.task, chunk_rows=config.scoring.chunk_rows)
    t["predict"] = time.perf_counter() - t0
    out = pd.DataFrame({"row_key": keys.to_numpy(), "prediction": prediction, "score": score})
    unit = Unit(config.name, DAY, model.model_name, model.version, model.role)
    t0 = time.perf_counter()
    store.replace_predictions(unit, out, scored_at=datetime.now(UTC), dag_id="bench", run_id="stages")
    t["SQL write (delete + insert)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    write_lake(settings, unit, out)
    t["Parquet write"] = time.perf_counter() - t0
    return t


def bench_throughput(rows: int, reps: int, home: Path, with_labels: bool = False) -> dict:
    from mlops import tracking
    from mlops.config import Settings, load_dataset
    from mlops.lake import Lake
    from mlops.predictions import live
    from mlops.predictions.scoring import ModelCache, score_partition, serving_models
    from mlops.predictions.store import PredictionStore, Unit, embedded_url
    from mlops.sources.base import Interval
    from mlops.sources.synthetic import SyntheticSource

    settings = Settings(home=home / "throughput", tracking_uri=f"sqlite:///{home / 'throughput-mlflow.db'}")
    trainer = load_dataset("synthetic", override={"labels": {"delay_days": 0}, "source": {"options": {"drift": []}}})
    print(f"scoring_bench: training the champion and generating {rows:,} rows ...", flush=True)
    _champion(settings, trainer)
    # Scored as shipped (labels 3 days late): the run writes predictions only. With labels in the
    # partition (delay 0) it also stores the day's labels: --with-labels measures that too.
    config = trainer if with_labels else load_dataset("synthetic", override={"source": {"options": {"drift": []}}})
    t0 = time.perf_counter()
    frame = SyntheticSource(rows_per_day=rows, seed=11).read(Interval.days(DAY))
    lake = Lake(settings.lake_dir, config.name)
    lake.write(frame, Interval.days(DAY), timestamp_column="ts", source="bench")
    lake.mark_validated(Interval.days(DAY), {"success": True})
    generate = time.perf_counter() - t0
    client = tracking.client(settings)
    models, _ = serving_models(config, client)
    out = {"rows": rows, "columns": len(frame.columns), "generate_and_write_partition_seconds": generate, "stores": {}, "labels_stored_at_scoring": with_labels}
    pg_db = f"mlops_bench_scoring_{os.getpid()}"
    stores = {"embedded (SQLite)": embedded_url(settings.home)}
    try:
        _pg(f'create database "{pg_db}"')
        stores["PostgreSQL (COPY)"] = PG_URL.format(db=pg_db)
    except Exception as e:  # no server: report it, measure the rest
        out["postgresql_error"] = f"{type(e).__name__}: {str(e).splitlines()[0]}"
    try:
        for label, url in stores.items():
            store = PredictionStore(url)
            cache = ModelCache()
            cache.get(models[0])  # loading the model is once per run, not per row: timed apart
            runs = []
            for rep in range(reps):
                t0 = time.perf_counter()
                result = score_partition(config, settings, store, DAY, models, cache, dag_id="bench", run_id=f"r{rep}")
                seconds = time.perf_counter() - t0
                count = store.count(config.name, DAY)
                assert count == rows, f"{label}: {count} rows after re-score {rep}, expected {rows}"
                runs.append({"seconds": seconds, "rows_per_second": rows / seconds, "load1": load1()})
                print(f"scoring_bench: {label} rep {rep + 1}: {seconds:.1f} s, {rows / seconds:,.0f} rows/s [load {load1():.2f}]", flush=True)
            stages = _stages(config, settings, store, models, cache)
            loaded, signature = cache.get(models[0])
            scored = store.predictions(config.name, DAY)[["row_key", "prediction", "score"]]
            t0 = time.perf_counter()
            # The trainer's config reads the holdout with its labels in the partitions (they were ingested with it).
            monitored = live.after_scoring(
                trainer, settings, store, client, Unit(config.name, DAY, config.model_name, models[0].version, "champion"), scored, models[0], loaded, signature
            )
            monitoring = time.perf_counter() - t0
            out["stores"][label] = {
                "runs": runs,
                "best_rows_per_second": max(r["rows_per_second"] for r in runs),
                "median_seconds": statistics.median(r["seconds"] for r in runs),
                "stages": stages,
                "monitoring_seconds": monitoring,
                "monitoring": monitored,
                "units": result["units"],
            }
            store.engine.dispose()
    finally:
        if "PostgreSQL (COPY)" in stores:
            from mlops.predictions import store as store_module

            engine = store_module._engines.pop(stores["PostgreSQL (COPY)"], None)
            if engine is not None:
                engine.dispose()
            _pg(f'drop database if exists "{pg_db}" with (force)')
    return out


def bench_dag(nights: int, home: Path, verbose: bool) -> dict:
    """The scoring DAG under dag.test on the flights replay, one run per night."""
    from pipeline_bench import output_to, throwaway_environment

    env = throwaway_environment(home / "dag")
    os.environ.clear()
    os.environ.update(env)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True)
    Path(env["MLOPS_HOME"]).mkdir(parents=True)
    t0 = time.perf_counter()
    proc = subprocess.run(["airflow", "db", "migrate"], capture_output=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"scoring_bench: airflow db migrate failed:\n{proc.stdout.decode()[-2000:]}{proc.stderr.decode()[-2000:]}")
    out = {"db_migrate_seconds": time.perf_counter() - t0, "nights": []}

    from mlops import schema, tracking
    from mlops.config import Settings, load_dataset
    from mlops.ingest import ingest_interval
    from mlops.registry import CHAMPION, register_version
    from mlops.sources import build_source
    from mlops.sources.base import Interval
    from mlops.training.train import train_model
    from mlops.validation import validate_partition

    settings = Settings.from_env()
    config = load_dataset("flights")
    source = build_source(config, settings)
    first = date(2013, 3, 1)
    print("scoring_bench: training the flights champion on the 28 days before the first night ...", flush=True)
    t0 = time.perf_counter()
    trained = train_model(config, settings, end=datetime(first.year, first.month, first.day, tzinfo=UTC), run_key="bench/dag", source=source)
    tags = schema.encode_tags({schema.METRICS: trained["metrics"], schema.HOLDOUT_WINDOW: trained["holdout_window"]})
    register_version(
        tracking.client(settings),
        name=config.model_name,
        model_uri=trained["model_uri"],
        run_id=trained["run_id"],
        run_key="bench/dag",
        tags=tags,
        alias=CHAMPION,
    )
    out["champion_seconds"] = time.perf_counter() - t0
    from airflow.dag_processing.dagbag import DagBag

    for i in range(nights):
        day = first + timedelta(days=i)
        interval = Interval.days(day)
        t0 = time.perf_counter()
        ingest_interval(config, settings, interval, source)
        validate_partition(config, settings, interval)
        prepare = time.perf_counter() - t0
        log_path = None if verbose else home / f"scoring-{day}.log"
        t0 = time.perf_counter()
        with output_to(log_path):
            bag = DagBag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
            parsed = time.perf_counter()
            dr = bag.dags["mlops_batch_scoring"].test(
                logical_date=datetime(day.year, day.month, day.day, 6, tzinfo=UTC), run_conf={"partition_date": day.isoformat()}
            )
        wall = time.perf_counter() - t0
        tis = {ti.task_id: (ti.end_date - ti.start_date).total_seconds() for ti in dr.get_task_instances() if ti.start_date and ti.end_date}
        assert dr.state == "success", f"scoring run for {day}: {dr.state}; see {log_path}"
        night = {
            "day": day.isoformat(),
            "ingest_and_validate_seconds": prepare,
            "wall_seconds": wall,
            "dagbag_seconds": parsed - t0,
            "dag_test_seconds": wall - (parsed - t0),
            "tasks": tis,
            "load1": load1(),
        }
        out["nights"].append(night)
        print(
            f"scoring_bench: night {day}: scoring DAG {wall:.1f} s (DagBag {night['dagbag_seconds']:.1f} s; tasks "
            + ", ".join(f"{k} {v:.2f} s" for k, v in tis.items())
            + f") [load {load1():.2f}]",
            flush=True,
        )
    return out


def print_table(results: dict) -> None:
    tp = results.get("throughput")
    if tp:
        print(
            f"\nthroughput: {tp['rows']:,} rows x {tp['columns']} columns of synthetic, one partition, champion only"
            + (", the day's labels stored too" if tp["labels_stored_at_scoring"] else ", predictions only (labels come later)")
        )
        for label, s in tp["stores"].items():
            print(
                f"  {label:<20} best {s['best_rows_per_second']:>10,.0f} rows/s, median {s['median_seconds']:.1f} s per partition "
                f"(live monitoring of the unit apart: {s['monitoring_seconds']:.1f} s)"
            )
            print("    stages: " + "; ".join(f"{k} {v:.2f} s" for k, v in s["stages"].items()))
        if tp.get("postgresql_error"):
            print(f"  PostgreSQL not measured: {tp['postgresql_error']}")
    dag = results.get("dag")
    if dag:
        walls = [n["wall_seconds"] for n in dag["nights"]]
        print(
            f"\nscoring DAG on the flights replay, {len(walls)} nights: wall median {statistics.median(walls):.1f} s "
            f"(min {min(walls):.1f}, max {max(walls):.1f}); score task median "
            f"{statistics.median(n['tasks'].get('score', float('nan')) for n in dag['nights']):.2f} s"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=("throughput", "dag", "all"), default="all")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--nights", type=int, default=5)
    ap.add_argument("--with-labels", action="store_true", help="throughput: labels in the partition (delay 0), stored with the predictions")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS / "scoring.json")
    args = ap.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="mlops-scoring-bench."))
    results: dict = {"started": datetime.now(UTC).isoformat(timespec="seconds"), "load1_start": load1()}
    try:
        if args.part in ("throughput", "all"):
            results["throughput"] = bench_throughput(args.rows, args.reps, home, args.with_labels)
        if args.part in ("dag", "all"):
            results["dag"] = bench_dag(args.nights, home, args.verbose)
        print_table(results)
        save(args.out, results)
    finally:
        if args.keep:
            print(f"scoring_bench: kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
