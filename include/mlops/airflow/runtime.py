"""Helpers that turn an Airflow task context into the domain's inputs."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import UTC
from typing import Any

from mlops.config import DatasetConfig, Settings, load_dataset
from mlops.errors import ConfigError, MlopsError
from mlops.sources.base import Interval, Source

VARIABLE_PREFIX = "mlops_dataset__"

log = logging.getLogger(__name__)


def interval_of(context: dict[str, Any]) -> Interval:
    """The run's data interval ``[data_interval_start, data_interval_end)``.

    A run without a data interval (a manual-only DAG, where start equals end) processes
    the UTC day of its logical date.
    """
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is None or end is None or start == end:
        anchor = start or context.get("logical_date")
        if anchor is None:
            raise ConfigError(
                f"DAG run {context.get('run_id')!r} has neither a data interval nor a logical date; the pipeline "
                "needs one per run. Trigger it with a logical date or schedule it with CronDataIntervalTimetable."
            )
        return Interval.days(anchor.astimezone(UTC).date())
    return Interval(start, end)


def previous_interval_start(context: dict[str, Any]):
    """Logical date of the previous interval's run: this run's interval start minus its length (``interval_of``)."""
    interval = interval_of(context)
    return interval.start - (interval.end - interval.start)


@contextmanager
def fail_fast():
    """Turn errors that a retry cannot fix into ``AirflowFailException`` (no retries).

    Errors marked ``retryable`` keep Airflow's retries: a source that may come back, and
    infrastructure errors (the MLflow server down, a full disk); data errors (a corrupt source
    file, a missing path or column, a failed validation) do not. An MLflow client error that
    means "the server did not answer" becomes ``TrackingUnavailable`` with the server, the
    call and what to do, and a library's "no space left" ``StorageFull`` with the file and
    the free space. The error's message is logged first, so the task log opens with it rather
    than with the traceback of the library error it was raised from.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from mlops import tracking

    try:
        yield
    except MlopsError as e:
        log.error("%s: %s", type(e).__name__, e)
        if e.retryable:
            raise
        raise AirflowFailException(f"{type(e).__name__}: {e}") from e
    except Exception as e:
        error = tracking.unreachable_error(e) or _disk_full(e)
        if error is None:
            raise
        raise error from e


def _disk_full(exc: BaseException):
    """``StorageFull`` for a full disk met outside the product's own writers (a library's file)."""
    from pathlib import Path

    from mlops.lake import disk_full_error

    filename = getattr(exc, "filename", None)
    return disk_full_error(Path(filename) if filename else None, exc, near=Path(Settings.value("home", default=".")))


def run_key(context: dict[str, Any]) -> str:
    """``<dag_id>/<run_id>``: the key that makes every step idempotent per DAG run."""
    return f"{context['dag'].dag_id}/{context['run_id']}"


def run_task_states(context: dict[str, Any]) -> dict[str, str]:
    """``{task_id: state}`` of the running task's DAG run (through the Task SDK's supervisor channel)."""
    ti = context["ti"]
    runs = ti.get_task_states(dag_id=context["dag"].dag_id, run_ids=[context["run_id"]]) or {}
    return {task: str(state) for task, state in runs.get(context["run_id"], {}).items()}


def run_type(context: dict[str, Any]) -> str:
    """``scheduled``, ``manual``, ``backfill``, ... of the running DAG run (empty when unknown)."""
    value = getattr(context.get("dag_run"), "run_type", "") or ""
    return str(getattr(value, "value", value))


def is_backfill(context: dict[str, Any]) -> bool:
    """Whether the DAG run was created by a backfill."""
    return run_type(context) == "backfill"


#: Niceness a backfill's ingest, validate and drift steps add to their task process (``yield_cpu_to_model_steps``).
AHEAD_NICENESS = 10


def yield_cpu_to_model_steps(context: dict[str, Any]) -> int | None:
    """In a backfill run, lower this task process's CPU priority; returns its new niceness (None elsewhere).

    A backfill's ingest, validate and drift of later days run ahead of the model steps, which
    follow each other day by day and set the backfill's pace. Where running tasks outnumber
    the cores, the steps ahead then take the CPU the model steps leave, instead of slowing
    them down; they still use every idle core. Only this task process is affected (each task
    runs in a process of its own), and nightly runs keep the normal priority.
    """
    if not is_backfill(context):
        return None
    import os

    return os.nice(AHEAD_NICENESS)


def backfill_model_name(model_name: str, label: str | None) -> str:
    """Registered model of a backfill: ``<model>__backfill`` or ``<model>__backfill__<label>``."""
    label = (label or "").strip()
    return f"{model_name}__backfill" + (f"__{label}" if label else "")


