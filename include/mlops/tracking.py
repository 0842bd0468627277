"""MLflow set-up shared by every step: tracking URI, experiments, links, code version."""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
from pathlib import Path

from mlops.config import PACKAGE_DIR, Settings

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
        experiment_ids=[exp_id], filter_string=" and ".join(clauses), order_by=["attributes.start_time DESC"],
        max_results=1, output_format="list",
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
        experiment_ids=[exp_id], filter_string=f"tags.`{schema.RUN_KEY}` = '{_quote(run_key)}'", output_format="list",
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
    explicit = os.environ.get("MLOPS_MLFLOW_UI_URL")
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
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "include", "dags"], capture_output=True, text=True, timeout=5).stdout.strip()
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
