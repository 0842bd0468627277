"""A backfill run's steps that an earlier step does in its own process, and the tasks that return what it recorded."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest

from mlops.lake import Lake
from mlops.sources.base import Interval
from mlops.sources.synthetic import SyntheticSource
from trigger_events import first_event

IV = Interval.days(date(2024, 1, 10))


class _TaskInstance:
    """A task instance as a worker's or the triggerer's: its task id and try, and the run's XComs (shared)."""

    def __init__(self, task_id: str, xcoms: dict, try_number: int = 1, run_type: str = "backfill"):
        self.task_id, self.try_number, self.xcoms, self.run_type = task_id, try_number, xcoms, run_type

    def get_template_context(self):
        return {"dag_run": SimpleNamespace(run_type=self.run_type)}

    def xcom_push(self, key, value):
        self.xcoms[(self.task_id, key)] = value

    def xcom_pull(self, task_ids, key="return_value", *, map_indexes):
        # The triggerer's supervisor answers GetXCom (one map index) only, not GetXComSequenceSlice.
        assert map_indexes == -1
        return self.xcoms.get((task_ids, key))


def _context(ti):
    start = datetime(2024, 1, 10, tzinfo=UTC)
    return {
        "ti": ti,
        "dag": SimpleNamespace(dag_id="mlops_nightly_training"),
        "run_id": "backfill__2024-01-10T00:00:00+00:00",
        "dag_run": SimpleNamespace(run_type="backfill"),
        "data_interval_start": start,
        "data_interval_end": start + timedelta(days=1),
        "params": {},
    }


def _ingest(settings, config, **source_kwargs):
    df = SyntheticSource(rows_per_day=300, seed=1, **source_kwargs).read(IV)
    Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir).write(df, IV, timestamp_column="ts", source="t")


def test_ingest_validates_and_measures_drift_and_the_two_tasks_return_it(settings, synthetic_config):
    from mlops.airflow.operators import AHEAD_STEPS_KEY, recorded_for, recorded_result, run_backfill_ahead_steps

    _ingest(settings, synthetic_config)
    xcoms: dict = {}
    steps = run_backfill_ahead_steps(_context(_TaskInstance("ingest", xcoms)), synthetic_config, settings, IV)
    assert steps["validation"]["success"] is True and "drift_share" in steps["drift"]
    assert xcoms[("ingest", AHEAD_STEPS_KEY)] == steps
    # The triggerer ends validate and detect_drift with the recorded values as their XCom ...
    assert recorded_for(_TaskInstance("validate", xcoms)) == {"return_value": steps["validation"]}
    assert recorded_for(_TaskInstance("detect_drift", xcoms)) == {"return_value": steps["drift"]}
    # ... and a worker that runs them returns the same.
    assert recorded_result(_context(_TaskInstance("detect_drift", xcoms)))["return_value"] == steps["drift"]
    # A retry or a clear of the step alone does the work again itself ...
    assert recorded_for(_TaskInstance("validate", xcoms, try_number=2)) is None
    # ... a run cleared whole (a backfill that reprocesses it) uses ingest's new record.
    run_backfill_ahead_steps(_context(_TaskInstance("ingest", xcoms, try_number=2)), synthetic_config, settings, IV)
    assert recorded_for(_TaskInstance("validate", xcoms, try_number=2))["return_value"]["success"] is True
    # Nothing recorded (a step ingest could not do), or not a backfill run: the task does its work.
    assert recorded_for(_TaskInstance("validate", {})) is None
    assert recorded_for(_TaskInstance("validate", xcoms, run_type="scheduled")) is None
    assert recorded_for(_TaskInstance("decide", xcoms)) is None


def test_a_partition_that_fails_validation_in_ingest_fails_the_validate_task_with_the_message(settings, synthetic_config):
    from airflow.sdk.exceptions import AirflowFailException

    from mlops.airflow.operators import recorded_for, recorded_result, run_backfill_ahead_steps
    from mlops.airflow.runtime import fail_fast
    from mlops.errors import ValidationFailed

    _ingest(settings, synthetic_config, incidents=[{"kind": "missing_column", "feature": "c1"}])
    xcoms: dict = {}
    steps = run_backfill_ahead_steps(_context(_TaskInstance("ingest", xcoms)), synthetic_config, settings, IV)
    assert set(steps) == {"try", "failed"} and "mismatched columns" in steps["failed"]["validation"]["message"]
    assert not Lake(settings.lake_dir, synthetic_config.name).exists(IV)  # quarantined, as the validate step does
    assert "failed" in recorded_for(_TaskInstance("validate", xcoms))
    assert recorded_for(_TaskInstance("detect_drift", xcoms)) is None  # never measured: its task is upstream-failed
    expected = r"(?s)^ValidationFailed: .*mismatched columns \{'missing': \['c1'\]\}.*found by ingest"
    with pytest.raises(AirflowFailException, match=expected) as err, fail_fast():  # fail_fast: as in the validate task
        recorded_result(_context(_TaskInstance("validate", xcoms)))
    # The quarantine alert finds the ValidationFailed and its failed expectations behind the task's failure.
    cause = err.value.__cause__
    assert isinstance(cause, ValidationFailed) and {f["expectation"] for f in cause.failed_expectations} >= {"expect_table_columns_to_match_set"}


def test_a_step_ingest_could_not_do_is_left_to_its_own_task(settings, synthetic_config):
    from mlops.airflow.operators import recorded_for, run_backfill_ahead_steps

    xcoms: dict = {}  # no partition in the lake: validation cannot even read it
    assert run_backfill_ahead_steps(_context(_TaskInstance("ingest", xcoms)), synthetic_config, settings, IV) == {"try": 1}
    assert recorded_for(_TaskInstance("validate", xcoms)) is None


def test_the_triggerer_ends_a_recorded_step_with_its_value_or_resumes_it_in_a_worker():
    from airflow.triggers.base import TaskSuccessEvent

    from mlops.airflow.operators import AHEAD_STEPS_KEY, BACKFILL_STEPS_KEY
    from mlops.airflow.triggers import RunGateTrigger

    evaluation = {"blessed": True, "challenger_metrics": {"roc_auc": 0.71}}
    xcoms = {("retrain.train", BACKFILL_STEPS_KEY): {"evaluation": evaluation, "replayed": {"decision": "promoted"}}}
    event = first_event(RunGateTrigger("recorded", "flights"), _TaskInstance("retrain.evaluate", xcoms))
    assert isinstance(event, TaskSuccessEvent) and event.xcoms == {"return_value": evaluation}
    event = first_event(RunGateTrigger("recorded", "flights"), _TaskInstance("retrain.replay_promotion", xcoms))
    assert event.xcoms == {"return_value": {"decision": "promoted"}}

    class Unreachable(_TaskInstance):
        def xcom_pull(self, *args, **kwargs):
            raise ConnectionError("API server restarting")

    # Not recorded (a nightly run), recorded as failed, or the look-up failed: the task resumes in a worker.
    failed = {("ingest", AHEAD_STEPS_KEY): {"try": 1, "failed": {"validation": {"message": "x"}}}}
    for ti in (_TaskInstance("retrain.evaluate", {}, run_type="scheduled"), _TaskInstance("validate", failed), Unreachable("detect_drift", {})):
        event = first_event(RunGateTrigger("recorded", "flights"), ti)
        assert not isinstance(event, TaskSuccessEvent) and event.payload == {"gate": "recorded", "run": True}
