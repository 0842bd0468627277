"""The sql and files sources inside real DAG runs: the sql source through an Airflow connection.

Dataset configs for this module live in a temporary MLOPS_DATASETS_DIR, which is also what
makes the DAG file generate their DAGs: a new dataset needs a config, not code.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
import yaml

from e2e.helpers import run_dag, states, xcom
from mlops.config import DEFAULT_DATASETS_DIR
from mlops.sources.base import Interval
from mlops.sources.synthetic import SyntheticSource

pytestmark = pytest.mark.e2e

FIRST = date(2024, 3, 1)
DAYS = 7


def _config(name: str, source: dict, task: str = "classification") -> dict:
    base = yaml.safe_load((DEFAULT_DATASETS_DIR / "synthetic.yaml").read_text())
    base.update(name=name, source=source, dag={"dag_id": f"e2e_{name}", "schedule": None}, task=task)
    base["training"].update(window_days=5, holdout_days=1, min_train_rows=500)
    base["drift"] = {"reference_days": 3}
    base["labels"] = {"delay_days": 0}
    if task == "regression":
        base["model"] = {"estimator": "sklearn.linear_model.Ridge", "params": {"alpha": 1.0}}
        base["training"].update(primary_metric="rmse", metric_floors={})
        base["validation"].pop("categories", None)
        base["validation"]["categories"] = {"c0": list("abcde"), "c1": list("abcde")}
    return base


@pytest.fixture(scope="module")
def datasets(stack, tmp_path_factory):
    folder = tmp_path_factory.mktemp("datasets")
    data = tmp_path_factory.mktemp("sources")
    frames = [SyntheticSource(rows_per_day=300, seed=4).read(Interval.days(FIRST + timedelta(days=k))) for k in range(DAYS)]
    # SQL: a table with ISO-string timestamps, reached through an Airflow connection.
    db = data / "events.sqlite"
    for df in frames:
        df.assign(ts=df["ts"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_sql("events", sa.create_engine(f"sqlite:///{db}"), index=False, if_exists="append")
    os.environ["AIRFLOW_CONN_E2E_EVENTS_DB"] = json.dumps({"conn_type": "sqlite", "host": str(db)})
    # Files: one Parquet file per day, and a regression target.
    for k, df in enumerate(frames):
        df.assign(y=df["x0"] * 2.0 + df["x1"]).to_parquet(data / f"part-{k}.parquet")
    (folder / "sqlsrc.yaml").write_text(yaml.safe_dump(_config("sqlsrc", {"kind": "sql", "options": {"conn_id": "e2e_events_db", "table": "events"}})))
    (folder / "filesrc.yaml").write_text(yaml.safe_dump(_config("filesrc", {"kind": "files", "options": {"path": str(data / "*.parquet")}}, task="regression")))
    os.environ["MLOPS_DATASETS_DIR"] = str(folder)
    yield stack
    os.environ.pop("MLOPS_DATASETS_DIR", None)
    os.environ.pop("AIRFLOW_CONN_E2E_EVENTS_DB", None)
    shutil.rmtree(folder, ignore_errors=True)


def test_sql_source_through_an_airflow_connection(datasets):
    dr = run_dag("e2e_sqlsrc", "2024-03-06")
    assert dr.state == "success", states(dr)
    partition = xcom(dr, "ingest")
    assert partition["rows"] == 300 and partition["source"] == "sql:table=events"
    assert "sqlite" not in json.dumps(partition)  # the URL (a secret in general) is never recorded
    assert xcom(dr, "retrain.register")["version"] == "1"


def test_files_source_with_a_regression_config(datasets):
    dr = run_dag("e2e_filesrc", "2024-03-06")
    assert dr.state == "success", states(dr)
    assert xcom(dr, "ingest")["rows"] == 300
    metrics = xcom(dr, "retrain.train")["metrics"]
    assert set(metrics) == {"rmse", "mae", "r2"} and metrics["r2"] > 0.9
