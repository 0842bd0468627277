"""The Models page's Alerts panel, rendered from a real delivery log."""

from __future__ import annotations

from datetime import date

from mlops.alerts.dispatch import emit
from mlops.alerts.events import Event
from mlops.ui.page import render
from receivers import alerts_config


def _overview() -> dict:
    return {
        "dataset": "synthetic",
        "model": "synthetic_model",
        "registered": False,
        "primary_metric": "roc_auc",
        "aliases": {"champion": None, "challenger": None, "previous": None},
        "history": [],
        "drift": {"days": [], "drift_share": [], "features": {}},
        "validation": None,
    }


def test_the_panel_lists_each_alert_and_where_it_went_or_why_not(store):
    cfg = alerts_config(channels=[{"name": "oncall", "kind": "webhook", "conn_id": "t_unknown_conn", "severities": ["warning"]}])
    q = Event(
        type="partition_quarantined",
        dataset="synthetic",
        day=date(2024, 1, 12),
        summary="partition 2024-01-12 quarantined <x0>",
        links={"Data Docs": "http://127.0.0.1:8080/mlops/datadocs/index.html"},
    )
    stale = Event(type="champion_stale", dataset="synthetic", day=date(2024, 1, 12), summary="champion 45 days old", severity="critical")
    emit([q, stale], cfg, store=store, sleep=lambda s: None)
    alerts = {"dataset": "synthetic", "days": 30, "alerts": store.recent("synthetic")}
    page = render(_overview(), ["synthetic"], alerts=alerts)
    assert "<h2>Alerts</h2>" in page and page.count('<tr data-alert="') == 2
    assert "partition 2024-01-12 quarantined &lt;x0&gt;" in page and 'href="http://127.0.0.1:8080/mlops/datadocs/index.html"' in page
    assert "oncall: failed" in page and "channel not usable: connection &#x27;t_unknown_conn&#x27;" in page
    assert "not sent: skipped" in page and "no channel takes severity &#x27;critical&#x27;" in page
    empty = render(_overview(), ["synthetic"], alerts={"dataset": "synthetic", "days": 30, "alerts": []})
    assert "No alert in the last 30 days." in empty
    assert "<h2>Alerts</h2>" not in render(_overview(), ["synthetic"])
