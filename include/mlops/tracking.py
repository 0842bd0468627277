"""MLflow set-up shared by every step: tracking URI, experiments, links, code version, and
what a step says when the tracking server does not answer."""

from __future__ import annotations

import functools
import hashlib
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlops.config import PACKAGE_DIR, Settings
from mlops.errors import TrackingUnavailable
from mlops.redact import redact_text

TAG_PREFIX = "mlops."


def client(settings: Settings):
    """An ``MlflowClient`` bound to the configured tracking URI (never MLflow's implicit default)."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def experiment_id(settings: Settings, name: str) -> str:
    """Id of the experiment ``name``, created on first use (safe under concurrent creation)."""
    from mlflow.exceptions import MlflowException

    c = client(settings)
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    # A server decides where artifacts go; with a local store they go under MLOPS_HOME
    # (MLflow would otherwise write ./mlruns in whatever the working directory is).
    from mlops.lake import path_to_uri

    location = None
    if not settings.tracking_uri.startswith(("http://", "https://", "databricks")):
        location = path_to_uri(settings.home / "mlflow-artifacts" / name.replace("/", "_"))
    try:
        return c.create_experiment(name, artifact_location=location, tags={f"{TAG_PREFIX}managed": "true"})
    except MlflowException:
        exp = c.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def find_run(settings: Settings, experiment: str, tags: dict[str, str]):
    """The newest finished run of ``experiment`` carrying all ``tags``, or None."""
    import mlflow

    exp_id = experiment_id(settings, experiment)
    clauses = [f"tags.`{k}` = '{_quote(v)}'" for k, v in sorted(tags.items())] + ["attributes.status = 'FINISHED'"]
    runs = mlflow.search_runs(
        experiment_ids=[exp_id],
        filter_string=" and ".join(clauses),
        order_by=["attributes.start_time DESC"],
        max_results=1,
        output_format="list",
    )
    return runs[0] if runs else None


def close_abandoned_runs(settings: Settings, experiment: str, run_key: str) -> list[str]:
    """Close the runs an earlier attempt of ``run_key`` left unfinished; returns their ids.

    A task killed mid-training (SIGKILL, lost worker, MLflow unreachable) leaves its MLflow run
    ``RUNNING`` for ever, and the model it was logging ``PENDING``. Its retry calls this first:
    every run of ``experiment`` tagged with ``run_key`` that is not ``FINISHED`` is ended as
    ``FAILED`` with ``mlops.closed_by_retry`` saying so, and each of its logged models still
    ``PENDING`` is finalized as ``FAILED`` (so neither the runs list nor the models list shows
    something in progress). Runs that already failed get the same treatment for their models.
    Safe because Airflow runs one attempt of a task at a time.
    """
    from datetime import UTC, datetime

    import mlflow
    from mlflow.entities import LoggedModelStatus

    from mlops import schema

    c = client(settings)
    exp_id = experiment_id(settings, experiment)
    runs = mlflow.search_runs(
        experiment_ids=[exp_id],
        filter_string=f"tags.`{schema.RUN_KEY}` = '{_quote(run_key)}'",
        output_format="list",
    )
    closed = []
    for run in runs:
        if run.info.status == "FINISHED":
            continue
        if run.info.status in ("RUNNING", "SCHEDULED"):
            note = f"closed by a retry of {run_key} at {datetime.now(UTC).isoformat()}: the attempt that started it ended without finishing"
            c.set_tag(run.info.run_id, *schema.CLOSED_BY_RETRY.item(note))
            c.set_terminated(run.info.run_id, "FAILED")
            closed.append(run.info.run_id)
        # A filter on the status finds nothing in MLflow 3.17's SQL store: compare it here.
        for model in c.search_logged_models(experiment_ids=[exp_id], filter_string=f"source_run_id = '{run.info.run_id}'"):
            if model.status == LoggedModelStatus.PENDING:
                c.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
    return closed


def _quote(value: str) -> str:
    return str(value).replace("'", "\\'")


def ui_base(settings: Settings) -> str | None:
    """Base URL of the MLflow UI for links, or None when tracking goes to a local store."""
    explicit = Settings.value("mlflow_ui_url")
    if explicit:
        return explicit.rstrip("/")
    if settings.tracking_uri.startswith(("http://", "https://")):
        return settings.tracking_uri.rstrip("/")
    return None


def run_url(settings: Settings, experiment_id_: str, run_id: str) -> str | None:
    base = ui_base(settings)
    return f"{base}/#/experiments/{experiment_id_}/runs/{run_id}" if base else None


def model_version_url(settings: Settings, name: str, version: str | int) -> str | None:
    base = ui_base(settings)
    return f"{base}/#/models/{name}/versions/{version}" if base else None


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Git commit of the project (``+dirty`` when the tree has changes), else a hash of the package's source."""
    root = PACKAGE_DIR.parent.parent
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "include", "dags"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        return f"git:{sha}{'+dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        h = hashlib.sha256()
        for path in sorted(Path(PACKAGE_DIR).rglob("*.py")):
            h.update(path.read_bytes())
        return f"src:{h.hexdigest()[:16]}"


