"""Deliver a rendered alert: a signed webhook POST or an email, with bounded retries.

Connections hold every address and secret:

- webhook: an ``http`` connection. ``host`` is the full URL (``https://hooks.slack.com/…``) or a
  host name completed by ``schema`` (default https), ``port`` and the extra ``endpoint``;
  ``password`` is the shared secret that signs the body (optional: no secret, no signature);
  extra ``headers`` are added to the request.
- email: an ``smtp`` connection, read by Airflow's SMTP provider (``SmtpHook``): host, port,
  login, password; extras ``from_email``, ``disable_tls`` (false: STARTTLS), ``disable_ssl``
  (false: implicit TLS), ``timeout``, ``ssl_context``.

The signature is ``X-Mlops-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` keyed with the
secret; receivers recompute it over the bytes they received (``verify_signature``). The body
carries ``sent_at`` so they can also refuse old replays.

Error texts never carry the URL, the secret or the password (``safe_error``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Mlops-Signature"
EVENT_HEADER = "X-Mlops-Event"
KEY_HEADER = "X-Mlops-Event-Key"
USER_AGENT = "mlops-pipeline-alerts/1"


class DeliveryError(Exception):
    """A channel refused or could not take an alert. ``retry``: whether trying again can help."""

    def __init__(self, message: str, *, retry: bool = True):
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True)
class Delivery:
    """The outcome of sending one message to one channel: ``sent`` or ``failed``, after ``attempts``."""

    status: str
    attempts: int
    detail: str

    @property
    def sent(self) -> bool:
        return self.status == "sent"


def sign(body: bytes, secret: str) -> str:
    """The signature header's value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, secret: str, header: str | None) -> bool:
    """What a receiver does: recompute the HMAC over the received bytes, compare in constant time."""
    return bool(header) and hmac.compare_digest(sign(body, secret), header)


def safe_error(error: BaseException, secrets: list[str | None]) -> str:
    """``Type: message`` of an error with every secret (URL, password) replaced by ``***``."""
    message = f"{type(error).__name__}: {error}"
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        message = message.replace(secret, "***")
    return message[:500]


def with_retries(send: Callable[[], str], *, attempts: int, backoff: float, secrets: list[str | None], sleep=time.sleep) -> Delivery:
    """Call ``send`` until it succeeds, at most ``attempts`` times, waiting ``backoff``, 2×, 4× … between tries.

    ``send`` returns a short detail (e.g. ``HTTP 200``) or raises; a ``DeliveryError`` with
    ``retry=False`` (an answer that will not change, such as 404) stops at once.
    """
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            detail = send()
            return Delivery("sent", attempt, f"sent ({detail})" + (f" after {attempt} attempts" if attempt > 1 else ""))
        except Exception as e:
            last = safe_error(e, secrets)
            if isinstance(e, DeliveryError) and not e.retry:
                return Delivery("failed", attempt, f"failed, not retried (it would not help): {last}")
            if attempt < attempts:
                sleep(backoff * 2 ** (attempt - 1))
    return Delivery("failed", attempts, f"failed, retried {attempts - 1} times: {last}")


class WebhookChannel:
    """POST a JSON body to the URL of an Airflow ``http`` connection, signed with its password."""

    kind = "webhook"

    def __init__(self, conn: Any, *, timeout: float = 10.0):
        self.conn_id = conn.conn_id
        self.url = webhook_url(conn)
        self.secret = conn.password or None
        extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
        self.headers = {str(k): str(v) for k, v in (extra.get("headers") or {}).items()}
        self.timeout = timeout

    @property
    def secrets(self) -> list[str | None]:
        return [self.url, self.secret, *self.headers.values()]

    def send(self, body: dict[str, Any], event_type: str, key: str) -> str:
        import httpx

        raw = json.dumps(body, sort_keys=True, default=str).encode()
        headers = {**self.headers, "Content-Type": "application/json", "User-Agent": USER_AGENT, EVENT_HEADER: event_type, KEY_HEADER: key}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(raw, self.secret)
        try:
            response = httpx.post(self.url, content=raw, headers=headers, timeout=self.timeout, follow_redirects=False)
        except httpx.HTTPError as e:
            raise DeliveryError(f"webhook of connection {self.conn_id!r} unreachable: {type(e).__name__}: {e}") from e
        if response.status_code >= 300:
            retry = response.status_code >= 500 or response.status_code in (408, 425, 429)
            raise DeliveryError(f"webhook of connection {self.conn_id!r} answered HTTP {response.status_code}", retry=retry)
        return f"HTTP {response.status_code}"


def webhook_url(conn: Any) -> str:
    host = (conn.host or "").strip()
    if not host:
        raise DeliveryError(f"connection {conn.conn_id!r} has no host; set it to the webhook URL", retry=False)
    if "://" in host:
        return host
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
    scheme = conn.schema or "https"
    port = f":{conn.port}" if conn.port else ""
    endpoint = str(extra.get("endpoint") or "")
    return f"{scheme}://{host}{port}/{endpoint.lstrip('/')}"


class EmailChannel:
    """Send an HTML email through the SMTP server of an Airflow ``smtp`` connection (Airflow's SmtpHook)."""

    kind = "email"

    def __init__(self, conn: Any, to: list[str]):
        self.conn_id = conn.conn_id
        self.to = list(to)
        self.password = conn.password or None
        extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
        self.from_email = extra.get("from_email") or (f"mlops-alerts@{conn.host}" if conn.host else "mlops-alerts@localhost")

    @property
    def secrets(self) -> list[str | None]:
        return [self.password]

    def send(self, subject: str, html: str, event_type: str, key: str) -> str:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        with SmtpHook(smtp_conn_id=self.conn_id) as hook:
            hook.send_email_smtp(
                to=self.to,
                subject=subject,
                html_content=html,
                from_email=self.from_email,
                mime_subtype="alternative",
                custom_headers={EVENT_HEADER: event_type, KEY_HEADER: key},
            )
        return f"mail to {len(self.to)} recipient{'s' if len(self.to) != 1 else ''}"
