import json
import os
import secrets
import shutil
from pathlib import Path

import pytest
import yaml

from live.stack import SCOPED_DAGS, SCOPED_USER, live_stack
from mlops.config import DEFAULT_DATASETS_DIR

#: A scheduled copy of the synthetic dataset: backfills need a schedule.
BACKFILL_DATASET = {
    "name": "livebf",
    "dag": {
        "dag_id": "live_backfill",
        "promotion_dag_id": "live_backfill_promotion",
        "rollback_dag_id": "live_backfill_rollback",
        "schedule": "@daily",
        "start_date": "2024-01-01",
    },
    "registered_model_name": "livebf_model",
    "labels": {"delay_days": 0},
}


BROWSER_DATASET = {
    "name": "livebrowser",
    "dag": {
        "dag_id": "live_browser",
        "promotion_dag_id": "live_browser_promotion",
        "rollback_dag_id": "live_browser_rollback",
        "schedule": None,
        "start_date": "2024-01-01",
    },
    "registered_model_name": "livebrowser_model",
    "labels": {"delay_days": 0},
}


#: A copy of the synthetic dataset of its own for the scoring test (its champion is set by the test).
SCORING_DATASET = {
    "name": "livescore",
    "dag": {
        "dag_id": "live_scoring_nightly",
        "promotion_dag_id": "live_scoring_promotion",
        "rollback_dag_id": "live_scoring_rollback",
        "scoring_dag_id": "live_scoring",
        "schedule": None,
        "start_date": "2024-01-01",
    },
    "registered_model_name": "livescore_model",
}


#: A copy of the synthetic dataset for the shadow soak test: labels a day late, a soak of two to four days.
SOAK_DATASET = {
    "name": "livesoak",
    "dag": {
        "dag_id": "live_soak_nightly",
        "promotion_dag_id": "live_soak_promotion",
        "rollback_dag_id": "live_soak_rollback",
        "scoring_dag_id": "live_soak_scoring",
        "schedule": None,
        "start_date": "2024-01-01",
        # The test runs a night while the triggerer is stopped: every task starts in a worker.
        "start_in_triggerer": False,
    },
    "registered_model_name": "livesoak_model",
    "labels": {"delay_days": 1},
    "promotion": {
        "latency_budget_ms": 5000,
        "min_improvement": -1.0,
        "shadow": {"enabled": True, "min_days": 2, "max_days": 4, "min_rows": 400, "alpha": 0.05, "on_inconclusive": "reject", "poke_seconds": 5},
    },
}


#: A dataset whose alerts go to receivers the alert test starts on 127.0.0.1 (tests/live/test_alerts.py).
ALERTS_DATASET = {
    "name": "livealerts",
    "dag": {
        "dag_id": "live_alerts",
        "promotion_dag_id": "live_alerts_promotion",
        "rollback_dag_id": "live_alerts_rollback",
        "schedule": None,
        "start_date": "2024-01-01",
    },
    "registered_model_name": "livealerts_model",
    "alerts": {
        "channels": [
            {"name": "oncall", "kind": "webhook", "conn_id": "live_alerts_webhook", "severities": ["critical", "warning"]},
            {"name": "team", "kind": "email", "conn_id": "live_alerts_smtp", "to": ["ml-team@example.org"]},
            {"name": "flaky", "kind": "webhook", "conn_id": "live_alerts_down", "severities": ["info"]},
        ],
        "digest": [],
        "attempts": 3,
        "backoff_seconds": 0.2,
        "timeout_seconds": 5,
        "late_after_hours": 0.01,  # 36 s: a run held that long is late
    },
}


def alert_receivers(home) -> tuple[dict, dict]:
    """Ports, secrets and TLS files of the alert receivers, and the stack's connections to them."""
    from receivers import connection_env, self_signed_cert

    cert, key = self_signed_cert(home / "tls")
    ports = {
        name: int(os.environ.get(f"MLOPS_TEST_ALERT_{name.upper()}_PORT", default)) for name, default in (("webhook", 19710), ("smtp", 19711), ("down", 19712))
    }
    info = {
        "ports": ports,
        "cert": cert,
        "key": key,
        "secret": "whsec-" + secrets.token_hex(16),
        "password": "smtp-" + secrets.token_hex(12),
        "login": "alerts@example.org",
    }
    env = {
        "SSL_CERT_FILE": str(cert),  # the tasks trust the test SMTP server's certificate (STARTTLS)
        "AIRFLOW_CONN_LIVE_ALERTS_WEBHOOK": connection_env(conn_type="http", host=f"http://127.0.0.1:{ports['webhook']}/hooks/alerts", password=info["secret"]),
        "AIRFLOW_CONN_LIVE_ALERTS_SMTP": connection_env(
            conn_type="smtp",
            host="127.0.0.1",
            port=ports["smtp"],
            login=info["login"],
            password=info["password"],
            extra={"from_email": "mlops@example.org", "disable_ssl": True, "retry_limit": 0},
        ),
        "AIRFLOW_CONN_LIVE_ALERTS_DOWN": connection_env(conn_type="http", host=f"http://127.0.0.1:{ports['down']}/hook"),
    }
    return info, env


AUTHZ = Path(__file__).resolve().parent / "authz"