def pip_requirements() -> list[str]:
    """Explicit requirements for logged models (inferring them costs 20+ s per model)."""
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("scikit-learn", "pandas", "numpy", "scipy", "skops", "mlflow-skinny")]


# --------------------------------------------------------------------------- server not answering

#: Text of the client errors (MLflow wraps requests/urllib3 ones in ``MlflowException``) that
#: mean the server did not answer, and how to say it.
_NO_ANSWER = (
    (re.compile(r"Connection refused", re.I), "connection refused: nothing listens there"),
    (re.compile(r"timed out|failed with timeout exception", re.I), "no answer in time"),
    (
        re.compile(r"Name or service not known|nodename nor servname|getaddrinfo failed|Temporary failure in name resolution", re.I),
        "its host name does not resolve",
    ),
    (re.compile(r"No route to host|Network is unreachable", re.I), "no route to its host"),
    (re.compile(r"Connection (?:aborted|reset)|RemoteDisconnected|BadStatusLine", re.I), "the connection was dropped"),
    (re.compile(r"too many (\d{3}) error responses", re.I), "it answered HTTP {0} again and again"),
    (re.compile(r"Failed to establish a new connection|Max retries exceeded", re.I), "no connection"),
)
_REQUEST = re.compile(r"API request to (?P<url>\S+?) failed")
_POOL = re.compile(r"HTTPS?ConnectionPool\(host='(?P<host>[^']+)', port=(?P<port>\d+)\)(?:: Max retries exceeded with url: (?P<path>\S+))?")
_API_PATH = re.compile(r"/api/\d\.\d/(?P<api>mlflow(?:-artifacts)?)/(?P<call>[^?\s]+)")


#: What to do once the server answers again, in a task.
AFTER_IN_TASK = "then clear the task (Airflow retries it on its own meanwhile)"


def unreachable_error(
    exc: BaseException,
    *,
    doing: str | None = None,
    tracking_uri: str | None = None,
    then: str = AFTER_IN_TASK,
) -> TrackingUnavailable | None:
    """``TrackingUnavailable`` for a client error that means "the MLflow server did not answer", else None.

    Looks through the exception and its causes. The message names the server (without
    credentials), the reason, the call (``doing``, else the API call from the error) and what
    to do (``then``: after the server is back).
    """
    seen: set[int] = set()
    chain: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        chain.append(e)
        e = e.__cause__ or e.__context__
    text = " | ".join(f"{type(x).__name__}: {x}" for x in chain)
    if not any(type(x).__module__.split(".")[0] in ("mlflow", "requests", "urllib3") or isinstance(x, (ConnectionError, TimeoutError)) for x in chain):
        return None
    reason = None
    for pattern, said in _NO_ANSWER:
        m = pattern.search(text)
        if m:
            reason = said.format(*m.groups())
            break
    if reason is None:
        return None
    server, call = tracking_uri or Settings.value("tracking_uri", default=None), None
    if m := _REQUEST.search(text):
        url = m.group("url")
        server = re.sub(r"(?<=[^/:])/.*$", "", url)  # scheme://host:port
        if api := _API_PATH.search(url):
            call = api.group("call")
    elif m := _POOL.search(text):
        server = f"{m.group('host')}:{m.group('port')}"
        if m.group("path") and (api := _API_PATH.search(m.group("path"))):
            call = ("artifact " if api.group("api") == "mlflow-artifacts" else "") + api.group("call")
    doing = doing or (f"calling its API {call!r}" if call else "calling its API")
    return TrackingUnavailable(
        f"MLflow tracking server at {redact_text(server or 'the configured MLFLOW_TRACKING_URI')} is not reachable ({reason}) "
        f"while {doing}. Check that it runs and answers: `make status` (its /health line) and the mlflow component's log "
        f"($AIRFLOW_HOME/logs/mlflow.log with `make run`); start it with `make run`, {then}."
    )


@contextmanager
def reachable(*, doing: str, tracking_uri: str | None = None, then: str = AFTER_IN_TASK) -> Iterator[None]:
    """Raise ``TrackingUnavailable`` (from the client's error) when the MLflow server does not answer inside."""
    try:
        yield
    except TrackingUnavailable:
        raise
    except Exception as e:
        error = unreachable_error(e, doing=doing, tracking_uri=tracking_uri, then=then)
        if error is None:
            raise
        raise error from e


#: Bounds for MLflow calls made while a person waits (the Models page): MLflow's defaults
#: (7 retries with exponential back-off, 120 s per request) keep a page hanging ~4 minutes.
INTERACTIVE_HTTP = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "5", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0"}


def use_interactive_limits() -> None:
    """Bound every MLflow HTTP call of this process (5 s per request, one immediate retry).

    For processes that serve people (the api-server running the Models page), never for tasks:
    MLflow reads these variables per request, process-wide, and tasks keep its patient defaults
    so that a server restart does not fail a night's run. ``MLOPS_UI_MLFLOW_TIMEOUT`` (seconds)
    overrides the per-request timeout.
    """
    os.environ.update(INTERACTIVE_HTTP)
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = f"{Settings.value('ui_mlflow_timeout'):g}"
