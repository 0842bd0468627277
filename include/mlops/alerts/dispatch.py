"""Route events to a dataset's channels, send them once, and keep the night's digest.

``emit`` is what every callback calls. For each event it picks the severity (the dataset's
``alerts.severity`` over the type's default), the channels that take that severity, and
whether it goes out now or waits for the digest (``alerts.digest`` severities, and every
event of a backfill run: a backfill of a hundred days must not send a hundred messages).
It records the event and its deliveries in the delivery log, then sends what it claimed.

``flush_digest`` sends each channel one message with the dataset's queued events; it runs
when a nightly run ends, at most once per dataset and day (the digest is an event too).

Nothing here raises into the pipeline: a channel that is down is retried a bounded number of
times with backoff, and the outcome (``failed, retried N times: …``) is recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mlops.alerts import render
from mlops.alerts.channels import Delivery, EmailChannel, WebhookChannel, with_retries
from mlops.alerts.events import Event
from mlops.alerts.store import AlertStore, Claim, Route
from mlops.config import AlertChannelConfig, AlertsConfig

log = logging.getLogger(__name__)

NONE = "-"


def get_connection(conn_id: str):
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(conn_id)


def routes(event: Event, alerts: AlertsConfig, *, backfill: bool = False) -> list[Route]:
    """Where ``event`` (already at its final severity) goes, and how each delivery starts."""
    if event.type in alerts.mute:
        return [Route(NONE, NONE, "skipped", "muted by alerts.mute of the dataset config")]
    chosen = [c for c in alerts.channels if event.severity in c.severities]
    if not chosen:
        configured = ", ".join(c.name for c in alerts.channels) or "none configured"
        return [Route(NONE, NONE, "skipped", f"no channel takes severity {event.severity!r} (channels: {configured})")]
    if event.type != "digest" and (backfill or event.severity in alerts.digest):
        why = "backfill run" if backfill else f"severity {event.severity}"
        return [Route(c.name, c.kind, "queued", f"waits for the night's digest ({why})") for c in chosen]
    return [Route(c.name, c.kind, "sending") for c in chosen]


def redacted(event: Event) -> Event:
    """``event`` with every secret Airflow's masker knows in this process replaced by ``***``."""
    from dataclasses import replace

    try:
        from airflow.sdk._shared.secrets_masker import redact
    except ImportError:  # another Airflow layout: the texts are the pipeline's own
        return event
    return replace(
        event,
        summary=str(redact(event.summary)),
        details=[str(redact(d)) for d in event.details],
        numbers=redact(dict(event.numbers)),
        links={k: str(redact(v)) for k, v in event.links.items()},
    )


def _channel(cfg: AlertChannelConfig, alerts: AlertsConfig, connections: Callable[[str], Any]):
    conn = connections(cfg.conn_id)
    if cfg.kind == "webhook":
        return WebhookChannel(conn, timeout=alerts.timeout_seconds)
    return EmailChannel(conn, cfg.to)


def _send(claim: Claim, alerts: AlertsConfig, message: dict[str, Any], connections, sleep) -> Delivery:
    cfg = next((c for c in alerts.channels if c.name == claim.channel), None)
    if cfg is None:
        return Delivery("failed", 0, f"failed: channel {claim.channel!r} is no longer in the dataset's alerts config")
    try:
        channel = _channel(cfg, alerts, connections)
    except Exception as e:  # connection missing or unusable: a config problem, retried on the next report
        return Delivery("failed", 0, f"failed, channel not usable: connection {cfg.conn_id!r}: {type(e).__name__}")
    if cfg.kind == "webhook":

        def send() -> str:
            return channel.send(message["payload"], message["type"], message["key"])
    else:

        def send() -> str:
            return channel.send(message["subject"], message["html"], message["type"], message["key"])

    return with_retries(send, attempts=alerts.attempts, backoff=alerts.backoff_seconds, secrets=channel.secrets, sleep=sleep)


