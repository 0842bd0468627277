"""The Models page's "In production" panel, from a real SQLite prediction store."""

from __future__ import annotations

from datetime import UTC, date, datetime

from mlops.predictions.store import PredictionStore, Unit, embedded_url
from mlops.ui.overview import production_series
from mlops.ui.page import _production, render

NOW = datetime(2024, 3, 10, tzinfo=UTC)


def _write(store, day: int, version: int, role: str, kind: str, values: dict) -> None:
    store.replace_live_metrics(Unit("synthetic", date(2024, 3, day), "synthetic_model", version, role), kind, values, rows=400, computed_at=NOW)


def test_champion_line_shadow_beside_it_changes_marked_and_prediction_drift(settings, late_labels_config):
    store = PredictionStore(embedded_url(settings.home))
    for day in (1, 2, 3):  # v1 serves; v2 waits as shadow on day 3
        _write(store, day, 1, "champion", "estimated", {"roc_auc": 0.80 - day / 100, "accuracy": 0.7})
        _write(store, day, 1, "champion", "drift", {"drift_score": 0.02 * day, "drift_threshold": 0.1, "drift_p_value": None, "drifted": 0.0})
    _write(store, 1, 1, "champion", "realised", {"roc_auc": 0.79, "accuracy": 0.71})  # day 1's labels arrived (day 4)
    _write(store, 3, 2, "shadow", "estimated", {"roc_auc": 0.83})
    _write(store, 4, 2, "champion", "estimated", {"roc_auc": 0.84})  # promoted
    _write(store, 4, 2, "champion", "drift", {"drift_score": 0.3, "drift_threshold": 0.1, "drift_p_value": None, "drifted": 1.0})
    prod = production_series(late_labels_config, store)
    assert prod["days"] == ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04"]
    assert prod["champion"]["version"] == [1, 1, 1, 2] and prod["shadow"]["version"] == [None, None, 2, None]
    assert prod["champion"]["realised"] == [0.79, None, None, None]
    assert prod["champion"]["estimated"] == [0.79, 0.78, 0.77, 0.84] and prod["shadow"]["estimated"] == [None, None, 0.83, None]
    assert prod["changes"] == [{"day": "2024-03-04", "from": 1, "to": 2}]
    assert prod["drift"]["drifted"] == [False, False, False, True] and prod["drift"]["threshold"] == 0.1
    html = _production(prod)
    assert 'id="production-chart"' in html and "v1→v2" in html and "Latest realised: <b>0.7900</b> on 2024-03-01 (v1, 400 labelled rows)" in html
    assert "champion, estimated (labels pending)" in html and "shadow challenger, estimated" in html and 'data-feature="prediction drift"' in html
    assert "shadow challenger, realised" not in html  # no shadow label has arrived: no legend entry for it


def test_the_panel_says_why_it_is_empty(settings, late_labels_config):
    assert "no <code>scoring</code> section" in _production(production_series(late_labels_config.model_copy(update={"scoring": None}), None))
    empty = production_series(late_labels_config, PredictionStore(embedded_url(settings.home)))
    assert "No live metrics yet" in _production(empty)
    page = render(
        {
            "dataset": "synthetic",
            "model": "m",
            "registered": False,
            "primary_metric": "roc_auc",
            "aliases": dict.fromkeys(("champion", "challenger", "previous")),
            "history": [],
            "drift": {"days": [], "features": {}},
            "validation": None,
            "production": empty,
        },
        ["synthetic"],
    )
    assert "<h2>In production</h2>" in page
