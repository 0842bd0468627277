"""Routing, once-only delivery, retries of a channel that was down, the digest: real receivers, a real SQLite log."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from mlops.alerts.dispatch import emit, flush_digest, routes
from mlops.alerts.events import Event
from mlops.errors import ConfigError
from receivers import alerts_config

NO_WAIT = {"sleep": lambda s: None}


def quarantine(day: str = "2024-01-12") -> Event:
    return Event(
        type="partition_quarantined",
        dataset="synthetic",
        day=date.fromisoformat(day),
        summary=f"partition {day} quarantined",
        run={"dag_id": "d", "run_id": f"manual__{day}"},
    )


def registered(version: str) -> Event:
    return Event(type="challenger_registered", dataset="synthetic", day=date(2024, 1, 10), version=version, summary=f"v{version} registered")


def test_an_event_goes_out_once_whatever_retries_or_reruns_report_it(channels, store):
    cfg = alerts_config()
    first = emit([quarantine()], cfg, store=store, **NO_WAIT)
    assert first[0]["new"] is True and {d["channel"]: d["status"] for d in first[0]["deliveries"]} == {"oncall": "sent", "team": "sent"}
    for _ in range(3):  # a task retry, a cleared task, a re-run of the DAG run
        again = emit([quarantine()], cfg, store=store, **NO_WAIT)
        assert again[0]["new"] is False and again[0]["deliveries"] == []
    assert len(channels["webhook"].events("partition_quarantined")) == 1 and len(channels["smtp"].messages) == 1
    assert all(r.verified for r in channels["webhook"].received)
    # Another day is another event; for version events the version is part of the identity.
    emit([quarantine("2024-01-13"), registered("3"), registered("3"), registered("4")], cfg, store=store, **NO_WAIT)
    assert len(channels["webhook"].events("partition_quarantined")) == 2


def test_routes_follow_severity_mute_digest_and_backfills():
    cfg = alerts_config(mute=["promoted"], severity={"drift_alarm": "critical"})
    warn, info = quarantine(), registered("1")
    assert [(r.channel, r.status) for r in routes(warn, cfg)] == [("oncall", "sending"), ("team", "sending")]
    assert [(r.channel, r.status) for r in routes(info, cfg)] == [("team", "queued")]  # info: digest by default
    assert [(r.channel, r.status) for r in routes(warn, cfg, backfill=True)] == [("oncall", "queued"), ("team", "queued")]
    promoted = Event(type="promoted", dataset="synthetic", day=date(2024, 1, 10), version="1", summary="v1 champion")
    assert [(r.channel, r.status, r.detail) for r in routes(promoted, cfg)] == [("-", "skipped", "muted by alerts.mute of the dataset config")]
    nobody = alerts_config(channels=[])
    assert routes(warn, nobody)[0].detail == "no channel takes severity 'warning' (channels: none configured)"


def test_config_rejects_unknown_event_types_and_mail_without_recipients():
    with pytest.raises(ValueError, match=r"unknown event types \['drift'\]"):
        alerts_config(mute=["drift"])
    from mlops.config import load_dataset

    with pytest.raises(ConfigError, match=r"alerts.channels.0: alert channel 'team': an email channel needs at least one recipient"):
        load_dataset("synthetic", override={"alerts": {"channels": [{"name": "team", "kind": "email", "conn_id": "x"}]}})


def test_a_channel_that_is_down_is_recorded_then_retried_on_the_next_report(channels, store, monkeypatch):
    from receivers import set_connection

    cfg = alerts_config(channels=[{"name": "oncall", "kind": "webhook", "conn_id": "t_down"}], attempts=3)
    (result,) = emit([quarantine()], cfg, store=store, **NO_WAIT)
    (delivery,) = result["deliveries"]
    assert delivery["status"] == "failed" and delivery["attempts"] == 3 and delivery["detail"].startswith("failed, retried 2 times: ")
    (row,) = store.deliveries(store.event(quarantine().key)["id"])
    assert (row["status"], row["attempts"], row["rounds"]) == ("failed", 3, 1)
    # The receiver is back (the connection now points at it): the next report of the event retries and sends.
    set_connection(monkeypatch, "t_down", conn_type="http", host=channels["webhook"].url, password=channels["webhook"].secret)
    (again,) = emit([quarantine()], cfg, store=store, **NO_WAIT)
    assert again["new"] is False and again["deliveries"][0]["status"] == "sent"
    (row,) = store.deliveries(store.event(quarantine().key)["id"])
    assert (row["status"], row["attempts"], row["rounds"]) == ("sent", 4, 2)
    assert emit([quarantine()], cfg, store=store, **NO_WAIT)[0]["deliveries"] == []
    assert len(channels["webhook"].received) == 1


def test_the_digest_sends_the_nights_low_severity_events_in_one_message(channels, store):
    cfg = alerts_config()
    emit(
        [registered("1"), Event(type="retrain_decided", dataset="synthetic", day=date(2024, 1, 10), summary="retraining: 2 reasons")],
        cfg,
        store=store,
        **NO_WAIT,
    )
    assert channels["smtp"].messages == [] and channels["webhook"].received == []  # queued, not sent
    night = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    sent = flush_digest("synthetic", cfg, store=store, now=night, **NO_WAIT)
    assert sent["events"] == 2 and [d["status"] for d in sent["deliveries"]] == ["sent"]
    (mail,) = channels["smtp"].messages
    assert mail["Subject"] == "[MLOps info] synthetic: 2 events: 1 challenger_registered, 1 retrain_decided"
    body = channels["smtp"].bodies()[0]
    assert "v1 registered" in body and "retraining: 2 reasons" in body
    assert {d["status"] for e in store.recent("synthetic", now=night) for d in e["deliveries"] if e["type"] != "digest"} == {"sent"}
    # Once per dataset and night: what is queued later waits for the next night's digest.
    emit([registered("2")], cfg, store=store, **NO_WAIT)
    assert flush_digest("synthetic", cfg, store=store, now=night, **NO_WAIT) is None
    nxt = flush_digest("synthetic", cfg, store=store, now=night.replace(day=30, hour=23), **NO_WAIT)
    assert nxt is None and len(channels["smtp"].messages) == 1
    tomorrow = flush_digest("synthetic", cfg, store=store, now=datetime(2026, 12, 1, 3, 0, tzinfo=UTC), **NO_WAIT)
    assert tomorrow["events"] == 1 and len(channels["smtp"].messages) == 2


def test_suppressed_and_unrouted_events_are_recorded_with_the_reason(store):
    cfg = alerts_config(channels=[])
    failed = Event(type="run_failed", dataset="synthetic", day=date(2024, 1, 12), summary="run failed at validate")
    emit([failed], cfg, store=store, suppress="explained by partition_quarantined of 2024-01-12", **NO_WAIT)
    emit([quarantine()], cfg, store=store, **NO_WAIT)
    recent = {e["type"]: e for e in store.recent("synthetic")}
    assert recent["run_failed"]["deliveries"] == [
        {**recent["run_failed"]["deliveries"][0], "channel": "-", "status": "skipped", "detail": "explained by partition_quarantined of 2024-01-12"}
    ]
    assert recent["partition_quarantined"]["deliveries"][0]["detail"] == "no channel takes severity 'warning' (channels: none configured)"


def test_a_delivery_log_that_cannot_be_reached_never_fails_the_caller(channels, monkeypatch):
    from receivers import closed_port

    monkeypatch.setenv("AIRFLOW_CONN_MLOPS_METADATA", f"postgresql://mlops:pw-not-logged@127.0.0.1:{closed_port()}/mlops_metadata")
    (result,) = emit([quarantine("2024-02-01")], alerts_config(), **NO_WAIT)
    assert result == {"key": "partition_quarantined|synthetic|2024-02-01", "new": None, "error": "OperationalError"}
    assert channels["webhook"].received == []  # not recorded, so not sent: the next report tries again
