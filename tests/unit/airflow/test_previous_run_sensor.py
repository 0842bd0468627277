"""The ordering sensor starts in the triggerer: the previous interval's date is rendered there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest


def _render(template: str, start: datetime, end: datetime) -> str:
    import jinja2
    from airflow.sdk.definitions._internal.templater import Templater  # noqa: F401  (Airflow's Jinja set-up)
    from airflow.sdk.execution_time import macros

    return jinja2.Environment().from_string(template).render(data_interval_start=start, data_interval_end=end, macros=macros)


@pytest.mark.parametrize(
    ("start", "end", "previous"),
    [
        (datetime(2013, 3, 4, tzinfo=UTC), datetime(2013, 3, 5, tzinfo=UTC), "2013-03-03T00:00:00+00:00"),  # daily
        (datetime(2024, 1, 8, tzinfo=UTC), datetime(2024, 1, 15, tzinfo=UTC), "2024-01-01T00:00:00+00:00"),  # weekly
        (datetime(2024, 1, 8, tzinfo=UTC), datetime(2024, 1, 8, tzinfo=UTC), "2024-01-07T00:00:00+00:00"),  # no interval: a day back
    ],
)
def test_the_previous_interval_is_rendered_from_the_runs_data_interval(start, end, previous):
    from mlops.airflow.sensors import PreviousRunSensor

    assert _render(PreviousRunSensor.PREVIOUS_INTERVAL, start, end) == previous


def test_the_sensor_starts_in_the_triggerer_with_its_chains():
    from airflow.sdk import DAG

    from mlops.airflow.sensors import PreviousRunSensor

    with DAG("d", start_date=datetime(2024, 1, 1, tzinfo=UTC), schedule=None):
        sensor = PreviousRunSensor(task_id="w", task_ids=["decide", "train"], backfill_task_ids=["decide"], timeout=600)
        in_worker = PreviousRunSensor(task_id="w2", task_ids=["decide"], start_in_triggerer=False)
    args = sensor.start_trigger_args
    assert sensor.start_from_trigger and args.trigger_cls == "mlops.airflow.triggers.PreviousRunTrigger"
    assert args.next_method == "execute_complete" and args.timeout == timedelta(seconds=600)
    assert args.trigger_kwargs | {"logical_date": None} == {
        "dag_id": "d",
        "logical_date": None,
        "chain": ["decide", "train"],
        "poke_interval": 0.25,
        "idle_interval": 1.0,
        "backfill_chain": ["decide"],
    }
    # The triggerer renders the operator's template fields that are also trigger arguments.
    assert "logical_date" in sensor.template_fields and args.trigger_kwargs["logical_date"] == sensor.logical_date
    assert not in_worker.start_from_trigger and in_worker.start_trigger_args is None
