"""A run with bad inputs fails its first task before any work, without retries.

Runs created outside the API server's guard (``dag.test(run_conf=...)`` here, like
``airflow dags trigger`` on the CLI) are checked by every task's ``pre_execute`` hook; the
trigger form's windows are checked by ``ingest`` before it reads a row.
"""

from __future__ import annotations

import pytest

from e2e.helpers import run_dag, states
from mlops.lake import Lake

pytestmark = pytest.mark.e2e

DAG_ID = "mlops_nightly_training_synthetic"


def _nothing_ingested(settings) -> bool:
    lake = Lake(settings.lake_dir, "synthetic", quarantine_root=settings.quarantine_dir)
    return not lake.dir.exists() or not any(lake.dir.iterdir())


def _tries(dag_run, task_id: str) -> int:
    return next(ti.try_number for ti in dag_run.get_task_instances() if ti.task_id == task_id)


def _logged(capfd) -> str:
    out, err = capfd.readouterr()
    return out + err


def test_unknown_conf_key_fails_the_first_task(stack, capfd):
    dr = run_dag(DAG_ID, "2024-01-10", {"force_retrian": True})
    assert dr.state == "failed"
    st = states(dr)
    assert st["ingest"] == "failed" and _tries(dr, "ingest") == 1  # AirflowFailException: no retries
    assert st["validate"] == "upstream_failed"
    assert not [t for t, s in st.items() if s == "success"], st
    assert _nothing_ingested(stack)
    assert "unknown run conf key 'force_retrian' (did you mean 'force_retrain'?); the keys it accepts are backfill_label" in _logged(capfd)


def test_holdout_longer_than_the_window_fails_before_any_work(stack, capfd):
    dr = run_dag(DAG_ID, "2024-01-10", {"training_window_days": 3, "holdout_days": 3})
    assert dr.state == "failed"
    assert states(dr)["ingest"] == "failed" and _tries(dr, "ingest") == 1
    assert _nothing_ingested(stack)
    assert (
        "holdout_days=3 (from the run's params (trigger form or conf)) must be smaller than training_window_days=3 "
        "(from the run's params (trigger form or conf))"
    ) in _logged(capfd)