#: Malformed YAML (line 5 is indented under a scalar).
BROKEN_DATASET = "name: broken\ndag:\n  dag_id: live_broken\ntarget: y\n  task: classification\n"


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The real stack, with approval required for promotions (as in the production profile)."""
    home = tmp_path_factory.mktemp("live")
    datasets = home / "datasets"
    datasets.mkdir()
    shutil.copy(DEFAULT_DATASETS_DIR / "synthetic.yaml", datasets / "synthetic.yaml")
    bf = yaml.safe_load((DEFAULT_DATASETS_DIR / "synthetic.yaml").read_text())
    bf.update(BACKFILL_DATASET)
    # Drift from 9 January: the backfill must retrain mid-period, not only on its first day.
    bf["source"]["options"].update(rows_per_day=400, drift=[{"features": ["x0", "x1", "x2"], "start": "2024-01-09", "shift": 1.5}])
    bf["training"].update(window_days=5, holdout_days=1, min_train_rows=800)
    bf["drift"] = {"reference_days": 3}
    (datasets / "livebf.yaml").write_text(yaml.safe_dump(bf))
    # A model of its own for the browser test: its first challenger always reaches the approval step.
    browser = yaml.safe_load((DEFAULT_DATASETS_DIR / "synthetic.yaml").read_text())
    browser.update(BROWSER_DATASET)
    (datasets / "livebrowser.yaml").write_text(yaml.safe_dump(browser))
    alerting = yaml.safe_load((DEFAULT_DATASETS_DIR / "synthetic.yaml").read_text())
    alerting.update(ALERTS_DATASET)
    alerting["source"]["options"].update(
        rows_per_day=400, drift=[], incidents=[{"kind": "nulls", "feature": "x0", "start": "2024-01-12", "end": "2024-01-13", "fraction": 0.5}]
    )
    alerting["training"].update(window_days=4, holdout_days=1, min_train_rows=600)
    alerting["drift"] = {"reference_days": 2}
    (datasets / "livealerts.yaml").write_text(yaml.safe_dump(alerting))
    alerts_info, alerts_env = alert_receivers(home)
    # A home whose passwords file predates the second user (as after adding a user to the list):
    # run.sh must give that user a password before Airflow generates one and prints it to its log.
    (home / "airflow").mkdir(mode=0o700)
    (home / "airflow" / "passwords.json").write_text(json.dumps({"admin": secrets.token_urlsafe(16)}) + "\n")
    (home / "airflow" / "passwords.json").chmod(0o600)
    # A malformed config beside the good ones, for the whole live session: the good DAGs must
    # load, run and be triggered as usual (tests/live/test_config_guards.py checks the error).
    (datasets / "broken.yaml").write_text(BROKEN_DATASET)
    scoring = yaml.safe_load((DEFAULT_DATASETS_DIR / "synthetic.yaml").read_text())
    scoring.update(SCORING_DATASET)
    scoring["source"]["options"].update(rows_per_day=300, drift=[])
    scoring["training"].update(window_days=5, holdout_days=1, min_train_rows=500)
    scoring["drift"] = {"reference_days": 3}
    (datasets / "livescore.yaml").write_text(yaml.safe_dump(scoring))
    soak = yaml.safe_load((DEFAULT_DATASETS_DIR / "synthetic.yaml").read_text())
    soak.update(SOAK_DATASET)
    soak["source"]["options"].update(rows_per_day=500, drift=[])
    soak["training"].update(window_days=4, holdout_days=1, min_train_rows=300, metric_floors={"roc_auc": 0.0})
    soak["drift"] = {"reference_days": 2}
    soak["retrain"].update(drift_share=0.9, performance_tolerance_relative=0.5)  # the nights between must not retrain
    (datasets / "livesoak.yaml").write_text(yaml.safe_dump(soak))
    s = live_stack(
        home,
        api_port=int(os.environ.get("MLOPS_TEST_API_PORT", "18080")),
        mlflow_port=int(os.environ.get("MLOPS_TEST_MLFLOW_PORT", "15000")),
        extra_env={
            "MLOPS_REQUIRE_APPROVAL": "true",
            "MLOPS_DATASETS_DIR": str(datasets),
            # A second user who may read one dataset's DAGs only (tests/live/authz).
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"admin:admin,{SCOPED_USER}:viewer",
            "AIRFLOW__CORE__AUTH_MANAGER": "mlops_test_auth.DagScopedAuthManager",
            "MLOPS_TEST_DAG_SCOPES": json.dumps({SCOPED_USER: SCOPED_DAGS}),
            "PYTHONPATH": os.pathsep.join(p for p in (str(AUTHZ), os.environ.get("PYTHONPATH")) if p),
            **alerts_env,
        },
    )
    s.alerts = alerts_info
    try:
        yield s.start()
    finally:
        s.stop()


SYNTHETIC_NIGHTLY = "mlops_nightly_training_synthetic"


@pytest.fixture(scope="session")
def synthetic_run(stack) -> str:
    """A finished, successful run of the synthetic nightly DAG (the approval test's, or one made here)."""
    runs = (
        stack.ok("GET", f"/api/v2/dags/{SYNTHETIC_NIGHTLY}/dagRuns", params={"state": ["success"], "limit": 1})["dag_runs"]
        if stack.call("GET", f"/api/v2/dags/{SYNTHETIC_NIGHTLY}").status_code == 200
        else []
    )
    if runs:
        return runs[0]["dag_run_id"]
    stack.unpause(SYNTHETIC_NIGHTLY)
    run = stack.trigger(SYNTHETIC_NIGHTLY, "2024-01-10T00:00:00Z", {"force_retrain": True})
    assert stack.wait_run(SYNTHETIC_NIGHTLY, run) == "success", stack.task_states(SYNTHETIC_NIGHTLY, run)
    return run
