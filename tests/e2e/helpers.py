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
    """The Airflow Variable ``key`` set to ``value`` for the block (e.g. a dataset config override)."""
    set_variable(key, value)
    try:
        yield
    finally:
        delete_variable(key)


def aliases(client, model: str) -> dict[str, str]:
    """``{alias: version}`` of a registered model."""
    return {k: str(v) for k, v in client.get_registered_model(model).aliases.items()}


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


class Story:
    """The steps of a scenario (DAG runs over consecutive days, say), each run once and in order.

    A test asks for the step it is about with ``upto(name)``: every earlier step that has not
    run yet runs first, so each test of a module runs alone as well as with the others, and
    the module runs each step once. Steps are callables without arguments; ``upto`` returns
    what the named step returned.
    """

    def __init__(self) -> None:
        self._steps: list[tuple[str, object]] = []
        self._done: dict[str, object] = {}

    def add(self, name: str, step) -> Story:
        self._steps.append((name, step))
        return self

    def upto(self, name: str):
        names = [n for n, _ in self._steps]
        if name not in names:
            raise KeyError(f"no step {name!r}; the steps are {names}")
        for step_name, step in self._steps:
            if step_name not in self._done:
                self._done[step_name] = step()
            if step_name == name:
                return self._done[step_name]
