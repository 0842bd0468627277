"""The dag-processor claims a task's success callback requests without parsing a DAG file for them.

Real callback requests, written by Airflow's own sink to a freshly migrated metadata DB, then
claimed by Airflow's manager and by the product's (each in a process of its own, on its own
copy of the DB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

CLAIM = r"""
import json, sys, uuid
from airflow.api_fastapi.execution_api.datamodels.taskinstance import TaskInstance
from airflow.callbacks.callback_requests import DagCallbackRequest, TaskCallbackRequest
from airflow.callbacks.database_callback_sink import DatabaseCallbackSink
from airflow.models.db_callback_request import DbCallbackRequest
from airflow.utils.session import create_session
from airflow.utils.state import TaskInstanceState as S
from sqlalchemy import func, select

def ti(task_id):
    return TaskInstance(id=uuid.uuid4(), task_id=task_id, dag_id="d", run_id="r", try_number=1, dag_version_id=uuid.uuid4())

sink = DatabaseCallbackSink()
for state in (S.SUCCESS, S.FAILED, S.UP_FOR_RETRY):
    sink.send(TaskCallbackRequest(filepath="d.py", bundle_name="dags-folder", bundle_version=None, ti=ti(state.value), task_callback_type=state))
sink.send(DagCallbackRequest(filepath="d.py", bundle_name="dags-folder", bundle_version=None, dag_id="d", run_id="r", is_failure_callback=False))

if sys.argv[1] == "product":
    from mlops.airflow.dag_processor import manager_class
    manager = manager_class()(max_runs=1)
else:
    from airflow.dag_processing.manager import DagFileProcessorManager
    manager = DagFileProcessorManager(max_runs=1)
manager.load_dag_bundles()
claimed = manager.fetch_callbacks()
with create_session() as session:
    left = session.scalar(select(func.count()).select_from(DbCallbackRequest))
print(json.dumps({"claimed": [getattr(r, "task_callback_type", None) or type(r).__name__ for r in claimed], "left": left}))
"""


@pytest.mark.parametrize(
    ("manager", "expected"),
    [
        ("airflow", ["success", "failed", "up_for_retry", "DagCallbackRequest"]),  # what Airflow 3.3 parses the DAG file for
        ("product", ["failed", "up_for_retry", "DagCallbackRequest"]),
    ],
)
def test_success_callbacks_of_tasks_are_claimed_and_dropped(migrated_metadata_db, manager, expected):
    env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{migrated_metadata_db}"}
    out = subprocess.run([sys.executable, "-c", CLAIM, manager], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert sorted(got["claimed"]) == sorted(expected)
    assert got["left"] == 0  # every request claimed: none stays behind for another loop


LAUNCH = r"""
import sys
from airflow.cli.commands import dag_processor_command
from mlops.airflow import dag_processor
try:
    dag_processor.main(["--help"])
except SystemExit as e:
    print("exit", e.code, dag_processor_command.DagFileProcessorManager.__name__, " ".join(sys.argv))
"""


def test_the_launcher_is_airflows_dag_processor_command_with_the_product_manager():
    out = subprocess.run([sys.executable, "-c", LAUNCH], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "airflow dag-processor [-h]" in out.stdout and "NUM_RUNS" in out.stdout  # Airflow's own options
    assert out.stdout.strip().splitlines()[-1] == "exit 0 CallbackFilteringManager airflow dag-processor --help"
