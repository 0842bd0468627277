"""A backfill under the real scheduler: leak-free, ordered, production-safe, idempotent."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from pathlib import Path

import pytest

pytestmark = pytest.mark.live

DAG, MODEL, BACKFILL_MODEL = "live_backfill", "livebf_model", "livebf_model__backfill"


def _backfill(stack, start: str, end: str, **extra) -> dict:
    body = {"dag_id": DAG, "from_date": start, "to_date": end, "max_active_runs": 3, "run_backwards": False, **extra}
    created = stack.create_backfill(body)
    done = stack.wait_for(
        f"backfill {created['id']} to complete",
        lambda: (b := stack.ok("GET", f"/api/v2/backfills/{created['id']}"))["completed_at"] and b,
        timeout=1500,
        every=5,
    )
    return done


def _runs(stack, run_type: str) -> list[dict]:
    runs = stack.ok("GET", f"/api/v2/dags/{DAG}/dagRuns", params={"run_type": run_type, "limit": 100})["dag_runs"]
    return sorted(runs, key=lambda r: r["logical_date"])


def test_backfill_replays_history_without_touching_production(stack):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=stack.mlflow, registry_uri=stack.mlflow)
    stack.unpause(DAG)  # the scheduler also starts the latest scheduled interval
    # Production first: a normal run registers a version and a promotion stand-in makes it champion.
    prod = stack.trigger(DAG, "2024-01-20T00:00:00Z", {"force_retrain": True})
    assert stack.wait_run(DAG, prod) == "success", stack.task_states(DAG, prod)
    stack.wait_for(
        "production runs to finish", lambda: all(r["state"] in ("success", "failed") for r in _runs(stack, "scheduled") + _runs(stack, "manual")), timeout=600
    )
    client.set_registered_model_alias(MODEL, "champion", "1")
    before = {k: str(v) for k, v in client.get_registered_model(MODEL).aliases.items()}
    production_versions = len(client.search_model_versions(f"name = '{MODEL}'"))

    _backfill(stack, "2024-01-05T00:00:00Z", "2024-01-14T00:00:00Z")
    runs = _runs(stack, "backfill")
    assert len(runs) == 10 and {r["state"] for r in runs} == {"success"}, [(r["logical_date"], r["state"]) for r in runs]

    # Decisions in order: each day's decision ended after the model steps of the day before
    # (a backfill day's train step runs the steps after it: the day after waits for it).
    chain = ("decide", "retrain.train", "retrain.evaluate", "retrain.register", "retrain.replay_promotion")
    ended = []
    for r in runs:
        tis = stack.ok("GET", f"/api/v2/dags/{DAG}/dagRuns/{r['dag_run_id']}/taskInstances", params={"limit": 100})["task_instances"]
        ends = {
            t["task_id"]: datetime.fromisoformat(t["end_date"].replace("Z", "+00:00")) for t in tis if t["task_id"] in chain[:2] and t["state"] == "success"
        }
        ended.append((r["logical_date"], ends))
        # Validation and drift ran in ingest's process, the steps after training in train's: the
        # triggerer ended those tasks with what was recorded, without a worker process (no hostname);
        # register returns it in a worker, where its success callback (an alert) runs.
        recorded = ("validate", "detect_drift") + (("retrain.evaluate", "retrain.replay_promotion") if "retrain.train" in ends else ())
        by_id = {t["task_id"]: t for t in tis}
        assert all(by_id[t]["state"] == "success" and not by_id[t]["hostname"] for t in recorded), [
            (t, by_id[t]["state"], by_id[t]["hostname"]) for t in recorded
        ]
    for (day_before, steps_before), (day, steps) in itertools.pairwise(ended):
        assert steps["decide"] > max(steps_before.values()), (day_before, steps_before, day, steps["decide"])
    # The steps after train returned what train recorded (one model version per retraining day).
    trained_days = [day for day, steps in ended if "retrain.train" in steps]
    assert len(trained_days) == len(client.search_model_versions(f"name = '{BACKFILL_MODEL}'"))
    first = runs[0]["dag_run_id"]  # day one retrains: its register task links its version, as if it had run
    links = stack.ok("GET", f"/api/v2/dags/{DAG}/dagRuns/{first}/taskInstances/retrain.register/links")["extra_links"]
    assert f"/models/{BACKFILL_MODEL}/versions/1" in links["MLflow model version"], links
    validation = stack.ok("GET", f"/api/v2/dags/{DAG}/dagRuns/{first}/taskInstances/validate/xcomEntries/return_value")["value"]
    validation = json.loads(validation) if isinstance(validation, str) else validation
    assert validation["success"] is True, validation

    # Production untouched.
    assert {k: str(v) for k, v in client.get_registered_model(MODEL).aliases.items()} == before
    assert len(client.search_model_versions(f"name = '{MODEL}'")) == production_versions

    # The backfill's own registry: versions in logical-date order, each trained on data up to its day.
    versions = sorted(client.search_model_versions(f"name = '{BACKFILL_MODEL}'"), key=lambda v: int(v.version))
    assert len(versions) >= 2, "expected the first day and the drift from 9 January to retrain"
    assert any(json.loads(v.tags["mlops.retrain_reasons"])[0].startswith("drift:") for v in versions[1:])
    ends = [v.tags["mlops.data_interval_end"] for v in versions]
    assert ends == sorted(ends) and all(v.tags["mlops.run_type"] == "backfill" for v in versions)
    for v in versions:
        assert json.loads(v.tags["mlops.training_window"])[1] <= v.tags["mlops.data_interval_end"]
    # Day one of the backfill had no champion in its namespace, so it trained.
    assert versions[0].tags["mlops.data_interval_end"] == runs[0]["data_interval_end"].replace("Z", "+00:00")
    aliases = client.get_registered_model(BACKFILL_MODEL).aliases
    assert "champion" in aliases
    from mlops.promotion.history import history

    replayed = history(client, BACKFILL_MODEL)
    assert replayed and {e["kind"] for e in replayed} == {"backfill"}

    # The last run of the backfill left the retraining-policy report, logged to MLflow and linked;
    # the earlier runs left it to their successors instead of rebuilding the period every day.
    last = runs[-1]["dag_run_id"]
    earlier = {stack.ok("GET", f"/api/v2/dags/{DAG}/dagRuns/{r['dag_run_id']}/taskInstances/policy_report")["state"] for r in runs[:-1]}
    assert earlier == {"skipped"}
    report = stack.ok("GET", f"/api/v2/dags/{DAG}/dagRuns/{last}/taskInstances/policy_report")
    assert report["state"] == "success"
    link = stack.ok("GET", f"/api/v2/dags/{DAG}/dagRuns/{last}/taskInstances/policy_report/links")["extra_links"]["MLflow run"]
    run_id = link.rstrip("/").split("/")[-1]
    files = {a.path for a in client.list_artifacts(run_id, "policy")}
    assert files == {"policy/report.html", "policy/report.png", "policy/report.json"}
    summary = json.loads(Path(client.download_artifacts(run_id, "policy/report.json")).read_text())["summary"]
    assert summary["days_scored"] >= 8 and summary["retrains_by_policy"] == len(replayed)
    assert set(summary["mean"]) == {"policy", "never_retrain", "retrain_daily"} and summary["mean"]["retrain_daily"] is not None

    # Re-running one day of the backfill makes no new version.
    count = len(versions)
    _backfill(stack, "2024-01-08T00:00:00Z", "2024-01-08T00:00:00Z", reprocess_behavior="completed")
    assert len(client.search_model_versions(f"name = '{BACKFILL_MODEL}'")) == count
