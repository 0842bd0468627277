"""Alerts under the real scheduler, triggerer and dag-processor, to real receivers on 127.0.0.1:
a run held past its deadline, a channel that is down, an approval waiting (with a working link),
a quarantined partition reported once after clearing and re-running, and no secret anywhere."""

from __future__ import annotations

import json
import sqlite3
import time
from urllib.parse import quote

import pytest

from receivers import SmtpReceiver, WebhookReceiver

pytestmark = pytest.mark.live

NIGHTLY, PROMOTION, DATASET = "live_alerts", "live_alerts_promotion", "livealerts"


@pytest.fixture(scope="module")
def receivers(stack):
    info = stack.alerts
    hook = WebhookReceiver(secret=info["secret"], port=info["ports"]["webhook"])
    smtp = SmtpReceiver(login=info["login"], password=info["password"], cert=info["cert"], key=info["key"], port=info["ports"]["smtp"])
    yield {"hook": hook, "smtp": smtp}
    hook.stop()
    smtp.stop()


def _alerts(stack) -> dict[str, dict]:
    return {a["key"]: a for a in stack.ok("GET", f"/mlops/api/alerts/{DATASET}")["alerts"]}


def _mails(smtp, event_type: str) -> list:
    return [m for m in smtp.messages if m["X-Mlops-Event"] == event_type]


def test_late_run_down_channel_and_approval(stack, receivers):
    hook, smtp = receivers["hook"], receivers["smtp"]
    stack.wait_for(f"{NIGHTLY} to be parsed", lambda: stack.call("GET", f"/api/v2/dags/{NIGHTLY}").status_code == 200, timeout=180)
    stack.unpause(PROMOTION)
    # Held: the DAG is still paused, so the run waits in the queue past its 36 s deadline.
    run = stack.trigger(NIGHTLY, "2024-01-10T00:00:00Z", {"force_retrain": True})
    late = stack.wait_for("the nightly_late alert", lambda: hook.events("nightly_late"), timeout=300)
    (late,) = late
    assert late["run"]["run_id"] == run and late["severity"] == "critical" and late["numbers"]["late after (hours)"] == 0.01
    assert late["links"]["Airflow run"] == f"{stack.api}/dags/{NIGHTLY}/runs/{quote(run, safe='')}"
    stack.wait_for("the nightly_late email", lambda: _mails(smtp, "nightly_late"), timeout=60, every=1)

    stack.unpause(NIGHTLY)
    assert stack.wait_run(NIGHTLY, run) == "success", stack.task_states(NIGHTLY, run)
    log = _alerts(stack)
    (registered,) = [a for a in log.values() if a["type"] == "challenger_registered"]
    by_channel = {d["channel"]: d for d in registered["deliveries"]}
    assert by_channel["team"]["status"] == "sent"
    assert by_channel["flaky"]["status"] == "failed" and by_channel["flaky"]["attempts"] == 3
    assert by_channel["flaky"]["detail"].startswith("failed, retried 2 times: DeliveryError: webhook of connection 'live_alerts_down' unreachable")

    # The promotion waits for a person: the alert links to the page where they answer.
    (waiting,) = stack.wait_for("the approval_waiting alert", lambda: hook.events("approval_waiting"), timeout=600)
    promotion_run = waiting["run"]["run_id"]
    link = waiting["links"]["approve or reject"]
    assert link == f"{stack.api}/dags/{PROMOTION}/runs/{quote(promotion_run, safe='')}/tasks/approve/required_actions"
    page = stack.call("GET", link.removeprefix(stack.api))
    assert page.status_code == 200 and "<html" in page.text.lower()
    hitl = stack.ok("GET", f"/api/v2/dags/{PROMOTION}/dagRuns/{quote(promotion_run, safe='')}/taskInstances/approve/-1/hitlDetails")
    assert hitl["response_received"] is False and f"version {waiting['version']}" in hitl["subject"]
    time.sleep(15)  # answer like a person (see test_promotion_approval)
    stack.ok(
        "PATCH",
        f"/api/v2/dags/{PROMOTION}/dagRuns/{quote(promotion_run, safe='')}/taskInstances/approve/-1/hitlDetails",
        json={"chosen_options": ["Approve"], "params_input": {"comment": "from the alert"}},
    )
    assert stack.wait_run(PROMOTION, promotion_run) == "success", stack.task_states(PROMOTION, promotion_run)
    (promoted,) = stack.wait_for("the promoted alert", lambda: _mails(smtp, "promoted"), timeout=120)
    assert "is champion" in promoted["Subject"]
    assert len(hook.events("approval_waiting")) == 1  # the task resumed after the answer: not sent again


