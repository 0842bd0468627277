"""The production profile end to end: PostgreSQL, CeleryExecutor on Redis with two workers,
MLflow with basic-auth on PostgreSQL; three nightly runs and a promotion through the REST API."""

from __future__ import annotations

import os
import subprocess
import time

import httpx
import pytest

from live.stack import ROOT

from .conftest import DATABASE_KEYS, profile_env, settings, write_env_file

pytestmark = pytest.mark.prod

NIGHTLY, PROMOTION, MODEL = "mlops_nightly_training_synthetic", "mlops_model_promotion_synthetic", "synthetic_model"
SCORING = "mlops_batch_scoring_synthetic"
DAYS = ("2024-01-10", "2024-01-11", "2024-01-12")
TRAINING_TASKS = {"retrain.train", "retrain.evaluate"}
MODEL_TASKS = {"decide", "retrain.register", "retrain.replay_promotion"}


def test_the_profile_refuses_to_start_without_passwords(tmp_path):
    values = settings("mlops_never_created", 28999, 25999)
    del values["MLOPS_AIRFLOW_PASSWORD_ADMIN"]
    values["MLOPS_MLFLOW_PASSWORD"] = "short"
    env = profile_env(tmp_path, write_env_file(tmp_path / "prod.env", values))
    proc = subprocess.run(["bash", "scripts/run.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "MLOPS_AIRFLOW_PASSWORD_ADMIN (password of Airflow user 'admin') is missing" in proc.stderr
    assert "MLOPS_MLFLOW_PASSWORD is shorter than 12 characters" in proc.stderr
    assert not list((tmp_path / "airflow" / "run").glob("*.pid")), "nothing may start"
    for value in values.values():  # no secret is echoed
        if len(value) >= 12:
            assert value not in proc.stdout + proc.stderr


def test_anonymous_requests_are_refused(prod_stack):
    assert httpx.get(f"{prod_stack.api}/api/v2/dags", timeout=30).status_code == 401
    search = f"{prod_stack.mlflow}/api/2.0/mlflow/experiments/search?max_results=1"
    assert httpx.get(search, timeout=30).status_code == 401
    assert httpx.get(search, auth=("mlops-pipeline", "wrong-password-123"), timeout=30).status_code == 401
    pipeline = (prod_stack.settings["MLOPS_MLFLOW_USER"], prod_stack.settings["MLOPS_MLFLOW_PASSWORD"])
    assert httpx.get(search, auth=pipeline, timeout=30).status_code == 200
    # The pipeline's user is not an MLflow admin: it cannot create users.
    r = httpx.post(f"{prod_stack.mlflow}/api/2.0/mlflow/users/create", json={"username": "x", "password": "y" * 16}, auth=pipeline, timeout=30)
    assert r.status_code == 403


def _tis(stack, dag_id: str, run_id: str) -> list[dict]:
    return stack.ok("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]


def _latest_promotion_run(stack) -> dict | None:
    runs = stack.ok("GET", f"/api/v2/dags/{PROMOTION}/dagRuns", params={"order_by": "-run_after", "limit": 1})["dag_runs"]
    return runs[0] if runs else None


def test_nightly_runs_on_celery_workers_and_the_promotion_lands_in_postgresql(prod_stack):
    import sqlalchemy as sa
    from mlflow import MlflowClient

    from mlops.promotion.history import history

    stack = prod_stack
    stack.unpause(PROMOTION)
    stack.unpause(NIGHTLY)
    runs = [stack.trigger(NIGHTLY, f"{day}T00:00:00Z", {"note": "production profile test"}) for day in DAYS]
    for run_id in runs:
        assert stack.wait_run(NIGHTLY, run_id, timeout=900) == "success", stack.task_states(NIGHTLY, run_id)

    # Which worker ran what: training and evaluation from the training queue, the other model steps
    # from the model queue, both on the training worker; the rest on the default one.
    ran = [ti for run_id in runs for ti in _tis(stack, NIGHTLY, run_id) if ti["state"] == "success" and ti["operator"] != "EmptyOperator"]
    where = {(ti["task_id"], ti["queue"], ti["hostname"]) for ti in ran}
    # The ordering sensor starts and ends in the triggerer (dag.start_in_triggerer): no worker ran it.
    assert {(q, h) for t, q, h in where if t == "wait_for_previous_run"} == {("default", "")}
    where = {(t, q, h) for t, q, h in where if t != "wait_for_previous_run"}
    assert {t for t, _, _ in where} >= {"ingest", "validate", "detect_drift", "decide", *TRAINING_TASKS, "retrain.register"}
    for task_id, queue, hostname in where:
        expected = (
            ("training", "worker-training")
            if task_id in TRAINING_TASKS
            else ("model", "worker-training")
            if task_id in MODEL_TASKS
            else ("default", "worker-default")
        )
        assert (queue, hostname) == expected, (task_id, queue, hostname)

    # Both workers imported the ML libraries once, before forking their pools (mlops.airflow.celery_config).
    for worker in ("worker-default", "worker-training"):
        log = (stack.home / "airflow" / "logs" / f"{worker}.log").read_text()
        assert "preloaded modules" in log and '"pandas":' in log and '"mlflow":' in log, f"{worker} did not preload"

    # The promotion DAG's sensor saw the challenger; approval is required in this profile.
    run = stack.wait_for(
        "a promotion run awaiting approval",
        lambda: (
            (r := _latest_promotion_run(stack))
            and r["state"] == "running"
            and any(ti["task_id"] == "approve" and ti["state"] == "awaiting_input" for ti in _tis(stack, PROMOTION, r["dag_run_id"]))
            and r
        ),
        timeout=900,
    )
    time.sleep(15)  # a person takes seconds to answer (see tests/live/test_promotion_approval.py)
    stack.ok(
        "PATCH",
        f"/api/v2/dags/{PROMOTION}/dagRuns/{run['dag_run_id']}/taskInstances/approve/-1/hitlDetails",
        json={"chosen_options": ["Approve"], "params_input": {"comment": "production profile test"}},
    )
    assert stack.wait_run(PROMOTION, run["dag_run_id"]) == "success", stack.task_states(PROMOTION, run["dag_run_id"])
    promoted = [ti for ti in _tis(stack, PROMOTION, run["dag_run_id"]) if ti["task_id"] == "promote"]
    assert promoted and promoted[0]["hostname"] == "worker-default"

    client = MlflowClient(tracking_uri=stack.mlflow, registry_uri=stack.mlflow)
    champion = client.get_model_version_by_alias(MODEL, "champion")
    (entry,) = history(client, MODEL)
    assert entry["version"] == champion.version and entry["approved_by"] == "admin"

    # ... and all of it is in MLflow's PostgreSQL store.
    engine = sa.create_engine(
        sa.URL.create("postgresql+psycopg2", username="postgres", host="127.0.0.1", port=5432, database=stack.settings["MLOPS_MLFLOW_DB"])
    )
    try:
        with engine.connect() as conn:
            versions = conn.execute(sa.text("select version from model_versions where name = :n"), {"n": MODEL}).scalars().all()
            alias = conn.execute(sa.text("select version from registered_model_aliases where name = :n and alias = 'champion'"), {"n": MODEL}).scalar()
            tags = conn.execute(sa.text("select key from registered_model_tags where name = :n and key like 'mlops.history.%'"), {"n": MODEL}).scalars().all()
    finally:
        engine.dispose()
    assert str(alias) == champion.version and int(champion.version) in versions and len(tags) == 1


def test_the_champion_scores_a_validated_partition_into_postgresql(prod_stack):
    """After the promotion above: the asset-triggered scoring DAG writes to the profile's prediction database."""
    import sqlalchemy as sa
    from mlflow import MlflowClient

    stack = prod_stack
    champion = MlflowClient(tracking_uri=stack.mlflow, registry_uri=stack.mlflow).get_model_version_by_alias(MODEL, "champion")
    stack.unpause(SCORING)
    night = stack.trigger(NIGHTLY, "2024-01-13T00:00:00Z", {"note": "production profile scoring"})
    assert stack.wait_run(NIGHTLY, night, timeout=900) == "success", stack.task_states(NIGHTLY, night)

    def scored() -> bool:
        runs = stack.ok("GET", f"/api/v2/dags/{SCORING}/dagRuns", params={"state": ["success"], "limit": 20})["dag_runs"]
        return any("ds=2024-01-13: scored" in (r.get("note") or "") for r in runs)

    stack.wait_for("a scoring run of 2024-01-13", scored, timeout=900)
    engine = sa.create_engine(
        sa.URL.create("postgresql+psycopg2", username="postgres", host="127.0.0.1", port=5432, database=stack.settings["MLOPS_PREDICTIONS_DB"])
    )
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "select version, role, count(*), count(distinct row_key) from predictions where dataset = 'synthetic' "
                    "and partition_date = '2024-01-13' group by version, role order by role"
                )
            ).all()
    finally:
        engine.dispose()
    champion_rows = [r for r in rows if r[1] == "champion"]
    assert champion_rows and champion_rows[0][0] == int(champion.version) and champion_rows[0][2] == champion_rows[0][3] == 800


def test_the_profile_keeps_to_databases_of_its_own(prod_stack):
    """Every database the profile uses, the product's alert log included, is named by its settings:
    a test stack never writes into the host's default databases, and all of them are dropped after."""
    import sqlalchemy as sa

    engine = sa.create_engine(sa.URL.create("postgresql+psycopg2", username="postgres", host="127.0.0.1", port=5432, database="postgres"))
    try:
        with engine.connect() as conn:
            present = set(conn.execute(sa.text("select datname from pg_database")).scalars())
    finally:
        engine.dispose()
    own = {prod_stack.settings[k] for k in DATABASE_KEYS}
    assert own <= present and all(name.startswith(f"mlops_t{os.getpid()}_") for name in own)
