"""Under the real scheduler and triggerer: nightly run → deferred sensor wakes → gates →
the run waits for a person → approval through Airflow's REST API → champion."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.live

NIGHTLY, PROMOTION, MODEL = "mlops_nightly_training_synthetic", "mlops_model_promotion_synthetic", "synthetic_model"


def _promotion_run(stack) -> dict | None:
    runs = stack.ok("GET", f"/api/v2/dags/{PROMOTION}/dagRuns", params={"order_by": "-run_after", "limit": 1})["dag_runs"]
    return runs[0] if runs else None


def _ti(stack, run_id: str, task_id: str) -> dict:
    return stack.ok("GET", f"/api/v2/dags/{PROMOTION}/dagRuns/{run_id}/taskInstances/{task_id}")


def test_api_refuses_requests_without_a_token(stack):
    import httpx

    assert httpx.get(f"{stack.api}/api/v2/dags", timeout=30).status_code == 401


def test_approval_in_the_loop_promotes_the_challenger(stack):
    from mlflow import MlflowClient

    from mlops.promotion.history import history

    # The promotion DAG waits continuously; its sensor defers to the triggerer (no worker slot).
    stack.unpause(PROMOTION)
    run = stack.wait_for("a promotion run", lambda: _promotion_run(stack), timeout=180)
    stack.wait_for("the sensor to defer", lambda: _ti(stack, run["dag_run_id"], "wait_for_challenger")["state"] == "deferred", timeout=240)

    stack.unpause(NIGHTLY)
    nightly = stack.trigger(NIGHTLY, "2024-01-10T00:00:00Z", {"force_retrain": True, "note": "live test"})
    assert stack.wait_run(NIGHTLY, nightly) == "success", stack.task_states(NIGHTLY, nightly)
    links = stack.ok("GET", f"/api/v2/dags/{NIGHTLY}/dagRuns/{nightly}/taskInstances/retrain.register/links")["extra_links"]
    assert links["MLflow model version"] == f"{stack.mlflow}/#/models/{MODEL}/versions/1"
    assert links["MLflow run"].startswith(f"{stack.mlflow}/#/experiments/")
    # The day's drift report and the Data Docs, served inside Airflow by the Models plugin (login required).
    assert links["Drift report"] == f"{stack.api}/mlops/reports/synthetic/drift/2024-01-10.html"
    assert links["Data Docs"] == f"{stack.api}/mlops/datadocs/index.html"
    for url in (links["Drift report"], links["Data Docs"]):
        assert stack.call("GET", url.removeprefix(stack.api)).status_code == 200, url

    # Gates pass, approval is required: the run waits for a person.
    run_id = run["dag_run_id"]
    stack.wait_for("the approval request", lambda: _ti(stack, run_id, "approve")["state"] == "awaiting_input", timeout=600)
    client = MlflowClient(tracking_uri=stack.mlflow, registry_uri=stack.mlflow)
    assert "champion" not in client.get_registered_model(MODEL).aliases
    # A person takes seconds to answer. Answering within ~1 s of the pause races the scheduler's
    # handling of the paused worker's exit (Airflow 3.3 then fails the task), so wait like one.
    time.sleep(15)
    stack.ok(
        "PATCH",
        f"/api/v2/dags/{PROMOTION}/dagRuns/{run_id}/taskInstances/approve/-1/hitlDetails",
        json={"chosen_options": ["Approve"], "params_input": {"comment": "gates look good"}},
    )
    assert stack.wait_run(PROMOTION, run_id) == "success", stack.task_states(PROMOTION, run_id)
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    (entry,) = history(client, MODEL)
    assert entry["approved_by"] == "admin" and entry["comment"] == "gates look good" and entry["approved_at"]
    # synthetic soaks challengers in shadow; the first one has no champion to soak against.
    assert entry["gates"] == {"lineage": True, "floors": True, "beats_champion": True, "serving": True, "shadow": True}
    assert entry["shadow"]["detail"] == "no champion to compare with in shadow: the offline gates decide"
    # The next run is already waiting for the next challenger.
    stack.wait_for("the next promotion run", lambda: (r := _promotion_run(stack)) and r["dag_run_id"] != run_id, timeout=120)
