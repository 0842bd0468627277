"""The Models page inside the Airflow UI: a FastAPI app mounted by ``mlops.airflow.plugin``.

Every route requires Airflow's login (Airflow's ``get_user`` dependency: the UI's session
cookie or an API token) and read access to the dataset's nightly DAG in Airflow's auth manager, so a user
sees the models of exactly the DAGs they may see. MLflow is read through the same settings
as the DAGs (``MLFLOW_TRACKING_URI`` and, in the production profile, its credentials).

Routes (under the plugin's prefix, ``/mlops``):

- ``GET /models?dataset=…``                 the page (HTML; the UI embeds it as *Models*)
- ``GET /api/datasets``                     datasets with a nightly DAG the user may read
- ``GET /api/models/{dataset}``             the page's data as JSON
- ``GET /api/alerts/{dataset}?days=30``     the dataset's alerts and their deliveries (the *Alerts* panel)
- ``GET /reports/{dataset}/drift/{day}.html`` a day's drift report
- ``GET /datadocs/{path}``                  GX Data Docs: an index of the datasets the user may
  read, and each page only to users who may read its dataset (``mlops.ui.datadocs``)

MLflow is imported on first use, in a worker thread (the first page after the api-server
starts pays for that import once; see bench/models_page_bench.py). Its calls from here are
bounded (``tracking.use_interactive_limits``: 5 s per request, one retry) and the page has a
deadline, so a tracking server that is down gives a 503 that says so within seconds.

Every response carries ``Content-Security-Policy`` (no scripts, nothing from other origins,
framed only by Airflow's own pages), ``X-Content-Type-Options: nosniff`` and
``X-Frame-Options: SAMEORIGIN``; Data Docs pages are also sandboxed (an opaque origin: no
access to Airflow's cookies or API).
"""

from __future__ import annotations

import asyncio
import re
from datetime import date, timedelta
from html import escape
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mlops.errors import MlopsError, TrackingUnavailable

DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: Longest drift history a request may ask for (``days``): 100 years.
MAX_DAYS = 36_525

#: No scripts, nothing from another origin, forms nowhere, framed only by Airflow's own UI.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
#: GX's pages besides: an opaque origin (no cookies, storage or same-origin requests).
DATA_DOCS_CSP = "sandbox; " + CSP
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "SAMEORIGIN",
    "referrer-policy": "same-origin",
}


class SecurityHeaders:
    """ASGI middleware: ``SECURITY_HEADERS`` on every response (a route's own CSP is kept), and
    a readable 500 (with the headers) for an error no handler took; the error still reaches the
    api-server's log with its traceback."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                present = {k.decode("latin-1").lower() for k, _ in headers}
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            if started:
                raise
            from mlops.redact import redacted_error

            message = (
                f"The Models page failed: {redacted_error(exc)[:500]}. The traceback is in the api-server's log "
                "($AIRFLOW_HOME/logs/api-server.log with `make run`)."
            )
            await _error(Request(scope), 500, message)(scope, receive, send_with_headers)
            raise


app = FastAPI(title="MLOps models", docs_url=None, redoc_url=None, openapi_url=None)
app.add_middleware(SecurityHeaders)
_bearer = HTTPBearer(auto_error=False)


def _error(request: Request, status: int, message: str) -> Response:
    """A readable error: JSON ``{"detail": …}`` under ``/api/``, else a small HTML page."""
    if "/api/" in request.url.path:
        return JSONResponse({"detail": message}, status_code=status)
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Models: unavailable</title>'
        "<style>body{font-family:system-ui,sans-serif;margin:24px;max-width:60rem;color:#1a202c}"
        ".msg{border-left:4px solid #c53030;padding:8px 12px;background:#fff5f5}</style></head>"
        f'<body><h1>The Models page cannot show this now</h1><p class="msg" id="error">{escape(message)}</p></body></html>'
    )
    return HTMLResponse(page, status_code=status)


@app.exception_handler(TrackingUnavailable)
async def _tracking_unavailable(request: Request, exc: TrackingUnavailable) -> Response:
    return _error(request, 503, str(exc))


@app.exception_handler(MlopsError)
async def _product_error(request: Request, exc: MlopsError) -> Response:
    return _error(request, 500, f"{type(exc).__name__}: {exc}")


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


#: Tells the person what to do once the tracking server answers again.
AFTER_ON_PAGE = "then reload this page"


def _mlflow_timeout() -> float:
    from mlops.settings import Settings

    return Settings.value("ui_mlflow_timeout")


def _overview_now(dataset: str, days: int) -> dict:
    from mlops import tracking
    from mlops.config import load_dataset
    from mlops.ui.overview import model_overview

    tracking.use_interactive_limits()
    settings = _settings()
    config = load_dataset(dataset)
    store = None
    if config.scoring is not None:
        from mlops.airflow.runtime import prediction_store_url
        from mlops.predictions.store import PredictionStore

        store = PredictionStore(prediction_store_url(config, settings))
    since = date.today() - timedelta(days=days) if days else None
    with tracking.reachable(doing=f"reading model {config.model_name!r} for the Models page", tracking_uri=settings.tracking_uri, then=AFTER_ON_PAGE):
        return model_overview(config, settings, tracking.client(settings), since=since, store=store)


async def _overview(dataset: str, days: int) -> dict:
    """The page's data, or ``TrackingUnavailable`` once MLflow took longer than the page's deadline."""
    deadline = _mlflow_timeout() + 3
    try:
        return await asyncio.wait_for(asyncio.to_thread(_overview_now, dataset, days), timeout=deadline)
    except TimeoutError:
        from mlops.redact import redact_text
        from mlops.settings import Settings

        uri = redact_text(Settings.value("tracking_uri", default="the configured MLFLOW_TRACKING_URI"))
        raise TrackingUnavailable(
            f"MLflow tracking server at {uri} did not answer within {deadline} s while reading model data for dataset "
            f"{dataset!r}. Check that it runs and answers: `make status` (its /health line) and the mlflow component's log; "
            f"{AFTER_ON_PAGE}."
        ) from None


@app.get("/api/datasets")
async def datasets(user: GetUserDep) -> dict:
    visible = _visible(user)
    return {
        "datasets": [{"dataset": name, "dag_id": spec["dag_id"], "promotion_dag_id": spec.get("promotion_dag_id")} for name, spec in sorted(visible.items())]
    }


@app.get("/api/models/{dataset}")
async def model_json(dataset: str, user: GetUserDep, days: int = Query(0, ge=0, le=MAX_DAYS, description="only the last N days of drift (0: all)")) -> dict:
    _dataset_or_404(user, dataset)
    return await _overview(dataset, days)


def _alerts(dataset: str, days: int) -> dict:
    """The delivery log's events of the last ``days`` days; an unreachable log is said, not raised."""
    from mlops.alerts.store import AlertStore

    try:
        return {"dataset": dataset, "days": days, "alerts": AlertStore().recent(dataset, days=days)}
    except Exception as e:
        return {"dataset": dataset, "days": days, "alerts": [], "error": f"the alert delivery log cannot be read ({type(e).__name__})"}


