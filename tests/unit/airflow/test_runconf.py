"""Run conf guard: undeclared keys and oversized confs are refused, at trigger time and at run time."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mlops.airflow.runconf import MAX_BODY_BYTES, MAX_CONF_BYTES, RunConfGuard, conf_problem, refuse_bad_conf

NIGHTLY = ("force_retrain", "training_window_days", "holdout_days", "backfill_label", "note")


def test_unknown_keys_are_named_with_the_closest_match_and_the_valid_ones():
    problem = conf_problem({"force_retrian": True, "note": "x"}, NIGHTLY, dag_id="nightly")
    assert problem.status == 400
    assert problem.message == (
        "DAG nightly: unknown run conf key 'force_retrian' (did you mean 'force_retrain'?); the keys it accepts are "
        "backfill_label, force_retrain, holdout_days, note, training_window_days. Nothing was run: trigger again with the right keys."
    )
    assert conf_problem({"backfill_label": "q1"}, NIGHTLY, dag_id="nightly") is None  # backfills' conf stays accepted
    assert conf_problem({}, NIGHTLY, dag_id="nightly") is None and conf_problem(None, NIGHTLY, dag_id="nightly") is None


def test_oversized_conf_is_refused_by_size_without_echoing_it():
    huge_key = "k" * (MAX_CONF_BYTES + 1)
    problem = conf_problem({huge_key: 1}, NIGHTLY, dag_id="nightly")
    assert problem.status == 413 and huge_key not in problem.message
    assert problem.message.startswith(f"DAG nightly: the run conf is {len(huge_key) + 6:,} bytes as JSON; at most {MAX_CONF_BYTES:,} are accepted.")
    assert conf_problem({"note": "n" * 500}, NIGHTLY, dag_id="nightly") is None


def test_pre_execute_hook_fails_the_task_without_retries():
    from airflow.sdk.exceptions import AirflowFailException

    context = {"dag": SimpleNamespace(dag_id="nightly"), "dag_run": SimpleNamespace(conf={"force_retrian": True})}
    with pytest.raises(AirflowFailException, match=r"unknown run conf key 'force_retrian' \(did you mean 'force_retrain'\?\)"):
        refuse_bad_conf(context, declared=NIGHTLY)
    refuse_bad_conf({**context, "dag_run": SimpleNamespace(conf={"force_retrain": True})}, declared=NIGHTLY)


async def _created(request: Request) -> JSONResponse:
    """Stands in for Airflow's route behind the guard: echoes what reached it."""
    return JSONResponse({"path": request.url.path, "body": json.loads(await request.body() or b"null")})


class Client:
    """Requests through the ASGI app in-process (httpx's ASGI transport)."""

    def __init__(self, app):
        self.app = app

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        async def go():
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://airflow") as c:
                return await c.request(method, path, **kwargs)

        return asyncio.run(go())

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.request("GET", path, **kwargs)


@pytest.fixture
def client():
    app = Starlette(
        routes=[
            Route("/api/v2/dags/{dag_id}/dagRuns", _created, methods=["POST", "GET"]),
            Route("/api/v2/backfills", _created, methods=["POST"]),
            Route("/api/v2/backfills/dry_run", _created, methods=["POST"]),
        ]
    )
    app.add_middleware(RunConfGuard, lookup={"nightly": NIGHTLY}.get)  # the product DAGs and their params
    return Client(app)


def test_trigger_with_unknown_key_is_refused_before_airflow_sees_it(client):
    r = client.post("/api/v2/dags/nightly/dagRuns", json={"logical_date": None, "conf": {"force_retrian": True}})
    assert r.status_code == 400
    assert r.json()["detail"].startswith("DAG nightly: unknown run conf key 'force_retrian' (did you mean 'force_retrain'?)")
    ok = client.post("/api/v2/dags/nightly/dagRuns", json={"logical_date": None, "conf": {"force_retrain": True}})
    assert ok.status_code == 200 and ok.json()["body"]["conf"] == {"force_retrain": True}  # the body reaches Airflow intact


def test_oversized_trigger_is_refused_with_413(client):
    r = client.post("/api/v2/dags/nightly/dagRuns", json={"logical_date": None, "conf": {"note": "x" * (2 * MAX_CONF_BYTES)}})
    assert r.status_code == 413 and "bytes as JSON; at most 16,384 are accepted" in r.json()["detail"]
    body = b'{"logical_date": null, "conf": {"k": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}}'
    r = client.post("/api/v2/dags/nightly/dagRuns", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["detail"].startswith("DAG nightly: the request body is larger than 1,048,576 bytes")


def test_backfill_conf_is_checked_and_other_dags_are_left_alone(client):
    r = client.post("/api/v2/backfills", json={"dag_id": "nightly", "from_date": "2024-01-01", "dag_run_conf": {"backfil_label": "q1"}})
    assert r.status_code == 400 and "unknown run conf key 'backfil_label' (did you mean 'backfill_label'?)" in r.json()["detail"]
    assert client.post("/api/v2/backfills/dry_run", json={"dag_id": "nightly", "dag_run_conf": {"backfill_label": "q1"}}).status_code == 200
    # Not a product DAG (lookup gives None): whatever its conf, the guard does not interfere.
    assert client.post("/api/v2/dags/someone_elses/dagRuns", json={"conf": {"anything": 1}}).status_code == 200
    assert client.post("/api/v2/backfills", json={"dag_id": "someone_elses", "dag_run_conf": {"x": 1}}).status_code == 200
    assert client.get("/api/v2/dags/nightly/dagRuns").status_code == 200
