"""Real receivers and a real SQLite delivery log for the alert tests; connections as Airflow reads
them from ``AIRFLOW_CONN_*`` variables."""

from __future__ import annotations

import secrets

import pytest

from receivers import SmtpReceiver, WebhookReceiver, closed_port, self_signed_cert, set_connection


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def webhook_secret() -> str:
    return "whsec-" + secrets.token_hex(16)


@pytest.fixture
def smtp_password() -> str:
    return "smtp-" + secrets.token_hex(12)


@pytest.fixture
def webhook(webhook_secret):
    receiver = WebhookReceiver(secret=webhook_secret)
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp(tls_files, smtp_password, monkeypatch):
    cert, key = tls_files
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts the test server's certificate
    receiver = SmtpReceiver(login="alerts@example.org", password=smtp_password, cert=cert, key=key)
    yield receiver
    receiver.stop()


@pytest.fixture
def channels(monkeypatch, webhook, smtp, webhook_secret, smtp_password):
    """Connections ``t_webhook``, ``t_smtp`` and ``t_down`` (a port nobody listens on)."""

    set_connection(monkeypatch, "t_webhook", conn_type="http", host=webhook.url, password=webhook_secret)
    set_connection(
        monkeypatch,
        "t_smtp",
        conn_type="smtp",
        host="127.0.0.1",
        port=smtp.port,
        login=smtp.login,
        password=smtp_password,
        extra={"from_email": "mlops@example.org", "disable_ssl": True, "timeout": 10, "retry_limit": 0},
    )
    # A random password per run: a test fixture, never a real credential.
    set_connection(monkeypatch, "t_down", conn_type="http", host=f"http://127.0.0.1:{closed_port()}/hook", password="test-" + secrets.token_hex(8))
    return {"webhook": webhook, "smtp": smtp}


@pytest.fixture
def store(tmp_path):
    from mlops.alerts.store import AlertStore

    return AlertStore(f"sqlite:///{tmp_path / 'metadata.sqlite'}")