@app.get("/api/alerts/{dataset}")
async def alerts_json(dataset: str, user: GetUserDep, days: int = Query(30, ge=1, le=366)) -> dict:
    _dataset_or_404(user, dataset)
    return await asyncio.to_thread(_alerts, dataset, days)


@app.get("/models", response_class=HTMLResponse)
async def models_page(user: GetUserDep, dataset: str | None = None, days: int = Query(0, ge=0, le=MAX_DAYS)) -> HTMLResponse:
    from mlops.ui.page import render

    visible = sorted(_visible(user))
    if not visible:
        return HTMLResponse("<!doctype html><p>No dataset whose nightly DAG you may read.</p>", status_code=200)
    dataset = dataset or visible[0]
    if dataset not in visible:
        _dataset_or_404(user, dataset)  # raises: unknown (404) or not readable (403)
    overview = await _overview(dataset, days)
    alerts = await asyncio.to_thread(_alerts, dataset, 30)
    return HTMLResponse(render(overview, visible, user=user.get_name(), alerts=alerts))


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
async def data_docs(path: str, request: Request) -> Response:
    """A Data Docs page, rewritten and sandboxed; its dataset's nightly DAG must be readable.

    ``static/…`` (GX's logo, fonts and style sheets, no data) needs no login: a sandboxed
    page's requests carry no cookies.
    """
    from mlops.ui import datadocs

    try:
        target = datadocs.locate(path)
    except datadocs.BadPath as e:
        raise HTTPException(400, str(e)) from None
    if target is None:
        raise HTTPException(404, f"No Data Docs page {path!r}; pages live under validations/<dataset>/ and expectations/<dataset>/")
    settings = _settings()
    root = settings.data_docs_dir
    if target.kind == "static":
        file = datadocs.resolve(root, target)
        if file is None:
            raise HTTPException(404, f"No Data Docs file {path!r}")
        return FileResponse(file)
    user = await current_user(request, await _bearer(request))
    if target.kind == "index":
        visible = sorted(_visible(user))
        if not visible:
            raise HTTPException(403, "Data Docs need read access to at least one dataset's nightly DAG")
        html = await asyncio.to_thread(datadocs.index_page, root, settings.gx_dir / "uncommitted" / "validations", visible)
        return HTMLResponse(html, headers={"content-security-policy": DATA_DOCS_CSP})
    _dataset_or_404(user, target.dataset)
    file = datadocs.resolve(root, target)
    if file is None:
        raise HTTPException(404, f"No Data Docs page {path!r} for dataset {target.dataset!r}")
    html = await asyncio.to_thread(lambda: datadocs.rewrite(file.read_text(encoding="utf-8", errors="replace"), target.relative))
    return HTMLResponse(html, headers={"content-security-policy": DATA_DOCS_CSP})


ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2">'
    '<path d="M3 20h18M6 16V9M11 16V5M16 16v-5M21 16V8"/></svg>'
)


@app.get("/icon.svg")
async def icon() -> Response:
    """The navigation icon (public: it shows nothing about any model)."""
    return Response(ICON, media_type="image/svg+xml")
