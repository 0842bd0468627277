"""Under the real scheduler and triggerer: the shadow soak waits deferred in the triggerer, the triggerer
is stopped and started again with the project's scripts mid-soak, and the soak resumes without losing a look.

Champion v1 (a constant predictor) serves; v2 (a logistic regression) is scored in shadow by
the asset-triggered scoring DAG; labels come a day late. The soak looks at day 01-11 while the
triggerer runs, day 01-12 is labelled while it is down, and the restarted triggerer looks at
it: two looks, in order, then "better", the approval (required in the live stack) and the
promotion.
"""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.live

NIGHTLY, SCORING, PROMOTION = "live_soak_nightly", "live_soak_scoring", "live_soak_promotion"
MODEL, DATASET = "livesoak_model", "livesoak"
CONSTANT = {"model": {"estimator": "sklearn.dummy.DummyClassifier", "params": {"strategy": "prior"}}}


def _store(stack):
    from mlops.predictions.store import PredictionStore, embedded_url

    return PredictionStore(embedded_url(stack.home / "airflow" / "data"))


def _looks(stack) -> list[str]:
    looks = _store(stack).shadow_looks(DATASET, MODEL, 2)
    return [str(d) for d in looks["partition_date"]]


def _night(stack, day: str, *, retrain: bool = False) -> None:
    """The nightly run of ``day`` and the scoring run its validated partition triggers."""
    before = len(stack.ok("GET", f"/api/v2/dags/{SCORING}/dagRuns", params={"limit": 100})["dag_runs"])
    run = stack.trigger(NIGHTLY, f"{day}T00:00:00Z", {"force_retrain": retrain})
    assert stack.wait_run(NIGHTLY, run, timeout=900) == "success", stack.task_states(NIGHTLY, run)
    scoring = stack.wait_for(
        f"the scoring run of {day}",
        lambda: (
            (r := stack.ok("GET", f"/api/v2/dags/{SCORING}/dagRuns", params={"order_by": "run_after", "limit": 100})["dag_runs"]) and len(r) > before and r[-1]
        ),
        timeout=300,
    )
    assert stack.wait_run(SCORING, scoring["dag_run_id"], timeout=600) == "success", stack.task_states(SCORING, scoring["dag_run_id"])


def _soak_ti(stack, run_id: str) -> dict:
    return stack.ok("GET", f"/api/v2/dags/{PROMOTION}/dagRuns/{run_id}/taskInstances/shadow_soak")


def test_the_soak_waits_in_the_triggerer_and_resumes_after_a_restart_without_losing_a_look(stack):
    from mlflow import MlflowClient

    from mlops.promotion.history import history

    client = MlflowClient(tracking_uri=stack.mlflow, registry_uri=stack.mlflow)
    for dag_id in (NIGHTLY, SCORING):
        stack.unpause(dag_id)
    stack.ok("POST", "/api/v2/variables", json={"key": f"mlops_dataset__{DATASET}", "value": json.dumps(CONSTANT)})
    try:
        _night(stack, "2024-01-10", retrain=True)
    finally:
        stack.ok("DELETE", f"/api/v2/variables/mlops_dataset__{DATASET}")
    client.set_registered_model_alias(MODEL, "champion", "1")  # the first champion, by hand
    _night(stack, "2024-01-11", retrain=True)  # v2
    # The partition's asset event starts its scoring while the nightly run still trains, so 01-11 may
    # have been scored before v2 existed; a manual re-score of the day scores it in shadow too.
    rescore = stack.trigger(SCORING, None, {"partition_date": "2024-01-11"})
    assert stack.wait_run(SCORING, rescore, timeout=600) == "success", stack.task_states(SCORING, rescore)
    assert _store(stack).count(DATASET, role="shadow", version=2) == 500

    stack.unpause(PROMOTION)
    run = stack.wait_for("a promotion run", lambda: (r := stack.ok("GET", f"/api/v2/dags/{PROMOTION}/dagRuns")["dag_runs"]) and r[0], timeout=180)
    run_id = run["dag_run_id"]
    stack.wait_for("the soak to defer", lambda: _soak_ti(stack, run_id)["state"] == "deferred", timeout=600)
    assert _looks(stack) == []  # no label yet: nothing to look at

    _night(stack, "2024-01-12")  # the labels of 01-11 arrive; 01-12 is scored in shadow
    stack.wait_for("the trigger's first look", lambda: _looks(stack) == ["2024-01-11"], timeout=300)
    assert _soak_ti(stack, run_id)["state"] == "deferred"  # one day is below min_days: still waiting, in the triggerer

    old_pid = (stack.home / "airflow" / "run" / "triggerer.pid").read_text().strip()
    stack.stop_component("triggerer")
    _night(stack, "2024-01-13")  # the labels of 01-12 arrive while no triggerer runs
    assert _looks(stack) == ["2024-01-11"] and _soak_ti(stack, run_id)["state"] == "deferred"
    stack.start()  # scripts/run.sh starts what is not running: the triggerer
    assert (stack.home / "airflow" / "run" / "triggerer.pid").read_text().strip() != old_pid

    stack.wait_for("the approval request after the soak", lambda: stack.task_states(PROMOTION, run_id).get("approve") == "awaiting_input", timeout=600)
    looks = _store(stack).shadow_looks(DATASET, MODEL, 2)
    assert [str(d) for d in looks["partition_date"]] == ["2024-01-11", "2024-01-12"] and list(looks["seq"]) == [1, 2]
    gate = json.loads(client.get_model_version(MODEL, "2").tags["mlops.gate.shadow"])
    assert gate["decision"] == "promote" and [row[0] for row in gate["looks"]] == ["2024-01-11", "2024-01-12"] and gate["lower"] > 0
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"  # nothing moves before the approval
    page = stack.call("GET", "/mlops/models", params={"dataset": DATASET})
    assert page.status_code == 200 and 'id="shadow-chart"' in page.text and '<span id="shadow-decision" class="ok">promote</span>' in page.text
    time.sleep(15)  # answer like a person, not within a second of the pause (see test_promotion_approval.py)
    stack.ok(
        "PATCH",
        f"/api/v2/dags/{PROMOTION}/dagRuns/{run_id}/taskInstances/approve/-1/hitlDetails",
        json={"chosen_options": ["Approve"], "params_input": {"comment": "soak passed"}},
    )
    assert stack.wait_run(PROMOTION, run_id, timeout=600) == "success", stack.task_states(PROMOTION, run_id)
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "2"
    entry = history(client, MODEL)[-1]
    assert entry["version"] == "2" and entry["gates"]["shadow"] is True and entry["shadow"]["days"] == 2 and entry["comment"] == "soak passed"
