"""What a person reads: an event, or a digest of several, as chat text, JSON and HTML email.

The webhook body is JSON with a Slack-compatible ``text`` (Slack, Mattermost and Teams
incoming webhooks show it as is) plus the structured ``event`` (or ``events`` for a digest)
for receivers that parse it. Nothing here knows a connection or a secret.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

from mlops.alerts.events import Event

ICON = {"critical": ":red_circle:", "warning": ":warning:", "info": ":information_source:"}
COLOR = {"critical": "#c53030", "warning": "#b7791f", "info": "#2b6cb0"}
SOURCE = "mlops-pipeline"
MAX_DETAILS = 12


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value[:20]) + (f" (+{len(value) - 20})" if len(value) > 20 else "")
    return str(value)


def _slack_escape(text: str) -> str:
    """Slack's three control characters (``&``, ``<``, ``>``) escaped, so text is never read as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def subject(event: Event) -> str:
    return f"[MLOps {event.severity}] {event.dataset}: {event.summary}"[:200]


def text(event: Event) -> str:
    """One message in Slack's mrkdwn: summary line, the numbers, the details, the links."""
    lines = [f"{ICON.get(event.severity, '')} *{_slack_escape(event.type)}* · {_slack_escape(event.dataset)} · {event.day}: {_slack_escape(event.summary)}"]
    if event.numbers:
        lines.append(" · ".join(f"{_slack_escape(k)}: {_slack_escape(_number(v))}" for k, v in event.numbers.items()))
    lines += [f"• {_slack_escape(d)}" for d in event.details[:MAX_DETAILS]]
    if len(event.details) > MAX_DETAILS:
        lines.append(f"• … {len(event.details) - MAX_DETAILS} more")
    if event.links:
        lines.append(" · ".join(f"<{url}|{_slack_escape(label)}>" for label, url in event.links.items()))
    return "\n".join(lines)


def payload(event: Event) -> dict[str, Any]:
    """The webhook's JSON body for one event."""
    return {"source": SOURCE, "text": text(event), "event": event.to_dict(), "sent_at": datetime.now(UTC).isoformat()}


def _rows(numbers: dict[str, Any]) -> str:
    return "".join(
        f'<tr><th style="text-align:left;padding:2px 10px 2px 0">{escape(str(k))}</th><td>{escape(_number(v))}</td></tr>' for k, v in numbers.items()
    )


def _links(links: dict[str, str]) -> str:
    return " · ".join(f'<a href="{escape(url)}">{escape(label)}</a>' for label, url in links.items())


def _event_html(event: Event) -> str:
    details = "".join(f"<li>{escape(d)}</li>" for d in event.details[:MAX_DETAILS])
    if len(event.details) > MAX_DETAILS:
        details += f"<li>… {len(event.details) - MAX_DETAILS} more</li>"
    run = event.run
    where = f"{escape(str(run.get('dag_id')))} / {escape(str(run.get('run_id')))}" if run.get("dag_id") else ""
    return (
        f'<div style="border-left:4px solid {COLOR.get(event.severity, "#718096")};padding:4px 12px;margin:10px 0">'
        f'<div style="font-size:12px;color:#718096">{escape(event.severity)} · {escape(event.type)} · '
        f"{escape(event.dataset)} · {event.day}{' · version ' + escape(str(event.version)) if event.version else ''}</div>"
        f'<div style="font-size:15px;font-weight:600;margin:4px 0">{escape(event.summary)}</div>'
        + (f'<table style="font-size:13px">{_rows(event.numbers)}</table>' if event.numbers else "")
        + (f'<ul style="font-size:13px">{details}</ul>' if details else "")
        + (f'<p style="font-size:13px">{_links(event.links)}</p>' if event.links else "")
        + (f'<div style="font-size:11px;color:#a0aec0">{where}</div>' if where else "")
        + "</div>"
    )


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html><body style="font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1a202c">'
        f'<h2 style="font-size:17px;margin:0 0 6px">{escape(title)}</h2>{body}'
        '<p style="font-size:11px;color:#a0aec0">Sent by the MLOps pipeline. Every alert is listed on the Models page, panel Alerts.</p>'
        "</body></html>"
    )


def html(event: Event) -> str:
    return _document(f"{event.dataset}: {event.type}", _event_html(event))


def digest_summary(events: list[Event]) -> str:
    kinds: dict[str, int] = {}
    for e in events:
        kinds[e.type] = kinds.get(e.type, 0) + 1
    return f"{len(events)} event{'s' if len(events) != 1 else ''}: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))


def digest_text(digest: Event, events: list[Event]) -> str:
    head = f"{ICON['info']} *digest* · {_slack_escape(digest.dataset)} · {digest.day}: {_slack_escape(digest.summary)}"
    return "\n\n".join([head, *(text(e) for e in events)])


def digest_payload(digest: Event, events: list[Event]) -> dict[str, Any]:
    return {
        "source": SOURCE,
        "text": digest_text(digest, events),
        "event": digest.to_dict(),
        "events": [e.to_dict() for e in events],
        "sent_at": datetime.now(UTC).isoformat(),
    }


def digest_html(digest: Event, events: list[Event]) -> str:
    return _document(f"{digest.dataset}: digest of {digest.day} ({digest.summary})", "".join(_event_html(e) for e in events))