def run_config(name: str, context: dict[str, Any]) -> DatasetConfig:
    """The dataset config as this DAG run sees it.

    Backfill runs register, promote and look up champions in their own registered model
    (``backfill_model_name``), so a backfill replays the champion/challenger history of its
    period without ever touching the aliases that serve production.
    """
    config = dataset_config(name)
    if is_backfill(context):
        label = (context.get("params") or {}).get("backfill_label")
        config = config.model_copy(update={"registered_model_name": backfill_model_name(config.model_name, label)})
    return config


def dataset_config(name: str) -> DatasetConfig:
    """The dataset config file merged with the Airflow Variable ``mlops_dataset__<name>`` if it exists."""
    from airflow.sdk import Variable

    variable = f"{VARIABLE_PREFIX}{name}"
    override = Variable.get(variable, default=None)
    return load_dataset(name, override=override, override_source=f"the Airflow Variable {variable}")


def check_run_inputs(config: DatasetConfig, params: dict[str, Any]) -> None:
    """What the first task checks before any work: the run's windows and the estimator.

    ``training_window_days`` / ``holdout_days`` from the trigger form must leave a training
    day; ``model.estimator`` must import, fit the task and accept ``model.params``.
    """
    from mlops.training.model import check_estimator

    config.training.windows(params.get("training_window_days"), params.get("holdout_days"))
    check_estimator(config)


def sql_url(conn_id: str) -> str:
    """SQLAlchemy URL of an Airflow connection (used by the sql source; never logged)."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host}"
    if conn.conn_type in ("postgres", "postgresql"):
        from sqlalchemy.engine import URL

        return URL.create(
            "postgresql+psycopg2",
            username=conn.login,
            password=conn.password,
            host=conn.host,
            port=conn.port,
            database=conn.schema,
        ).render_as_string(hide_password=False)
    extra = conn.extra_dejson
    if extra.get("sqlalchemy_url"):
        return extra["sqlalchemy_url"]
    return conn.get_uri()


def prediction_store_url(config: DatasetConfig, settings: Settings) -> str:
    """URL of the prediction store: the Airflow connection ``scoring.conn_id``, else the embedded SQLite file.

    Works in tasks and in the API server (the Models page). The URL may hold a password:
    never log it (``mlops.predictions.store.safe_url`` hides it).
    """
    import logging

    from airflow.sdk.exceptions import AirflowNotFoundException

    from mlops.predictions.store import embedded_url

    conn_id = config.scoring.conn_id if config.scoring else "mlops_predictions"
    try:
        return sql_url(conn_id)
    except AirflowNotFoundException:
        url = embedded_url(settings.home)
        logging.getLogger(__name__).info("Airflow connection %r is not defined: using the embedded prediction store %s", conn_id, url)
        return url


def source_for(config: DatasetConfig, settings: Settings, *, columns: list[str] | None = None) -> Source:
    from mlops.sources import build_source

    url = None
    if config.source.kind == "sql":
        if config.source.options.get("conn_id"):
            url = sql_url(config.source.options["conn_id"])
        _mask_password(url or config.source.options.get("url"))
    return build_source(config, settings, sql_url=url, columns=columns)


def _mask_password(url: str | None) -> None:
    """Have Airflow mask a database URL's password in task logs (a connection's is masked already)."""
    if not url:
        return
    from airflow.sdk.log import mask_secret
    from sqlalchemy.engine import make_url

    try:
        password = make_url(url).password
    except Exception:  # not a parsable URL: the sql source says so, with the URL redacted
        return
    if password:
        mask_secret(str(password))


def labels_source_for(config: DatasetConfig, settings: Settings) -> Source:
    """Where the dataset's late labels come from: ``labels.source``, else the dataset's own source."""
    if config.labels.source is None:
        return source_for(config, settings)
    columns = [config.timestamp_column, *(c for c in config.row_key if c != config.timestamp_column), config.target]
    return source_for(config.model_copy(update={"source": config.labels.source}), settings, columns=columns)


def lineage_tags(context: dict[str, Any]) -> dict[str, str]:
    """Tags that tie an MLflow run or model version to its Airflow DAG run."""
    from mlops import schema

    return schema.encode_tags(
        {
            schema.DAG_ID: context["dag"].dag_id,
            schema.RUN_ID: context["run_id"],
            schema.RUN_TYPE: run_type(context),
            schema.LOGICAL_DATE: str(context.get("logical_date") or ""),
        }
    )
