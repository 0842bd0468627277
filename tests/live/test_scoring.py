"""Under the real scheduler: a validated nightly partition triggers the scoring DAG through its asset,
the predictions land in the SQL store with the champion's version, a second scoring of the same
partition leaves the row count unchanged, and a quarantined partition triggers nothing."""

from __future__ import annotations

import json
import time
from datetime import date

import pytest

pytestmark = pytest.mark.live

NIGHTLY, SCORING, MODEL, DATASET = "live_scoring_nightly", "live_scoring", "livescore_model", "livescore"
ROWS = 300


def _scoring_runs(stack) -> list[dict]:
    return stack.ok("GET", f"/api/v2/dags/{SCORING}/dagRuns", params={"order_by": "run_after", "limit": 100})["dag_runs"]


def _new_scoring_run(stack, seen: int) -> dict:
    runs = stack.wait_for("the asset to trigger a scoring run", lambda: (r := _scoring_runs(stack)) and len(r) > seen and r, timeout=300)
    run = runs[-1]
    assert run["run_type"] == "asset_triggered", run
    assert stack.wait_run(SCORING, run["dag_run_id"], timeout=600) == "success", stack.task_states(SCORING, run["dag_run_id"])
    return stack.ok("GET", f"/api/v2/dags/{SCORING}/dagRuns/{run['dag_run_id']}")


def _asset_events(stack) -> list[dict]:
    (asset,) = stack.ok("GET", "/api/v2/assets", params={"name_pattern": f"mlops_validated_partition__{DATASET}"})["assets"]
    return stack.ok("GET", "/api/v2/assets/events", params={"asset_id": asset["id"], "limit": 100})["asset_events"]


def _store(stack):
    from mlops.predictions.store import PredictionStore, embedded_url

    return PredictionStore(embedded_url(stack.home / "airflow" / "data"))


def test_validated_partitions_are_scored_through_the_asset_and_bad_ones_never(stack):
    from mlflow import MlflowClient

    stack.unpause(SCORING)
    stack.unpause(NIGHTLY)

    # Night 1: no champion yet. The validated partition still triggers scoring, which says why it skipped.
    first = stack.trigger(NIGHTLY, "2024-01-10T00:00:00Z")
    assert stack.wait_run(NIGHTLY, first, timeout=900) == "success", stack.task_states(NIGHTLY, first)
    run = _new_scoring_run(stack, 0)
    assert stack.task_states(SCORING, run["dag_run_id"])["score"] == "skipped"
    assert run["note"].startswith("Batch scoring\nds=2024-01-10: skipped: no champion yet: models:/livescore_model@champion does not exist")

    # The promotion DAG's job, done by hand here: version 1 serves.
    MlflowClient(tracking_uri=stack.mlflow, registry_uri=stack.mlflow).set_registered_model_alias(MODEL, "champion", "1")
    second = stack.trigger(NIGHTLY, "2024-01-11T00:00:00Z")
    run = _new_scoring_run(stack, 1)
    assert stack.wait_run(NIGHTLY, second, timeout=900) == "success", stack.task_states(NIGHTLY, second)
    assert run["note"].startswith("Batch scoring\nds=2024-01-11: scored by v1 (champion, 300 rows)"), run["note"]
    store = _store(stack)
    day = date(2024, 1, 11)
    assert store.count(DATASET, day, model_name=MODEL, version=1, role="champion") == ROWS
    total = store.count(DATASET)
    event = next(e for e in _asset_events(stack) if e["extra"]["partition"] == "2024-01-11")
    assert event["extra"]["rows"] == ROWS and len(event["extra"]["content_hash"]) == 64 and event["source_dag_id"] == NIGHTLY

    # The Models page, through the api-server (the store through the connection mlops_predictions).
    production = stack.ok("GET", f"/mlops/api/models/{DATASET}")["production"]
    assert production["days"] == ["2024-01-11"] and production["champion"]["version"] == [1]
    assert production["champion"]["estimated"][0] is not None and production["champion"]["realised"] == [None]  # labels: 3 days later
    page = stack.call("GET", "/mlops/models", params={"dataset": DATASET})
    assert page.status_code == 200 and 'id="production-chart"' in page.text and "No labels have arrived yet." in page.text

    # A second scoring of the same partition replaces its rows.
    again = stack.trigger(SCORING, None, {"partition_date": "2024-01-11"})
    assert stack.wait_run(SCORING, again, timeout=600) == "success", stack.task_states(SCORING, again)
    assert store.count(DATASET) == total and store.count(DATASET, day, version=1, role="champion") == ROWS
    seen = len(_scoring_runs(stack))

    # A partition that fails validation is quarantined: no asset event, no scoring run.
    override = {"source": {"options": {"incidents": [{"kind": "missing_column", "feature": "x3", "start": "2024-01-12", "end": "2024-01-13"}]}}}
    stack.ok("POST", "/api/v2/variables", json={"key": f"mlops_dataset__{DATASET}", "value": json.dumps(override)})
    try:
        bad = stack.trigger(NIGHTLY, "2024-01-12T00:00:00Z")
        assert stack.wait_run(NIGHTLY, bad, timeout=900) == "failed"
        assert stack.task_states(NIGHTLY, bad)["validate"] == "failed"
    finally:
        stack.ok("DELETE", f"/api/v2/variables/mlops_dataset__{DATASET}")
    time.sleep(45)  # several scheduler loops: an asset event would have created a run by now
    assert len(_scoring_runs(stack)) == seen
    assert not [e for e in _asset_events(stack) if e["extra"]["partition"] == "2024-01-12"]
    assert store.count(DATASET, date(2024, 1, 12)) == 0