def _deliver(store: AlertStore, claims: list[Claim], alerts: AlertsConfig, message: dict, connections, sleep) -> list[dict]:
    out = []
    for claim in claims:
        try:
            delivery = _send(claim, alerts, message, connections, sleep)
        except Exception as e:  # a bug must not fail the pipeline either; the row says what happened
            delivery = Delivery("failed", 0, f"failed: {type(e).__name__} while sending")
            log.exception("alert %s: sending to channel %s failed unexpectedly", message["key"], claim.channel)
        store.finish(claim, status=delivery.status, attempts=delivery.attempts, detail=delivery.detail)
        log.info("alert %s → channel %s (%s): %s", message["key"], claim.channel, claim.kind, delivery.detail)
        out.append({"channel": claim.channel, "status": delivery.status, "attempts": delivery.attempts, "detail": delivery.detail})
    return out


def emit(
    events: list[Event],
    alerts: AlertsConfig,
    *,
    store: AlertStore | None = None,
    backfill: bool = False,
    connections: Callable[[str], Any] = get_connection,
    sleep=None,
    suppress: str | None = None,
) -> list[dict]:
    """Record and send ``events``; return one summary per event (key, new?, deliveries made now).

    ``suppress``: record the events but send nothing, with this reason (e.g. a run failure that
    a quarantine alert of the same run already explained).
    """
    import time

    sleep = sleep or time.sleep
    results = []
    for event in events:
        try:
            event = redacted(event.with_severity(alerts.severity.get(event.type, event.severity)))
            store = store or AlertStore()
            chosen = [Route(NONE, NONE, "skipped", suppress)] if suppress else routes(event, alerts, backfill=backfill)
            _, new, claims = store.record(event, chosen)
            message = {
                "key": event.key,
                "type": event.type,
                "payload": render.payload(event),
                "subject": render.subject(event),
                "html": render.html(event),
            }
            sent = _deliver(store, claims, alerts, message, connections, sleep)
            if not new and not claims:
                log.info("alert %s: already recorded; nothing to send again", event.key)
            results.append({"key": event.key, "new": new, "deliveries": sent})
        except Exception as e:
            log.exception("alert %s of %s could not be recorded or sent (%s); the pipeline goes on", event.type, event.dataset, type(e).__name__)
            results.append({"key": event.key, "new": None, "error": type(e).__name__})
    return results


def flush_digest(
    dataset: str,
    alerts: AlertsConfig,
    *,
    store: AlertStore | None = None,
    now: datetime | None = None,
    connections: Callable[[str], Any] = get_connection,
    sleep=None,
) -> dict | None:
    """Send the queued events of ``dataset`` as one message per channel, once per day.

    Returns the digest's summary, or None when nothing waits or today's digest already went
    out (what was queued since then waits for tomorrow's).
    """
    import time

    sleep = sleep or time.sleep
    try:
        store = store or AlertStore()
        waiting = store.queued(dataset)
        if not waiting:
            return None
        by_channel: dict[str, list[tuple[dict, Event]]] = {}
        for delivery, event in waiting:
            by_channel.setdefault(delivery["channel"], []).append((delivery, event))
        events = list({e.key: e for _, e in waiting}.values())
        today = (now or datetime.now(UTC)).date()
        digest = Event(type="digest", dataset=dataset, day=today, summary=render.digest_summary(events), numbers={"events": len(events)})
        routes_ = [Route(name, items[0][0]["kind"], "sending") for name, items in by_channel.items()]
        _, new, claims = store.record(digest, routes_)
        if not claims:
            return None
        results = []
        for claim in claims:
            items = by_channel.get(claim.channel) or []
            mine = [e for _, e in items]
            message = {
                "key": digest.key,
                "type": "digest",
                "payload": render.digest_payload(digest, mine),
                "subject": render.subject(digest),
                "html": render.digest_html(digest, mine),
            }
            (result,) = _deliver(store, [claim], alerts, message, connections, sleep)
            if result["status"] == "sent":
                store.mark([d["id"] for d, _ in items], status="sent", detail=f"sent in the digest of {today}")
            results.append(result)
        return {"key": digest.key, "new": new, "events": len(events), "deliveries": results}
    except Exception as e:
        log.exception("digest of %s could not be sent (%s); the pipeline goes on", dataset, type(e).__name__)
        return {"error": type(e).__name__}
