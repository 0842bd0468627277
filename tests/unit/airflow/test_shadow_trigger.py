"""The shadow soak's trigger (serialize round trip; run fires when labelled days decide) and the operator's deferral.

Real SQLite prediction store under MLOPS_HOME, real MLflow registry, the dataset config read
with its Airflow Variable as the triggerer reads it.
"""

from __future__ import annotations

import asyncio
import importlib
from datetime import date, timedelta

import pytest

from mlops.airflow.operators import ShadowSoakOperator
from mlops.airflow.triggers import ShadowSoakTrigger
from mlops.predictions.store import PredictionStore, embedded_url
from mlops.registry import register_version
from unit.promotion.soak_data import label, scored_day

START = date(2024, 3, 1)
VARIABLE = "mlops_dataset__synthetic"


@pytest.fixture
def soak(logged_model, settings, monkeypatch, request):
    """Champion 1 and challenger 2 of a fresh model; the synthetic config points at it through its Airflow Variable.

    The Variable comes from the environment (``AIRFLOW_VAR_...``), where Airflow looks first in any process.
    """
    import json

    client, model_uri, run_id = logged_model
    name = f"unit_soak_trigger_{request.node.name[:30]}"
    for k in (1, 2):
        register_version(client, name=name, model_uri=model_uri, run_id=run_id, run_key=f"dag/t{k}", tags={})
    for tag in ("mlops.decision", "mlops.decision_at", "mlops.decision_by", "mlops.superseded_by"):
        client.delete_model_version_tag(name, "1", tag)
    client.set_registered_model_alias(name, "champion", "1")
    monkeypatch.setenv("MLOPS_HOME", str(settings.home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", settings.tracking_uri)
    override = {"registered_model_name": name, "promotion": {"shadow": {"min_days": 2, "max_days": 8, "min_rows": 200, "poke_seconds": 0.2}}}
    monkeypatch.setenv(f"AIRFLOW_VAR_{VARIABLE.upper()}", json.dumps(override))
    return client, name, PredictionStore(embedded_url(settings.home))


def test_serialize_round_trip():
    trigger = ShadowSoakTrigger(dataset="synthetic", version="7", poke_interval=3.0, tracking_uri="sqlite:///x.db", max_failures=4)
    path, kwargs = trigger.serialize()
    module, _, cls = path.rpartition(".")
    assert path == "mlops.airflow.triggers.ShadowSoakTrigger"
    again = getattr(importlib.import_module(module), cls)(**kwargs)
    assert again.serialize() == (path, kwargs)


def test_run_waits_for_labelled_days_and_fires_when_the_soak_decides(soak):
    _, name, store = soak
    days = [START + timedelta(days=i) for i in range(8)]
    labels = {d: scored_day(store, name, d, champion=1, challenger=2, challenger_noise=0.2) for d in days}
    trigger = ShadowSoakTrigger(dataset="synthetic", version="2", poke_interval=0.2)

    async def scenario():
        gen = trigger.run()
        event = asyncio.ensure_future(gen.__anext__())
        await asyncio.sleep(1.5)
        assert not event.done(), "fired before any day was labelled"
        for d in days:  # the labels of one day arrive; the trigger looks; the next day ...
            await asyncio.to_thread(label, store, d, labels[d])
            await asyncio.sleep(1.0)
            if event.done():
                break
        return await asyncio.wait_for(event, timeout=60)

    event = asyncio.run(scenario())
    assert event.payload["status"] == "decided"
    result = event.payload["result"]
    assert result["decision"] == "promote" and result["version"] == "2" and result["champion_version"] == "1"
    looks = store.shadow_looks("synthetic", name, 2)
    assert list(looks["partition_date"]) == days[: result["days"]] and len(looks) >= 2


def test_operator_looks_then_defers_and_completes_with_the_trigger_result(soak):
    from airflow.sdk.exceptions import TaskDeferred

    from mlops.errors import PromotionFailed

    _, name, store = soak
    operator = ShadowSoakOperator(task_id="shadow_soak", dataset="synthetic", version="2")
    context = {"dag": type("D", (), {"dag_id": "unit"})(), "run_id": "r1"}
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, ShadowSoakTrigger) and (trigger.dataset, trigger.version, trigger.poke_interval) == ("synthetic", "2", 0.2)
    assert deferred.value.method_name == "execute_complete" and deferred.value.timeout == timedelta(days=8 + 3 + 7)
    result = {"decision": "reject", "detail": "challenger significantly worse"}
    assert operator.execute_complete(context, {"status": "decided", "result": result}) == result
    with pytest.raises(PromotionFailed, match=r"ended without a decision: '30 looks in a row failed.*clear this task: the soak resumes from its stored looks"):
        operator.execute_complete(context, {"status": "error", "error": "30 looks in a row failed, the last with StoreError: x"})
    # Labelled days that decide already: no deferral at all.
    for i in range(8):
        d = START + timedelta(days=i)
        label(store, d, scored_day(store, name, d, champion=1, challenger=2, challenger_noise=0.2))
    decided = operator.execute(context)
    assert decided["decision"] == "promote"


def test_run_keeps_looking_through_failures_then_gives_up_with_the_error(settings, monkeypatch):
    monkeypatch.setenv("MLOPS_HOME", str(settings.home))
    trigger = ShadowSoakTrigger(dataset="no_such_dataset", version="2", poke_interval=0.1, tracking_uri=settings.tracking_uri, max_failures=3)

    async def first_event():
        return await asyncio.wait_for(trigger.run().__anext__(), timeout=60)

    event = asyncio.run(first_event())
    assert event.payload["status"] == "error"
    assert event.payload["error"].startswith("3 looks in a row failed, the last with ConfigError: dataset config ")
    assert "no_such_dataset.yaml not found" in event.payload["error"]
