"""Tasks of the nightly DAG that start in the triggerer and are skipped there when they have nothing to do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from trigger_events import first_event


def test_late_labels_run_only_for_a_dataset_whose_labels_come_late():
    from mlops.airflow.triggers import gate_verdict

    assert gate_verdict("late_labels", "flights", None) == "labels come with the partition (labels.delay_days is 0)"
    assert gate_verdict("late_labels", "synthetic", None) is None  # labels.delay_days: 3


class _Run:
    """What the gate reads of a task instance started in the triggerer: run id, data interval, task states."""

    def __init__(self, run_id, states=None, start=datetime(2013, 3, 4, tzinfo=UTC), run_type=None):
        self.run_id, self.dag_id, self.task_id = run_id, "nightly", "policy_report"
        self.start, self.states, self.asked = start, states or {}, []
        self.run_type = run_type or run_id.split("__")[0]

    def get_template_context(self):
        from types import SimpleNamespace

        end = self.start + timedelta(days=1)
        return {"data_interval_start": self.start, "data_interval_end": end, "dag_run": SimpleNamespace(run_type=self.run_type), "run_id": self.run_id}

    def get_task_states(self, **kwargs):
        self.asked.append(kwargs)
        return self.states


def test_the_policy_report_is_skipped_outside_backfills_and_left_to_a_later_backfill_day():
    from mlops.airflow.triggers import gate_verdict

    assert gate_verdict("policy_report", "flights", _Run("scheduled__2013-03-04T00:00:00+00:00")).startswith("not a backfill run")
    later = _Run("backfill__2013-03-04T00:00:00+00:00", {"backfill__2013-03-06T00:00:00+00:00": {"policy_report": None}})
    assert gate_verdict("policy_report", "flights", later) == "the report of backfill run backfill__2013-03-06T00:00:00+00:00 covers this period too"
    (asked,) = later.asked
    assert asked["logical_dates"][:2] == [datetime(2013, 3, 5, tzinfo=UTC), datetime(2013, 3, 6, tzinfo=UTC)] and len(asked["logical_dates"]) == 7
    # The backfill's last day (or one whose later days' reports failed) writes it.
    assert gate_verdict("policy_report", "flights", _Run("backfill__2013-03-04T00:00:00+00:00")) is None
    failed = _Run("backfill__2013-03-04T00:00:00+00:00", {"backfill__2013-03-05T00:00:00+00:00": {"policy_report": "failed"}})
    assert gate_verdict("policy_report", "flights", failed) is None
    # A backfill that reprocesses a scheduled run keeps its run id: the run's type decides.
    assert gate_verdict("policy_report", "flights", _Run("scheduled__2013-03-04T00:00:00+00:00", run_type="backfill")) is None


def test_the_gate_skips_in_the_triggerer_or_resumes_the_task_in_a_worker():
    from airflow.triggers.base import TaskSkippedEvent

    from mlops.airflow.triggers import RunGateTrigger

    assert isinstance(first_event(RunGateTrigger("policy_report", "flights"), _Run("manual__x")), TaskSkippedEvent)
    resumed = first_event(RunGateTrigger("late_labels", "synthetic"), None)
    assert not isinstance(resumed, TaskSkippedEvent) and resumed.payload == {"gate": "late_labels", "run": True}
    assert RunGateTrigger("late_labels", "synthetic").serialize() == ("mlops.airflow.triggers.RunGateTrigger", {"gate": "late_labels", "dataset": "synthetic"})
    with pytest.raises(ValueError, match="unknown gate"):
        first_event(RunGateTrigger("nope", "synthetic"), None)


def test_the_gated_tasks_start_in_the_triggerer():
    import runpy
    from pathlib import Path

    dag = runpy.run_path(str(Path(__file__).parents[3] / "dags" / "mlops_nightly_training.py"))["mlops_nightly_training"]
    gates = {"collect_labels": "late_labels", "policy_report": "policy_report", "wait_for_previous_run": None}
    # A backfill run's steps that ingest or train do in their process end in the triggerer with what those recorded.
    gates |= dict.fromkeys(("validate", "detect_drift", "retrain.evaluate", "retrain.replay_promotion"), "recorded")
    for task_id, gate in gates.items():
        task = dag.get_task(task_id)
        assert task.start_from_trigger, task_id
        assert hasattr(task, task.start_trigger_args.next_method), task_id  # resumable in a worker
        if gate:
            assert task.start_trigger_args.trigger_kwargs == {"gate": gate, "dataset": "flights"}
            # Left with the triggerer too long (none running), a worker does the task's work.
            assert task.start_trigger_args.timeout == timedelta(minutes=10)
    # register's success callback (the challenger_registered alert) runs only where the task runs: a worker.
    assert not dag.get_task("retrain.register").start_from_trigger


def test_a_dataset_may_keep_every_task_in_the_workers():
    """dag.start_in_triggerer: false (a night must go on while the triggerer is down)."""
    import runpy
    from pathlib import Path

    module = runpy.run_path(str(Path(__file__).parents[3] / "dags" / "mlops_nightly_training.py"))
    spec = next(s for s in module["dag_specs"]() if s["dataset"] == "flights")
    dag = module["build_dag"]({**spec, "dag_id": "flights_in_workers", "start_in_triggerer": False})
    assert not any(task.start_from_trigger for task in dag.tasks)


def test_a_gated_task_the_triggerer_did_not_take_in_time_does_its_work_in_a_worker():
    from airflow.sdk import BaseOperator
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
    from airflow.sdk.exceptions import TaskDeferralError

    from mlops.airflow.operators import ResumesFromGate

    class Step(ResumesFromGate, BaseOperator):
        def execute(self, context):
            return "did its work"

    step = Step(task_id="step")
    assert step.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, {}) == "did its work"
    assert step.resume_execution("execute_complete", {"event": {"gate": "recorded", "run": True}}, {}) == "did its work"
    with pytest.raises(TaskDeferralError):  # any other failure of the trigger stays a failure
        step.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_FAILURE}, {})
