"""The ordering sensor starts in the triggerer; its trigger finds the previous interval from its task's run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest


@pytest.mark.parametrize(
    ("start", "end", "previous"),
    [
        (datetime(2013, 3, 4, tzinfo=UTC), datetime(2013, 3, 5, tzinfo=UTC), datetime(2013, 3, 3, tzinfo=UTC)),  # daily
        (datetime(2024, 1, 8, tzinfo=UTC), datetime(2024, 1, 15, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)),  # weekly
        # A run without an interval (manual-only DAG) at 14:22: the UTC day before, as interval_of reads it.
        (datetime(2024, 1, 8, 14, 22, tzinfo=UTC), datetime(2024, 1, 8, 14, 22, tzinfo=UTC), datetime(2024, 1, 7, tzinfo=UTC)),
    ],
)
def test_the_previous_interval_is_the_one_before_the_runs_own(start, end, previous):
    import asyncio

    from mlops.airflow.runtime import previous_interval_start
    from mlops.airflow.triggers import PreviousRunTrigger

    context = {"data_interval_start": start, "data_interval_end": end, "logical_date": start, "run_id": "r"}
    assert previous_interval_start(context) == previous

    class Run:  # what the triggerer gives a trigger whose task started there
        dag_id, task_id, run_id, map_index, try_number = "d", "wait_for_previous_run", "r", -1, 1

        def get_template_context(self):
            return context

    trigger = PreviousRunTrigger("d", None, ["decide"])
    trigger.task_instance = Run()
    assert asyncio.run(asyncio.to_thread(trigger._own_previous)) == previous


def test_the_sensor_starts_in_the_triggerer_with_its_chains():
    from airflow.sdk import DAG

    from mlops.airflow.sensors import PreviousRunSensor

    with DAG("d", start_date=datetime(2024, 1, 1, tzinfo=UTC), schedule=None):
        sensor = PreviousRunSensor(task_id="w", task_ids=["decide", "train"], backfill_task_ids=["decide"], timeout=600)
        in_worker = PreviousRunSensor(task_id="w2", task_ids=["decide"], start_in_triggerer=False)
    args = sensor.start_trigger_args
    assert sensor.start_from_trigger and args.trigger_cls == "mlops.airflow.triggers.PreviousRunTrigger"
    assert args.next_method == "execute_complete" and args.timeout == timedelta(seconds=600)
    assert args.trigger_kwargs == {
        "dag_id": "d",
        "logical_date": None,
        "chain": ["decide", "train"],
        "poke_interval": 0.25,
        "idle_interval": 1.0,
        "backfill_chain": ["decide"],
    }
    assert not in_worker.start_from_trigger and in_worker.start_trigger_args is None
