"""Where the alerts plug into the DAGs: callbacks per task, DAG-level callbacks, the nightly Deadline Alert."""

from __future__ import annotations

import runpy
from datetime import timedelta
from pathlib import Path

import pytest

from mlops.alerts.deadline import DataIntervalEndDeadline, deadline_alerts_enabled
from mlops.alerts.notifiers import AlertNotifier

DAGS = Path(__file__).resolve().parents[2] / "dags"


def _events(callbacks) -> list[str]:
    callbacks = callbacks if isinstance(callbacks, list) else [callbacks] if callbacks else []
    return [c.event for c in callbacks if isinstance(c, AlertNotifier)]


def test_nightly_dag_reports_quarantine_decisions_registrations_failures_and_lateness(monkeypatch):
    monkeypatch.setenv("MLOPS_DEADLINE_ALERTS", "true")
    dag = runpy.run_path(str(DAGS / "mlops_nightly_training.py"))["mlops_nightly_training"]
    assert _events(dag.get_task("validate").on_failure_callback) == ["partition_quarantined"]
    assert _events(dag.get_task("decide").on_success_callback) == ["decision"]
    assert _events(dag.get_task("retrain.register").on_success_callback) == ["challenger_registered"]
    assert _events(dag.on_failure_callback) == ["run_failed", "digest"] and _events(dag.on_success_callback) == ["digest"]
    (deadline,) = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert isinstance(deadline.reference, DataIntervalEndDeadline) and deadline.interval == timedelta(hours=6)
    assert deadline.callback.path == "mlops.alerts.notifiers.AlertNotifier"
    assert deadline.callback.kwargs == {"event": "nightly_late", "dataset": "flights"}


def test_promotion_and_rollback_dags_report_their_decisions():
    promotion = runpy.run_path(str(DAGS / "mlops_model_promotion.py"))["mlops_model_promotion"]
    assert _events(promotion.get_task("approve").on_execute_callback) == ["approval_waiting"]
    assert _events(promotion.get_task("promote").on_success_callback) == ["promoted"]
    assert _events(promotion.get_task("finalize").on_success_callback) == ["gate_rejected"]
    assert _events(promotion.on_failure_callback) == ["run_failed"] and not promotion.deadline
    rollback = runpy.run_path(str(DAGS / "mlops_model_rollback.py"))["mlops_model_rollback"]
    assert _events(rollback.get_task("rollback").on_success_callback) == ["rolled_back"]


@pytest.mark.parametrize(
    ("env", "argv", "expected"),
    [
        ({}, ["airflow", "dag-processor"], True),
        ({}, ["airflow", "dags", "test", "mlops_nightly_training"], False),
        ({"MLOPS_DEADLINE_ALERTS": "false"}, ["airflow", "dag-processor"], False),
        ({"MLOPS_DEADLINE_ALERTS": "true"}, ["airflow", "dags", "test"], True),
    ],
)
def test_deadline_alerts_are_left_out_only_where_dag_test_cannot_run_them(env, argv, expected):
    assert deadline_alerts_enabled(env, argv) is expected


def test_unknown_callback_kinds_are_refused_at_parse_time():
    with pytest.raises(ValueError, match="AlertNotifier: event must be one of"):
        AlertNotifier("drift")
