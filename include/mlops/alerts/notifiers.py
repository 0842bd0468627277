"""Airflow notifiers: alerts plug into ``on_*_callback`` and Deadline Alerts the Airflow way.

``AlertNotifier(event)``
    The product's notifier. Builds the events its callback stands for (``mlops.alerts.build``),
    routes them to the dataset's channels by severity, records them in the delivery log so each
    goes out once, and never raises: a channel that is down never fails the task it reports on.
    As a Deadline Alert callback it runs in the triggerer (``AsyncCallback``)::

        on_failure_callback=AlertNotifier("run_failed")
        deadline=DeadlineAlert(..., callback=AsyncCallback(AlertNotifier, kwargs={"event": "nightly_late", "dataset": "flights"}))

``WebhookNotifier(conn_id=…)``, ``EmailNotifier(conn_id=…, to=…)``
    One channel, no routing and no delivery log: for any DAG, e.g.
    ``on_failure_callback=WebhookNotifier(conn_id="team_webhook")`` posts a signed ``run_failed``.

This module is imported by DAG files at parse time: it imports only ``airflow.sdk``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier

#: The callbacks ``AlertNotifier`` understands: event builders, plus the nightly digest.
KINDS = (
    "run_failed",
    "partition_quarantined",
    "decision",
    "challenger_registered",
    "approval_waiting",
    "gate_rejected",
    "promoted",
    "rolled_back",
    "nightly_late",
    "digest",
)


class AlertNotifier(BaseNotifier):
    """Record and send the alert events of one callback; never fails the task or run it reports on.

    Parameters
    ----------
    event : str
        What the callback stands for, one of ``KINDS`` (``decision`` gives ``drift_alarm``,
        ``champion_stale`` and ``retrain_decided``; ``digest`` sends the night's digest).
    dataset : str, optional
        Dataset config name; default: the DAG's ``dataset:<name>`` tag (Deadline Alerts have no
        DAG in their context, so they pass it).
    """

    template_fields: Sequence[str] = ()

    def __init__(self, event: str, *, dataset: str | None = None, context: dict | None = None):
        if event not in KINDS:
            raise ValueError(f"AlertNotifier: event must be one of {KINDS}, got {event!r}")
        super().__init__(context=context)
        self.event = event
        self.dataset = dataset

    def __repr__(self) -> str:
        return f"AlertNotifier({self.event!r})"

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Nothing to render (and ``dag.test`` hands DAG callbacks a serialized DAG without a template env)."""

    def notify(self, context: Any) -> None:
        try:
            self._notify(dict(context))
        except Exception as e:
            self.log.exception("alert %s could not be handled (%s); the pipeline goes on", self.event, type(e).__name__)

    async def async_notify(self, context: Any) -> None:
        import asyncio

        # Reading connections and the delivery log blocks: keep the triggerer's event loop free.
        await asyncio.to_thread(self.notify, context)

    def _notify(self, context: dict) -> None:
        from mlops.airflow.runtime import dataset_config
        from mlops.alerts import build, dispatch

        name = self.dataset or build.dataset_of(context)
        if not name:
            self.log.warning("alert %s: no dataset (the DAG has no 'dataset:<name>' tag); nothing recorded", self.event)
            return
        config = dataset_config(name)
        if self.event == "digest":
            dispatch.flush_digest(name, config.alerts)
            return
        events = build.BUILDERS[self.event](context, config)
        suppress = self._explained(events, context) if self.event == "run_failed" else None
        dispatch.emit(events, config.alerts, backfill=build.is_backfill(context), suppress=suppress)

    def _explained(self, events: list, context: dict) -> str | None:
        """A run failure that a quarantine of the same run already reported is not sent twice."""
        from mlops.alerts.build import run_of
        from mlops.alerts.store import AlertStore

        if not events:
            return None
        event = events[0]
        quarantine = AlertStore().event(f"partition_quarantined|{event.dataset}|{event.day}")
        if quarantine and quarantine["run_id"] == run_of(context)["run_id"]:
            return f"explained by partition_quarantined of {event.day}, already reported for this run"
        return None


class _ChannelNotifier(BaseNotifier):
    """One event, built from the callback's context, to one connection (retried, never raising)."""

    template_fields: Sequence[str] = ("summary",)

    def __init__(
        self,
        *,
        conn_id: str,
        event: str = "run_failed",
        summary: str | None = None,
        attempts: int = 3,
        backoff_seconds: float = 1.0,
        timeout_seconds: float = 10.0,
        context: dict | None = None,
    ):
        super().__init__(context=context)
        self.conn_id = conn_id
        self.event = event
        self.summary = summary
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.timeout_seconds = timeout_seconds

    def _event(self, context: dict):
        from mlops.alerts.build import dataset_of, day_of, links_of, run_of
        from mlops.alerts.events import Event

        run = run_of(context)
        summary = self.summary or f"{self.event.replace('_', ' ')}: run {run['run_id']} of {run['dag_id']}" + (
            f", task {run['task_id']}" if run["task_id"] else ""
        )
        return Event(type=self.event, dataset=dataset_of(context) or str(run["dag_id"]), summary=summary, day=day_of(context), run=run, links=links_of(run))

    def notify(self, context: Any) -> None:
        from airflow.sdk import BaseHook

        from mlops.alerts.channels import with_retries

        try:
            event = self._event(dict(context))
            channel, send = self._channel(BaseHook.get_connection(self.conn_id), event)
            delivery = with_retries(send, attempts=self.attempts, backoff=self.backoff_seconds, secrets=channel.secrets)
            self.log.info("alert %s → connection %s: %s", event.key, self.conn_id, delivery.detail)
        except Exception as e:
            self.log.exception("alert to connection %s could not be sent (%s); the pipeline goes on", self.conn_id, type(e).__name__)

    async def async_notify(self, context: Any) -> None:
        import asyncio

        await asyncio.to_thread(self.notify, context)

    def _channel(self, conn, event):
        raise NotImplementedError


class WebhookNotifier(_ChannelNotifier):
    """POST a signed JSON alert (Slack-compatible ``text`` included) to the webhook of an ``http`` connection."""

    def _channel(self, conn, event):
        from mlops.alerts import render
        from mlops.alerts.channels import WebhookChannel

        channel = WebhookChannel(conn, timeout=self.timeout_seconds)
        return channel, lambda: channel.send(render.payload(event), event.type, event.key)


class EmailNotifier(_ChannelNotifier):
    """Email an HTML alert through the SMTP server of an ``smtp`` connection."""

    template_fields: Sequence[str] = ("summary", "to")

    def __init__(self, *, conn_id: str, to: str | list[str], **kwargs: Any):
        super().__init__(conn_id=conn_id, **kwargs)
        self.to = [to] if isinstance(to, str) else list(to)

    def _channel(self, conn, event):
        from mlops.alerts import render
        from mlops.alerts.channels import EmailChannel

        channel = EmailChannel(conn, self.to)
        return channel, lambda: channel.send(render.subject(event), render.html(event), event.type, event.key)
