"""End-to-end fixtures: real DAG runs (``dag.test``) on the test session's Airflow metadata DB,
a real SQLite MLflow store, real GX and scikit-learn. Each module gets its own data folder
and MLflow store, so runs do not see each other's champions."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Fresh MLOPS_HOME and MLflow store for the module; restores the environment afterwards."""
    if not os.environ.get("AIRFLOW_HOME"):
        pytest.fail("AIRFLOW_HOME is not set: run the tests through `make test` (scripts/test.sh)")
    home = tmp_path_factory.mktemp("stack")
    saved = {k: os.environ.get(k) for k in ("MLOPS_HOME", "MLFLOW_TRACKING_URI")}
    os.environ["MLOPS_HOME"] = str(home / "data")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{home / 'mlflow.db'}"
    from mlops.config import Settings

    yield Settings.from_env()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def set_variable(key: str, value) -> None:
    from airflow.models.variable import Variable

    Variable.set(key, json.dumps(value) if not isinstance(value, str) else value)


def delete_variable(key: str) -> None:
    from airflow.models.variable import Variable

    Variable.delete(key)


@contextmanager
def variable(key: str, value):
    """The Airflow Variable ``key`` set to ``value`` inside the block, deleted afterwards."""
    set_variable(key, value)
    try:
        yield
    finally:
        delete_variable(key)


def run_dag(dag_id: str, day: str, conf: dict | None = None, *, run_after: datetime | None = None):
    """Run a DAG from a fresh DagBag (``dag.test`` mutates params) and return the DagRun.

    The same ``day`` and ``run_after`` give the same run id: the second call re-runs that DAG run.
    """
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors, bag.import_errors
    logical = datetime.fromisoformat(day).replace(tzinfo=UTC)
    return bag.dags[dag_id].test(logical_date=logical, run_conf=conf, run_after=run_after)


def states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def xcom(dag_run, task_id: str, key: str = "return_value"):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.query(XComModel).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key=key).one_or_none()
        return None if row is None else XComModel.deserialize_value(row)
