"""The Models page's app inside the real api-server: Airflow's login applies, JSON shapes, the page."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.live

NIGHTLY, MODEL = "mlops_nightly_training_synthetic", "synthetic_model"


def test_plugin_routes_refuse_requests_without_login(stack):
    for path in (
        "/mlops/models",
        "/mlops/api/datasets",
        "/mlops/api/models/synthetic",
        "/mlops/reports/synthetic/drift/2024-01-10.html",
        "/mlops/datadocs/index.html",
    ):
        assert httpx.get(f"{stack.api}{path}", timeout=30).status_code == 401, path
    # A token that does not verify: Airflow's get_user answers 403 ("Invalid JWT token").
    assert httpx.get(f"{stack.api}/mlops/api/datasets", headers={"Authorization": "Bearer not-a-token"}, timeout=30).status_code == 403


def test_the_ui_lists_the_models_view(stack):
    plugins = stack.ok("GET", "/api/v2/plugins")["plugins"]
    (mlops,) = [p for p in plugins if p["name"] == "mlops"]
    assert [(v["name"], v["href"], v["url_route"]) for v in mlops["external_views"]] == [("Models", "mlops/models", "models")]


def test_models_json_matches_the_registry(stack, synthetic_run):
    from mlflow import MlflowClient

    datasets = {d["dataset"]: d["dag_id"] for d in stack.ok("GET", "/mlops/api/datasets")["datasets"]}
    assert datasets["synthetic"] == NIGHTLY and "livebf" in datasets

    data = stack.ok("GET", "/mlops/api/models/synthetic")
    assert set(data) == {"dataset", "model", "registered", "primary_metric", "aliases", "history", "drift", "validation", "production", "shadow"}
    production = data["production"]  # the live metrics (tests/live/test_scoring.py checks them filled in)
    assert production["enabled"] is True and production["metric"] == data["primary_metric"]
    assert all(len(production["champion"][k]) == len(production["days"]) for k in ("version", "realised", "estimated"))
    assert data["model"] == MODEL and data["registered"] is True and set(data["aliases"]) == {"champion", "challenger", "previous"}
    aliases = MlflowClient(tracking_uri=stack.mlflow, registry_uri=stack.mlflow).get_registered_model(MODEL).aliases
    for alias, card in data["aliases"].items():
        assert (card["version"] if card else None) == (str(aliases[alias]) if alias in aliases else None), alias
    if data["aliases"]["champion"]:
        champion = data["aliases"]["champion"]
        assert champion["primary"] == {"name": f"holdout_{data['primary_metric']}", "value": champion["metrics"][f"holdout_{data['primary_metric']}"]}
        assert champion["links"]["model_version"].endswith(f"/models/{MODEL}/versions/{champion['version']}")
        assert data["history"][0]["version"] == champion["version"] and data["history"][0]["approved_by"] == "admin"
    drift = data["drift"]
    assert drift["days"] and all(len(f["scores"]) == len(drift["days"]) for f in drift["features"].values())
    assert all(f["threshold"] is not None for f in drift["features"].values())
    assert data["validation"]["success"] is True and data["validation"]["evaluated"] > 0

    page = stack.call("GET", "/mlops/models", params={"dataset": "synthetic"})
    assert page.status_code == 200 and 'id="drift-charts"' in page.text and 'data-alias="champion"' in page.text
    day = drift["days"][-1]
    report = stack.call("GET", f"/mlops/reports/synthetic/drift/{day}.html")
    assert report.status_code == 200 and "<html" in report.text.lower()
    assert stack.call("GET", "/mlops/datadocs/index.html").status_code == 200
    # Encoded, so that the client does not normalise the dots away before the request leaves.
    escape = stack.call("GET", "/mlops/datadocs/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd")
    assert escape.status_code == 404 and "root:" not in escape.text
    assert stack.call("GET", "/mlops/api/models/unknown").status_code == 404
