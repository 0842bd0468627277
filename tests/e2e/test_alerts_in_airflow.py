"""Alerts from real DAG runs (``dag.test``): the callbacks, the delivery log, real receivers.

A dataset of its own (``e2ealerts``: synthetic data, an incident on 2024-01-12) with three
channels: a signed webhook for warnings and worse, email (STARTTLS and login) for everything,
and a webhook whose server is down for info events. Connections come from ``AIRFLOW_CONN_*``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from datetime import UTC, datetime

import pytest
import yaml

from e2e.helpers import run_dag, states, xcom
from mlops.config import DEFAULT_DATASETS_DIR
from receivers import SmtpReceiver, WebhookReceiver, closed_port, connection_env, self_signed_cert

pytestmark = pytest.mark.e2e

NAME, NIGHTLY, PROMOTION = "e2ealerts", "e2e_alerts_nightly", "e2e_alerts_promotion"
QUARANTINE_DAY = "2024-01-12"


@pytest.fixture(scope="module")
def env(stack, tmp_path_factory):
    home = tmp_path_factory.mktemp("alerts")
    secret, password = "whsec-" + secrets.token_hex(16), "smtp-" + secrets.token_hex(12)
    cert, key = self_signed_cert(home / "tls")
    hook = WebhookReceiver(secret=secret)
    smtp = SmtpReceiver(login="alerts@example.org", password=password, cert=cert, key=key)
    config = yaml.safe_load((DEFAULT_DATASETS_DIR / "synthetic.yaml").read_text())
    config.update(
        name=NAME,
        registered_model_name="e2ealerts_model",
        dag={"dag_id": NIGHTLY, "promotion_dag_id": PROMOTION, "rollback_dag_id": "e2e_alerts_rollback", "schedule": None},
    )
    config["source"]["options"].update(
        rows_per_day=400,
        drift=[{"features": ["x0", "x1", "x2"], "start": "2024-01-13", "shift": 1.5}],
        incidents=[{"kind": "nulls", "feature": "x0", "start": QUARANTINE_DAY, "end": "2024-01-13", "fraction": 0.5}],
    )
    config["training"].update(window_days=4, holdout_days=1, min_train_rows=600)
    config["drift"] = {"reference_days": 2}
    config["labels"] = {"delay_days": 0}  # labels with the partition: the champion is judged the same night
    config["retrain"]["max_model_age_days"] = 1
    config["alerts"] = {
        "channels": [
            {"name": "oncall", "kind": "webhook", "conn_id": "e2e_alerts_webhook", "severities": ["critical", "warning"]},
            {"name": "team", "kind": "email", "conn_id": "e2e_alerts_smtp", "to": ["ml-team@example.org"]},
            {"name": "flaky", "kind": "webhook", "conn_id": "e2e_alerts_down", "severities": ["info"]},
        ],
        "digest": [],
        "attempts": 3,
        "backoff_seconds": 0.1,
        "late_after_hours": 2,
    }
    folder = home / "datasets"
    folder.mkdir()
    (folder / f"{NAME}.yaml").write_text(yaml.safe_dump(config))
    env = {
        "MLOPS_DATASETS_DIR": str(folder),
        "SSL_CERT_FILE": str(cert),
        "AIRFLOW_CONN_MLOPS_METADATA": connection_env(conn_type="sqlite", host=str(home / "metadata.sqlite")),
        "AIRFLOW_CONN_E2E_ALERTS_WEBHOOK": connection_env(conn_type="http", host=hook.url, password=secret),
        "AIRFLOW_CONN_E2E_ALERTS_SMTP": connection_env(
            conn_type="smtp",
            host="127.0.0.1",
            port=smtp.port,
            login=smtp.login,
            password=password,
            extra={"from_email": "mlops@example.org", "disable_ssl": True, "retry_limit": 0},
        ),
        "AIRFLOW_CONN_E2E_ALERTS_DOWN": connection_env(conn_type="http", host=f"http://127.0.0.1:{closed_port()}/hook"),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield {"hook": hook, "smtp": smtp, "secret": secret, "password": password, "home": home}
    hook.stop()
    smtp.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    shutil.rmtree(folder, ignore_errors=True)


def _log():
    from mlops.alerts.store import AlertStore

    return {e["key"]: e for e in AlertStore().recent(NAME, days=3650)}


def test_a_quarantined_partition_alerts_once_even_when_the_run_is_run_again(env, monkeypatch):
    hook, smtp = env["hook"], env["smtp"]
    # dag.test() can run a *failing* run of a DAG with a Deadline Alert: check the deadline too.
    monkeypatch.setenv("MLOPS_DEADLINE_ALERTS", "true")
    for attempt in range(2):  # the same DAG run, run again (as after clearing it)
        dr = run_dag(NIGHTLY, QUARANTINE_DAY, run_after=datetime(2026, 1, 5, tzinfo=UTC))
        assert dr.state == "failed" and states(dr)["validate"] == "failed", (attempt, states(dr))
    # The Deadline Alert is measured from the run's interval end, or from when it was asked for.
    from airflow.models import DagRun
    from airflow.models.deadline import Deadline
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == NIGHTLY, DagRun.run_id == dr.run_id))
        deadlines = session.scalars(select(Deadline).where(Deadline.dagrun_id == run.id)).all()
        assert [d.deadline_time for d in deadlines] == [datetime(2026, 1, 5, 2, tzinfo=UTC)]  # run_after + 2 h
    (event,) = hook.events("partition_quarantined")
    assert all(r.verified for r in hook.received)
    assert event["key"] == f"partition_quarantined|{NAME}|{QUARANTINE_DAY}" and event["severity"] == "warning"
    assert event["numbers"]["failed expectations"] >= 1 and event["numbers"]["columns"] == ["x0"]
    assert any("column 'x0'" in d for d in event["details"])
    assert event["links"]["task log"].endswith(f"/dags/{NIGHTLY}/runs/{dr.run_id.replace(':', '%3A').replace('+', '%2B')}/tasks/validate")
    assert len([m for m in smtp.messages if m["X-Mlops-Event"] == "partition_quarantined"]) == 1
    # The run failed too, but the quarantine alert already told that story: recorded, not sent.
    log = _log()
    failed = log[f"run_failed|{NAME}|{QUARANTINE_DAY}"]
    assert [(d["channel"], d["status"]) for d in failed["deliveries"]] == [("-", "skipped")]
    assert failed["deliveries"][0]["detail"].startswith("explained by partition_quarantined")
    assert hook.events("run_failed") == []


def test_a_channel_that_is_down_does_not_fail_the_run(env):
    dr = run_dag(NIGHTLY, "2024-01-10", {"force_retrain": True})
    assert dr.state == "success", states(dr)
    version = xcom(dr, "retrain.register")["version"]
    log = _log()
    registered = log[f"challenger_registered|{NAME}|2024-01-10|{version}"]
    by_channel = {d["channel"]: d for d in registered["deliveries"]}
    assert set(by_channel) == {"team", "flaky"}  # info: not for the oncall webhook
    assert by_channel["team"]["status"] == "sent"
    assert by_channel["flaky"]["status"] == "failed" and by_channel["flaky"]["attempts"] == 3
    assert by_channel["flaky"]["detail"].startswith("failed, retried 2 times: DeliveryError: webhook of connection 'e2e_alerts_down' unreachable")
    decided = log[f"retrain_decided|{NAME}|2024-01-10"]
    assert decided["summary"].startswith("retraining on 2024-01-10") and decided["deliveries"][0]["channel"] in ("team", "flaky")


def test_promotion_alerts_and_no_secret_anywhere(env):
    dr = run_dag(PROMOTION, "2024-01-11")
    assert dr.state == "success", states(dr)
    promoted = [e for e in env["hook"].events() if e["type"] == "promoted"]
    assert promoted == []  # info: email and the flaky webhook only
    mails = [m for m in env["smtp"].messages if m["X-Mlops-Event"] == "promoted"]
    assert len(mails) == 1 and "is champion" in mails[0]["Subject"]
    # Secrets: not in the delivery log, the bodies received, the XCom or rendered-field tables, the task logs.
    from airflow.utils.session import create_session
    from sqlalchemy import text

    texts = [json.dumps(_log(), default=str)]
    texts += [r.body.decode() + json.dumps(r.headers) for r in env["hook"].received]
    texts += [m.as_string() for m in env["smtp"].messages]
    with create_session() as session:
        texts += [str(v) for (v,) in session.execute(text("select value from xcom"))]
        texts += [str(v) for (v,) in session.execute(text("select rendered_fields from rendered_task_instance_fields"))]
    from pathlib import Path

    texts += [p.read_text(errors="replace") for p in (Path(os.environ["AIRFLOW_HOME"]) / "logs").rglob("*") if p.is_file()]
    blob = "\n".join(texts)
    assert len(blob) > 1000
    assert env["secret"] not in blob and env["password"] not in blob


def test_drift_and_a_stale_champion_are_reported(env):
    """After the promotion, the champion's data ends 2024-01-11; on 2024-01-14 the inputs drifted and it is 4 days old (max 1)."""
    dr = run_dag(NIGHTLY, "2024-01-14")
    assert dr.state == "success", states(dr)
    (drift,) = env["hook"].events("drift_alarm")
    assert drift["numbers"]["threshold"] == 0.3 and drift["numbers"]["watched drift share"] >= 0.3
    assert set(drift["numbers"]["drifted"]) >= {"x0", "x1", "x2"}
    assert drift["links"]["drift report"].endswith(f"/mlops/reports/{NAME}/drift/2024-01-14.html")
    (stale,) = env["hook"].events("champion_stale")
    assert stale["numbers"] == {"age (days)": 4, "max model age (days)": 1, "champion": "1"}
    assert stale["summary"] == "champion e2ealerts_model v1 was trained on data ending 2024-01-11: 4 days old (maximum 1)"