def test_quarantine_alerts_once_after_clear_and_rerun(stack, receivers):
    hook, smtp = receivers["hook"], receivers["smtp"]
    stack.unpause(NIGHTLY)
    run = stack.trigger(NIGHTLY, "2024-01-12T00:00:00Z")
    assert stack.wait_run(NIGHTLY, run) == "failed"
    assert stack.task_states(NIGHTLY, run)["validate"] == "failed"
    stack.wait_for("the partition_quarantined alert", lambda: hook.events("partition_quarantined"), timeout=120)
    # Clear the run from ingest on (what the error message asks for) and let it run again.
    stack.ok(
        "POST",
        f"/api/v2/dags/{NIGHTLY}/clearTaskInstances",
        json={"dag_run_id": run, "task_ids": ["ingest"], "include_downstream": True, "only_failed": False, "dry_run": False, "reset_dag_runs": True},
    )
    stack.wait_for("the cleared run to start again", lambda: stack.run_state(NIGHTLY, run) in ("queued", "running"), timeout=60, every=1)
    assert stack.wait_run(NIGHTLY, run) == "failed"
    tries = stack.ok("GET", f"/api/v2/dags/{NIGHTLY}/dagRuns/{quote(run, safe='')}/taskInstances/validate")["try_number"]
    assert tries >= 2
    # The DAG's failure callback runs in the dag-processor: it records run_failed as explained, sends nothing.
    key = f"run_failed|{DATASET}|2024-01-12"
    failed = stack.wait_for("run_failed in the delivery log", lambda: _alerts(stack).get(key), timeout=180)
    assert [(d["channel"], d["status"]) for d in failed["deliveries"]] == [("-", "skipped")]
    stack.wait_for("the partition_quarantined email", lambda: _mails(smtp, "partition_quarantined"), timeout=60, every=1)
    assert len(hook.events("partition_quarantined")) == 1 and len(_mails(smtp, "partition_quarantined")) == 1
    assert all(r.verified for r in hook.received)
    assert hook.events("run_failed") == []


def test_no_secret_in_logs_xcom_rendered_fields_delivery_log_or_alerts(stack, receivers):
    info = stack.alerts
    airflow = stack.home / "airflow"
    texts = [p.read_text(errors="replace") for p in (airflow / "logs").rglob("*") if p.is_file()]
    with sqlite3.connect(airflow / "airflow.db") as db:
        texts += [str(v) for (v,) in db.execute("select value from xcom")]
        texts += [str(v) for (v,) in db.execute("select rendered_fields from rendered_task_instance_fields")]
        texts += [str(v) for (v,) in db.execute("select data from callback")]
    with sqlite3.connect(airflow / "data" / "metadata.sqlite") as db:
        texts += [json.dumps(row) for row in db.execute("select * from alert_events")]
        texts += [json.dumps(row, default=str) for row in db.execute("select * from alert_deliveries")]
    texts += [r.body.decode() + json.dumps(r.headers) for r in receivers["hook"].received]
    texts += [m.as_string() for m in receivers["smtp"].messages]
    texts.append(stack.call("GET", "/mlops/models", params={"dataset": DATASET}).text)
    blob = "\n".join(texts)
    assert 'data-alert="partition_quarantined"' in blob and "task log" in blob and len(texts) > 20
    assert info["secret"] not in blob
    assert info["password"] not in blob
