"""On the real stack, with a malformed dataset config beside the good ones (see conftest):
the API lists the import error naming the file and line, the good DAGs stay active and
triggerable, and triggers with undeclared or oversized conf are refused by the API server."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.live

NIGHTLY = "mlops_nightly_training_synthetic"


def test_import_error_names_the_bad_file_and_the_good_dags_stay_active(stack):
    errors = stack.wait_for(
        "the dataset configs' import error",
        lambda: stack.ok("GET", "/api/v2/importErrors")["import_errors"],
        timeout=240,
    )
    assert [e["filename"] for e in errors] == ["mlops_dataset_configs.py"]
    trace = errors[0]["stack_trace"]
    assert "broken.yaml, line 5, column 7: not valid YAML: mapping values are not allowed" in trace
    assert "<unicode string>" not in trace
    for dag_id in (NIGHTLY, "mlops_model_promotion_synthetic", "mlops_model_rollback_synthetic", "live_backfill", "live_browser"):
        dag = stack.wait_for(f"{dag_id} to be parsed", lambda d=dag_id: (r := stack.call("GET", f"/api/v2/dags/{d}")).status_code == 200 and r.json())
        assert dag["is_stale"] is False and dag["has_import_errors"] is False, dag
    assert stack.call("GET", "/api/v2/dags/live_broken").status_code == 404


def _runs(stack) -> int:
    return stack.ok("GET", f"/api/v2/dags/{NIGHTLY}/dagRuns")["total_entries"]


def test_trigger_with_an_unknown_key_is_refused_before_a_run_exists(stack):
    stack.wait_for(f"{NIGHTLY} to be parsed", lambda: stack.call("GET", f"/api/v2/dags/{NIGHTLY}").status_code == 200)
    before = _runs(stack)
    r = stack.call("POST", f"/api/v2/dags/{NIGHTLY}/dagRuns", json={"logical_date": None, "conf": {"force_retrian": True}})
    assert r.status_code == 400, r.text
    assert r.json()["detail"] == (
        f"DAG {NIGHTLY}: unknown run conf key 'force_retrian' (did you mean 'force_retrain'?); the keys it accepts are "
        "backfill_label, force_retrain, holdout_days, note, training_window_days. Nothing was run: trigger again with the right keys."
    )
    r = stack.call(
        "POST",
        "/api/v2/backfills",
        json={
            "dag_id": NIGHTLY,
            "from_date": "2024-01-01T00:00:00Z",
            "to_date": "2024-01-02T00:00:00Z",
            "dag_run_conf": {"backfil_label": "q1"},
        },
    )
    assert r.status_code == 400 and "unknown run conf key 'backfil_label' (did you mean 'backfill_label'?)" in r.json()["detail"]
    assert _runs(stack) == before


def test_a_20_mb_conf_is_refused_and_not_stored(stack):
    before = _runs(stack)
    body = {"logical_date": None, "conf": {"k" * (20 * 1024 * 1024): 1}}
    r = stack.call("POST", f"/api/v2/dags/{NIGHTLY}/dagRuns", json=body)
    assert r.status_code == 413 and r.json()["detail"].startswith(f"DAG {NIGHTLY}: the request body is larger than 1,048,576 bytes")
    small_but_big = {"logical_date": None, "conf": {"note": "x" * 500, "k" * 20_000: 1}}
    r = stack.call("POST", f"/api/v2/dags/{NIGHTLY}/dagRuns", json=small_but_big)
    assert r.status_code == 413 and "bytes as JSON; at most 16,384 are accepted" in r.json()["detail"]
    assert _runs(stack) == before
