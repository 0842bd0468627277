"""The delivery log: every alert event and what became of it, in a SQL database the product owns.

Reached through the Airflow connection ``mlops_metadata`` (a SQLite file under ``MLOPS_HOME``
in the embedded default, PostgreSQL in the production profile); without that connection the
same SQLite file is used. Tables are created on first use, idempotently:

``alert_events``
    one row per event, unique on its ``key`` (type, dataset, day and, for version events, the
    version): a retry or re-run that reports the same event finds the row and sends nothing.
``alert_deliveries``
    one row per event and channel, unique on both: ``status`` is ``sending`` (claimed by a
    process), ``sent``, ``failed`` (retried on the event's next report, up to a bound),
    ``queued`` (waits for the night's digest) or ``skipped`` (muted, no channel for its
    severity; channel ``-``); ``attempts`` counts tries, ``detail`` says what happened.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    create_engine,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from mlops.alerts.events import Event

log = logging.getLogger(__name__)

CONN_ID = "mlops_metadata"
#: A delivery claimed longer ago than this by a process that never finished it counts as failed.
STALE_CLAIM = timedelta(minutes=10)
#: Reports of one event retry its failed channels at most this many times (each with its own attempts).
MAX_ROUNDS = 3

metadata = MetaData()

alert_events = Table(
    "alert_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(300), nullable=False, unique=True),
    Column("type", String(40), nullable=False),
    Column("dataset", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("day", String(10), nullable=False),
    Column("version", String(32)),
    Column("summary", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("dag_id", String(250)),
    Column("run_id", String(250)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("alert_events_dataset_created", "dataset", "created_at"),
)

alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", Integer, ForeignKey("alert_events.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("rounds", Integer, nullable=False, default=0),
    Column("detail", Text, nullable=False, default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("event_id", "channel", name="alert_deliveries_event_channel"),
    Index("alert_deliveries_status", "status"),
)


@dataclass(frozen=True)
class Route:
    """Where an event goes: a channel name and kind, and the status its delivery row starts with."""

    channel: str
    kind: str
    status: str  # sending, queued or skipped
    detail: str = ""


@dataclass(frozen=True)
class Claim:
    """A delivery this process may now make (its row is ``sending``)."""

    delivery_id: int
    event_id: int
    channel: str
    kind: str


def default_url() -> str:
    from mlops.settings import Settings

    home = Path(Settings.value("home", default=".")).expanduser().resolve()
    return f"sqlite:///{home / 'metadata.sqlite'}"


def metadata_url() -> str:
    """SQLAlchemy URL of the connection ``mlops_metadata``, else the SQLite file under ``MLOPS_HOME`` (never logged)."""
    try:
        from mlops.airflow.runtime import sql_url

        return sql_url(CONN_ID)
    except Exception as e:  # not defined (AirflowNotFoundException), or no Airflow here
        if "not defined" not in str(e) and type(e).__name__ not in ("AirflowNotFoundException", "ModuleNotFoundError"):
            raise
        return default_url()


_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _engine(url: str) -> Engine:
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            kwargs: dict[str, Any] = {"pool_pre_ping": True}
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
                kwargs["connect_args"] = {"timeout": 60}
            engine = create_engine(url, **kwargs)
            _create_tables(engine)
            _engines[url] = engine
        return engine


def _create_tables(engine: Engine) -> None:
    """``CREATE TABLE`` once; another process creating them at the same moment is fine."""
    for attempt in range(3):
        try:
            metadata.create_all(engine, checkfirst=True)
            return
        except (OperationalError, ProgrammingError, IntegrityError):
            if attempt == 2:
                raise


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes: they were stored in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class AlertStore:
    """The delivery log on one database."""

    def __init__(self, url: str | None = None):
        self.engine = _engine(url or metadata_url())

    def record(self, event: Event, routes: list[Route]) -> tuple[int, bool, list[Claim]]:
        """Record ``event`` with a delivery row per route; return ``(event id, new?, claims)``.

        A new event claims every ``sending`` route. An event seen before claims only its
        deliveries that failed (fewer than ``MAX_ROUNDS`` times) or were left half-way by a
        process that died: what was sent stays sent.
        """
        now = _now()
        row = {
            "key": event.key,
            "type": event.type,
            "dataset": event.dataset,
            "severity": event.severity,
            "day": event.day.isoformat(),
            "version": event.version,
            "summary": event.summary[:2000],
            "payload": json.dumps(event.to_dict(), sort_keys=True, default=str),
            "dag_id": event.run.get("dag_id"),
            "run_id": event.run.get("run_id"),
            "created_at": now,
        }
        try:
            with self.engine.begin() as conn:
                event_id = conn.execute(insert(alert_events).values(**row)).inserted_primary_key[0]
                for r in routes:
                    conn.execute(
                        insert(alert_deliveries).values(
                            event_id=event_id,
                            channel=r.channel,
                            kind=r.kind,
                            status=r.status,
                            attempts=0,
                            rounds=0,
                            detail=r.detail,
                            updated_at=now,
                        )
                    )
            claims = [Claim(d["id"], event_id, d["channel"], d["kind"]) for d in self.deliveries(event_id) if d["status"] == "sending"]
            return event_id, True, claims
        except IntegrityError:
            pass
        with self.engine.connect() as conn:
            event_id = conn.execute(select(alert_events.c.id).where(alert_events.c.key == event.key)).scalar_one()
        return event_id, False, self.claim_retries(event_id)

    def claim_retries(self, event_id: int) -> list[Claim]:
        """Take over the event's failed or abandoned deliveries (one process wins each)."""
        now = _now()
        claims = []
        retryable = and_(
            alert_deliveries.c.event_id == event_id,
            alert_deliveries.c.rounds < MAX_ROUNDS,
            or_(
                alert_deliveries.c.status == "failed",
                and_(alert_deliveries.c.status == "sending", alert_deliveries.c.updated_at < now - STALE_CLAIM),
            ),
        )
        with self.engine.begin() as conn:
            rows = conn.execute(select(alert_deliveries).where(retryable)).mappings().all()
            for d in rows:
                won = conn.execute(
                    update(alert_deliveries)
                    .where(alert_deliveries.c.id == d["id"], alert_deliveries.c.updated_at == d["updated_at"])
                    .values(status="sending", updated_at=now)
                ).rowcount
                if won:
                    claims.append(Claim(d["id"], event_id, d["channel"], d["kind"]))
        return claims

    def finish(self, claim: Claim, *, status: str, attempts: int, detail: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(alert_deliveries)
                .where(alert_deliveries.c.id == claim.delivery_id)
                .values(
                    status=status,
                    attempts=alert_deliveries.c.attempts + attempts,
                    rounds=alert_deliveries.c.rounds + 1,
                    detail=detail[:1000],
                    updated_at=_now(),
                )
            )

    def deliveries(self, event_id: int) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(alert_deliveries).where(alert_deliveries.c.event_id == event_id).order_by(alert_deliveries.c.id))
            return [dict(r) for r in rows.mappings()]

    def event(self, key: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(alert_events).where(alert_events.c.key == key)).mappings().first()
        return dict(row) if row else None

    def queued(self, dataset: str) -> list[tuple[dict, Event]]:
        """Deliveries waiting for the digest of ``dataset``, oldest first, with their events."""
        j = alert_deliveries.join(alert_events, alert_deliveries.c.event_id == alert_events.c.id)
        query = (
            select(alert_deliveries, alert_events.c.payload)
            .select_from(j)
            .where(alert_events.c.dataset == dataset, alert_deliveries.c.status == "queued")
            .order_by(alert_events.c.created_at, alert_deliveries.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [({k: r[k] for k in r if k != "payload"}, Event.from_dict(json.loads(r["payload"]))) for r in rows]

    def mark(self, delivery_ids: list[int], *, status: str, detail: str) -> None:
        if not delivery_ids:
            return
        with self.engine.begin() as conn:
            conn.execute(update(alert_deliveries).where(alert_deliveries.c.id.in_(delivery_ids)).values(status=status, detail=detail[:1000], updated_at=_now()))

    def recent(self, dataset: str, *, days: int = 30, now: datetime | None = None) -> list[dict]:
        """Events of the last ``days`` days, newest first, each with its deliveries (for the Models page)."""
        since = (now or _now()) - timedelta(days=days)
        with self.engine.connect() as conn:
            events = (
                conn.execute(
                    select(alert_events)
                    .where(alert_events.c.dataset == dataset, alert_events.c.created_at >= since)
                    .order_by(alert_events.c.created_at.desc(), alert_events.c.id.desc())
                )
                .mappings()
                .all()
            )
            ids = [e["id"] for e in events]
            deliveries: dict[int, list[dict]] = {i: [] for i in ids}
            if ids:
                for d in conn.execute(select(alert_deliveries).where(alert_deliveries.c.event_id.in_(ids)).order_by(alert_deliveries.c.id)).mappings():
                    deliveries[d["event_id"]].append(
                        {
                            "channel": d["channel"],
                            "kind": d["kind"],
                            "status": d["status"],
                            "attempts": d["attempts"],
                            "detail": d["detail"],
                            "updated_at": _aware(d["updated_at"]).isoformat(),
                        }
                    )
        out = []
        for e in events:
            payload = json.loads(e["payload"])
            out.append(
                {
                    "key": e["key"],
                    "type": e["type"],
                    "severity": e["severity"],
                    "day": e["day"],
                    "version": e["version"],
                    "summary": e["summary"],
                    "created_at": _aware(e["created_at"]).isoformat(),
                    "links": payload.get("links") or {},
                    "numbers": payload.get("numbers") or {},
                    "dag_id": e["dag_id"],
                    "run_id": e["run_id"],
                    "deliveries": deliveries[e["id"]],
                }
            )
        return out
