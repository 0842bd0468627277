"""Real alert receivers for tests, on 127.0.0.1: an HTTP server that verifies the webhook signature,
and an SMTP server (aiosmtpd) with STARTTLS and login, as a mail relay would have."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from mlops.alerts.channels import SIGNATURE_HEADER, verify_signature
from mlops.config import AlertsConfig


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """Records every POST; ``verified`` says whether its signature matches the shared secret."""

    secret: str
    port: int = 0
    status: int = 200
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items()}
                receiver.received.append(Received(headers, body, verify_signature(body, receiver.secret, self.headers.get(SIGNATURE_HEADER))))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/alerts"

    def events(self, event_type: str | None = None) -> list[dict]:
        return [r.json["event"] for r in self.received if event_type is None or r.json["event"]["type"] == event_type]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound once, then released): a channel or server that is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost and its key (PEM), made here, valid for a day."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class SmtpReceiver:
    """An SMTP server that requires STARTTLS before AUTH and accepts one login; keeps the messages."""

    login: str
    password: str
    cert: Path
    key: Path
    port: int = 0
    messages: list[email.message.EmailMessage] = field(default_factory=list)
    refused_logins: int = 0

    def __post_init__(self) -> None:
        import socket
        import ssl

        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        receiver = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                receiver.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
                return "250 OK"

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login.decode() == receiver.login and auth_data.password.decode() == receiver.password
            if not ok:
                receiver.refused_logins += 1
            return AuthResult(success=ok, handled=False)

        if not self.port:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(self.cert, self.key)
        self.controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            tls_context=tls,
            require_starttls=True,
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=True,
            auth_exclude_mechanism=["LOGIN"],
        )
        self.controller.start()

    def bodies(self) -> list[str]:
        out = []
        for m in self.messages:
            part = m.get_body(preferencelist=("html", "plain"))
            out.append(part.get_content() if part is not None else "")
        return out

    def stop(self) -> None:
        self.controller.stop()


def connection_env(**fields) -> str:
    """An Airflow connection as the JSON an ``AIRFLOW_CONN_<ID>`` variable holds."""
    return json.dumps(fields)


def set_connection(monkeypatch, conn_id: str, **fields) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", connection_env(**fields))


def alerts_config(**overrides) -> AlertsConfig:
    base = {
        "channels": [
            {"name": "oncall", "kind": "webhook", "conn_id": "t_webhook", "severities": ["critical", "warning"]},
            {"name": "team", "kind": "email", "conn_id": "t_smtp", "to": ["ml-team@example.org"]},
        ],
        "backoff_seconds": 0.05,
        "timeout_seconds": 5,
    }
    return AlertsConfig(**{**base, **overrides})
