"""The challenger trigger (serialize round trip, run yields an event) and the sensor's deferral."""

import asyncio
import importlib

import pytest

from mlops.airflow.sensors import ChallengerSensor
from mlops.airflow.triggers import ChallengerTrigger
from mlops.registry import register_version


@pytest.fixture
def registered(logged_model):
    client, model_uri, run_id = logged_model

    def register(name, key):
        return register_version(client, name=name, model_uri=model_uri, run_id=run_id, run_key=key, tags={})

    return client, register


def test_serialize_round_trip():
    trigger = ChallengerTrigger(model_name="m", poke_interval=2.5, tracking_uri="sqlite:///x.db")
    path, kwargs = trigger.serialize()
    module, _, cls = path.rpartition(".")
    assert path == "mlops.airflow.triggers.ChallengerTrigger"
    again = getattr(importlib.import_module(module), cls)(**kwargs)
    assert again.serialize() == (path, kwargs)


def test_run_yields_when_a_challenger_appears(settings, registered):
    _, register = registered
    trigger = ChallengerTrigger(model_name="unit_trigger_model", poke_interval=0.2, tracking_uri=settings.tracking_uri)

    async def scenario():
        gen = trigger.run()
        first = asyncio.ensure_future(gen.__anext__())
        await asyncio.sleep(0.6)
        assert not first.done(), "fired before any challenger existed"
        await asyncio.to_thread(register, "unit_trigger_model", "dag/t1")
        return await asyncio.wait_for(first, timeout=30)

    event = asyncio.run(scenario())
    assert event.payload == {"status": "found", "model_name": "unit_trigger_model", "version": "1"}


def test_sensor_defers_with_the_trigger_and_completes(settings):
    from airflow.sdk.exceptions import TaskDeferred

    sensor = ChallengerSensor(task_id="wait", model_name="unit_sensor_model", poke_interval=7, timeout=60, tracking_uri=settings.tracking_uri)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context={})
    trigger = deferred.value.trigger
    assert isinstance(trigger, ChallengerTrigger) and trigger.model_name == "unit_sensor_model" and trigger.poke_interval == 7
    assert deferred.value.method_name == "execute_complete" and deferred.value.timeout.total_seconds() == 60
    assert sensor.execute_complete({}, {"status": "found", "version": "4"}) == "4"
    with pytest.raises(RuntimeError, match="without a challenger"):
        sensor.execute_complete({}, None)


def test_sensor_returns_at_once_when_a_challenger_waits(settings, registered):
    _, register = registered
    register("unit_sensor_ready", "dag/s1")
    sensor = ChallengerSensor(task_id="wait", model_name="unit_sensor_ready", tracking_uri=settings.tracking_uri)
    assert sensor.execute(context={}) == "1"
    poking = ChallengerSensor(task_id="wait2", model_name="unit_sensor_ready", deferrable=False, tracking_uri=settings.tracking_uri)
    assert poking.poke({}).xcom_value == "1"
