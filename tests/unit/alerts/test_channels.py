"""Delivery to real receivers: a signed webhook POST, an email over STARTTLS with login, retries."""

from __future__ import annotations

import json
from datetime import date

import pytest

from mlops.alerts import render
from mlops.alerts.channels import DeliveryError, EmailChannel, WebhookChannel, safe_error, sign, verify_signature, with_retries
from mlops.alerts.events import Event


def _conn(conn_id):
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(conn_id)


@pytest.fixture
def event() -> Event:
    return Event(
        type="partition_quarantined",
        dataset="synthetic",
        day=date(2024, 1, 12),
        summary="partition 2024-01-12 quarantined: 1 of 40 expectations failed",
        numbers={"failed expectations": 1},
        details=["column 'x0': 400 of 800 values violate it <b>"],
        links={"Data Docs": "http://127.0.0.1:8080/mlops/datadocs/index.html"},
        run={"dag_id": "d", "run_id": "r"},
    )


def test_signature_is_hmac_sha256_of_the_body():
    import hashlib
    import hmac

    body = b'{"a": 1}'
    assert sign(body, "k") == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert verify_signature(body, "k", sign(body, "k"))
    assert not verify_signature(body + b" ", "k", sign(body, "k"))
    assert not verify_signature(body, "other", sign(body, "k")) and not verify_signature(body, "k", None)


def test_webhook_posts_slack_text_and_a_verifiable_signature(channels, event, webhook_secret):
    hook = channels["webhook"]
    channel = WebhookChannel(_conn("t_webhook"), timeout=5)
    assert channel.send(render.payload(event), event.type, event.key) == "HTTP 200"
    (got,) = hook.received
    assert got.verified, "the receiver recomputed the HMAC over the bytes it received"
    assert got.headers["X-Mlops-Event"] == "partition_quarantined" and got.headers["X-Mlops-Event-Key"] == event.key
    body = got.json
    assert body["event"]["key"] == "partition_quarantined|synthetic|2024-01-12" and body["event"]["numbers"] == {"failed expectations": 1}
    # Slack mrkdwn: link syntax, and text that would be markup escaped.
    assert "<http://127.0.0.1:8080/mlops/datadocs/index.html|Data Docs>" in body["text"]
    assert "&lt;b&gt;" in body["text"] and "<b>" not in body["text"]
    assert webhook_secret not in got.body.decode() and webhook_secret not in json.dumps(got.headers)


def test_webhook_answers_decide_whether_to_retry(channels, event):
    hook = channels["webhook"]
    channel = WebhookChannel(_conn("t_webhook"), timeout=5)
    waits = []
    hook.status = 503
    d = with_retries(lambda: channel.send(render.payload(event), event.type, event.key), attempts=3, backoff=0.5, secrets=channel.secrets, sleep=waits.append)
    assert (d.status, d.attempts, waits) == ("failed", 3, [0.5, 1.0])
    assert d.detail == "failed, retried 2 times: DeliveryError: webhook of connection 't_webhook' answered HTTP 503"
    hook.status = 404  # a wrong URL does not get better by asking again
    d = with_retries(lambda: channel.send(render.payload(event), event.type, event.key), attempts=3, backoff=0.5, secrets=channel.secrets, sleep=waits.append)
    assert (d.status, d.attempts) == ("failed", 1) and "not retried" in d.detail and "HTTP 404" in d.detail
    assert len(hook.received) == 4


def test_a_webhook_that_is_down_fails_after_bounded_retries_without_leaking_its_url(channels, event):
    channel = WebhookChannel(_conn("t_down"), timeout=2)
    d = with_retries(lambda: channel.send(render.payload(event), event.type, event.key), attempts=2, backoff=0, secrets=channel.secrets, sleep=lambda s: None)
    assert (
        d.status == "failed" and d.attempts == 2 and d.detail.startswith("failed, retried 1 times: DeliveryError: webhook of connection 't_down' unreachable")
    )
    assert channel.url not in d.detail and "unused-secret-x" not in d.detail


def test_email_over_starttls_with_login_carries_the_html_and_the_links(channels, event, smtp_password):
    smtp = channels["smtp"]
    channel = EmailChannel(_conn("t_smtp"), ["ml-team@example.org", "oncall@example.org"])
    assert channel.send(render.subject(event), render.html(event), event.type, event.key) == "mail to 2 recipients"
    (msg,) = smtp.messages
    assert msg["Subject"] == "[MLOps warning] synthetic: partition 2024-01-12 quarantined: 1 of 40 expectations failed"
    assert msg["To"] == "ml-team@example.org, oncall@example.org" and msg["From"] == "mlops@example.org"
    assert msg["X-Mlops-Event-Key"] == event.key
    (html,) = smtp.bodies()
    assert 'href="http://127.0.0.1:8080/mlops/datadocs/index.html"' in html and "&lt;b&gt;" in html
    assert smtp_password not in msg.as_string()


def test_email_with_a_wrong_password_fails_and_does_not_repeat_it(channels, event, monkeypatch):
    from receivers import set_connection

    smtp = channels["smtp"]
    wrong = "wrong-" + "x" * 12
    set_connection(
        monkeypatch,
        "t_smtp",
        conn_type="smtp",
        host="127.0.0.1",
        port=smtp.port,
        login=smtp.login,
        password=wrong,
        extra={"from_email": "mlops@example.org", "disable_ssl": True, "retry_limit": 0},
    )
    channel = EmailChannel(_conn("t_smtp"), ["ml-team@example.org"])
    d = with_retries(
        lambda: channel.send(render.subject(event), render.html(event), event.type, event.key),
        attempts=2,
        backoff=0,
        secrets=channel.secrets,
        sleep=lambda s: None,
    )
    assert d.status == "failed" and "SMTPAuthenticationError" in d.detail and wrong not in d.detail
    assert smtp.refused_logins == 2 and smtp.messages == []


def test_safe_error_hides_every_secret():
    e = DeliveryError("posting to https://hooks.example.org/T000/B000/XXXX failed with secret s3cr3t-value")
    assert safe_error(e, ["https://hooks.example.org/T000/B000/XXXX", "s3cr3t-value", None]) == "DeliveryError: posting to *** failed with secret ***"


def test_the_standalone_notifiers_plug_into_any_dag_callback(channels):
    """``on_failure_callback=WebhookNotifier(conn_id=…)`` / ``EmailNotifier(…)``: Airflow calls them with the context."""
    from datetime import UTC, datetime

    from mlops.alerts.notifiers import EmailNotifier, WebhookNotifier

    context = {"run_id": "manual__2024-01-12", "logical_date": datetime(2024, 1, 12, tzinfo=UTC), "dag_run": {"dag_id": "other_dag", "run_type": "manual"}}
    WebhookNotifier(conn_id="t_webhook", summary="{{ run_id }} needs a look")(context)
    EmailNotifier(conn_id="t_smtp", to="ml-team@example.org")(context)
    WebhookNotifier(conn_id="t_down", attempts=2, backoff_seconds=0)(context)  # down: logged, never raised
    (got,) = channels["webhook"].received
    assert got.verified and got.json["event"]["summary"] == "manual__2024-01-12 needs a look"
    assert got.json["event"]["dataset"] == "other_dag" and got.json["event"]["day"] == "2024-01-12"
    (mail,) = channels["smtp"].messages
    assert mail["Subject"] == "[MLOps critical] other_dag: run failed: run manual__2024-01-12 of other_dag"
