"""The Models page inside the Airflow UI: a FastAPI app mounted by ``plugins/mlops_plugin.py``.

Every route requires Airflow's login (Airflow's ``get_user`` dependency: the UI's session
cookie or an API token) and read access to the dataset's nightly DAG in Airflow's auth manager, so a user
sees the models of exactly the DAGs they may see. MLflow is read through the same settings
as the DAGs (``MLFLOW_TRACKING_URI`` and, in the production profile, its credentials).

Routes (under the plugin's prefix, ``/mlops``):

- ``GET /models?dataset=…``                 the page (HTML; the UI embeds it as *Models*)
- ``GET /api/datasets``                     datasets with a nightly DAG the user may read
- ``GET /api/models/{dataset}``             the page's data as JSON
- ``GET /reports/{dataset}/drift/{day}.html`` a day's drift report
- ``GET /datadocs/{path}``                  GX Data Docs (the static site)

MLflow is imported on first use, in a worker thread (the first page after the api-server
starts pays for that import once; see bench/models_page_bench.py).
"""

from __future__ import annotations

import asyncio
import re
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

app = FastAPI(title="MLOps models", docs_url=None, redoc_url=None, openapi_url=None)
_bearer = HTTPBearer(auto_error=False)


async def current_user(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Any:
    """Airflow's own ``get_user`` (an API token, else the UI's session cookie; 401 without either).

    Imported on first use: every process that loads plugins (task processes included)
    imports this module, and Airflow's API security module costs ~0.4 s to import.
    """
    from airflow.api_fastapi.core_api.security import get_user

    return await get_user(request, None, credentials)


GetUserDep = Annotated[Any, Depends(current_user)]


def _specs() -> dict[str, dict]:
    from mlops.dagspec import dag_specs

    return {spec["dataset"]: spec for spec in dag_specs()}


def _allowed(user: Any, dag_id: str) -> bool:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    return get_auth_manager().is_authorized_dag(method="GET", details=DagDetails(id=dag_id), user=user)


def _visible(user: Any) -> dict[str, dict]:
    return {name: spec for name, spec in _specs().items() if _allowed(user, spec["dag_id"])}


def _dataset_or_404(user: Any, dataset: str) -> dict:
    specs = _specs()
    if dataset not in specs:
        raise HTTPException(404, f"No dataset {dataset!r} with a nightly DAG; known: {sorted(specs)}")
    if not _allowed(user, specs[dataset]["dag_id"]):
        raise HTTPException(403, f"Reading dataset {dataset!r} needs read access to DAG {specs[dataset]['dag_id']!r}")
    return specs[dataset]


def _settings():
    from mlops.config import Settings

    return Settings.from_env()


def _overview(dataset: str, days: int) -> dict:
    from mlops import tracking
    from mlops.config import load_dataset
    from mlops.ui.overview import model_overview

    settings = _settings()
    config = load_dataset(dataset)
    store = None
    if config.scoring is not None:
        from mlops.airflow.runtime import prediction_store_url
        from mlops.predictions.store import PredictionStore

        store = PredictionStore(prediction_store_url(config, settings))
    since = date.today() - timedelta(days=days) if days else None
    return model_overview(config, settings, tracking.client(settings), since=since, store=store)


@app.get("/api/datasets")
async def datasets(user: GetUserDep) -> dict:
    visible = _visible(user)
    return {"datasets": [{"dataset": name, "dag_id": spec["dag_id"], "promotion_dag_id": spec.get("promotion_dag_id")} for name, spec in sorted(visible.items())]}


@app.get("/api/models/{dataset}")
async def model_json(dataset: str, user: GetUserDep, days: int = Query(0, ge=0, description="only the last N days of drift (0: all)")) -> dict:
    _dataset_or_404(user, dataset)
    return await asyncio.to_thread(_overview, dataset, days)


@app.get("/models", response_class=HTMLResponse)
async def models_page(user: GetUserDep, dataset: str | None = None, days: int = Query(0, ge=0)) -> HTMLResponse:
    from mlops.ui.page import render

    visible = sorted(_visible(user))
    if not visible:
        return HTMLResponse("<!doctype html><p>No dataset whose nightly DAG you may read.</p>", status_code=200)
    dataset = dataset or visible[0]
    if dataset not in visible:
        _dataset_or_404(user, dataset)  # raises: unknown (404) or not readable (403)
    overview = await asyncio.to_thread(_overview, dataset, days)
    return HTMLResponse(render(overview, visible, user=user.get_name()))


@app.get("/reports/{dataset}/drift/{day}.html")
async def drift_report(dataset: str, day: str, user: GetUserDep) -> FileResponse:
    _dataset_or_404(user, dataset)
    if not DAY.match(day):
        raise HTTPException(400, f"day must be YYYY-MM-DD, got {day!r}")
    path = _settings().reports_dir / dataset / "drift" / f"ds={day}" / "drift.html"
    if not path.is_file():
        raise HTTPException(404, f"No drift report for {dataset} on {day}: the nightly run of that day writes it")
    return FileResponse(path, media_type="text/html")


@app.get("/datadocs/{path:path}")
async def data_docs(path: str, user: GetUserDep) -> FileResponse:
    if not _visible(user):
        raise HTTPException(403, "Data Docs need read access to at least one dataset's nightly DAG")
    root = _settings().data_docs_dir.resolve()
    target = (root / (path or "index.html")).resolve()
    if root not in target.parents or not target.is_file():
        raise HTTPException(404, f"No Data Docs page {path!r}")
    return FileResponse(target)


ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2">'
    '<path d="M3 20h18M6 16V9M11 16V5M16 16v-5M21 16V8"/></svg>'
)


@app.get("/icon.svg")
async def icon() -> Response:
    """The navigation icon (public: it shows nothing about any model)."""
    return Response(ICON, media_type="image/svg+xml")
