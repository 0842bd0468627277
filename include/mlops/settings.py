"""Every environment variable the product reads, in one typed settings object.

``Settings`` declares each variable once: its name, type, default and what it does, and where
it matters:

``runtime``
    read by the product's Python code in Airflow's processes (tasks, triggers, the Models
    page, DAG parsing);
``stack``
    read by ``scripts/`` when they start and stop the stack (``make run``);
``profile``
    the production profile's settings file (``.env``, see ``.env.example``), read by
    ``scripts/profile-prod.sh`` and ``scripts/prod_setup.py``; secrets among them are never
    printed.

Tasks build the whole object with ``Settings.from_env()`` (which needs ``MLOPS_HOME`` and
``MLFLOW_TRACKING_URI``); code that needs one value where those may be unset (DAG parsing,
the triggerer, the executor) reads it with ``Settings.value(name)``, which applies the same
type and default. Nothing else in the product reads ``os.environ`` for these names: a test
holds every variable named in the Python code, the scripts, ``.env.example`` and
``docker-compose.yaml`` to this declaration, the scripts' defaults to its defaults, and
``docs/settings.md`` to its text.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, ValidationError

from mlops.errors import ConfigError

Scope = Literal["runtime", "stack", "profile"]

#: Modules the preloading workers import (``MLOPS_PRELOAD_MODULES``): the ML libraries, and the
#: module with which Airflow's task runner parses the DAG file in every task process (0.5 s of
#: imports a task otherwise). Never the product's own modules: a worker keeps what it imported,
#: and an edit to ``include/mlops`` must reach the next task without restarting the stack.
DEFAULT_PRELOAD_MODULES = (
    "pandas,pyarrow.parquet,sklearn.ensemble,sklearn.linear_model,scipy.stats,mlflow,mlflow.sklearn,"
    "great_expectations,skops.io,matplotlib.figure,matplotlib.backends.backend_agg,airflow.dag_processing.dagbag"
)
#: The GX file context's Data Docs site: its name in GX's config and its folder (``Settings.data_docs_dir``).
DATA_DOCS_SITE = "local_site"
#: Per-user Airflow passwords of the production profile: ``MLOPS_AIRFLOW_PASSWORD_<USER>``.
AIRFLOW_PASSWORD_PREFIX = "MLOPS_AIRFLOW_PASSWORD_"


def var(env: str, default: Any = ..., description: str = "", *, scope: Scope = "runtime", secret: bool = False) -> Any:
    """A settings field bound to the environment variable ``env``."""
    return Field(default, description=description, json_schema_extra={"env": env, "scope": scope, "secret": secret})


class Settings(BaseModel):
    """The product's settings from the environment (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- runtime: the product's Python code -----------------------------------------------------
    home: Path = var("MLOPS_HOME", description="Folder of the lake, quarantine, reports, Data Docs and caches (required by tasks)")
    tracking_uri: str = var(
        "MLFLOW_TRACKING_URI",
        description="MLflow tracking and registry URI (required: the product never falls back to a stray mlflow.db)",
    )
    datasets_dir: Path | None = var("MLOPS_DATASETS_DIR", None, "Folder of dataset configs (default: include/datasets)")
    profile: Literal["embedded", "prod"] = var("MLOPS_PROFILE", "embedded", "Which stack scripts/env.sh sets up: embedded (SQLite, LocalExecutor) or prod")
    require_approval: bool = var("MLOPS_REQUIRE_APPROVAL", False, "Every promotion waits for a person's approval (the production setting)")
    training_queue: str = var("MLOPS_TRAINING_QUEUE", "", "Celery queue of retrain.train and retrain.evaluate (empty: the executor's default queue)")
    model_queue: str = var(
        "MLOPS_MODEL_QUEUE",
        "",
        "Celery queue of decide, retrain.register and retrain.replay_promotion, the rest of a dataset's serial model steps (empty: the executor's default queue)",
    )
    preload_modules: str = var("MLOPS_PRELOAD_MODULES", DEFAULT_PRELOAD_MODULES, "Comma-separated modules each worker imports once (empty: none)")
    worker_name: str = var("MLOPS_WORKER_NAME", "", "Name a Celery worker records on its task instances when several share a host")
    mlflow_ui_url: str = var("MLOPS_MLFLOW_UI_URL", "", "Base URL of the MLflow UI for links (default: the tracking URI when it is http(s))")
    ui_mlflow_timeout: float = var("MLOPS_UI_MLFLOW_TIMEOUT", 5.0, "Seconds the Models page waits for one MLflow request")
    deadline_alerts: bool | None = var(
        "MLOPS_DEADLINE_ALERTS", None, "Give the nightly DAG its Deadline Alert (unset: yes, except under `airflow dags test`, which cannot run one)"
    )
    airflow_base_url: str = var("AIRFLOW__API__BASE_URL", "", "Airflow's public base URL, for links in alerts and extra links (Airflow's own setting)")
    fault_pause_at: str = var("MLOPS_FAULT_PAUSE_AT", "", "Fault-injection tests only: pause points to stop at (ignored with MLOPS_PROFILE=prod)")
    fault_dir: Path | None = var("MLOPS_FAULT_DIR", None, "Fault-injection tests only: folder of the pause points' marker files")
    fault_pause_seconds: float = var("MLOPS_FAULT_PAUSE_SECONDS", 300.0, "Fault-injection tests only: longest pause at a pause point")

    # --- stack: scripts/run.sh, stop.sh, env.sh ---------------------------------------------------
    root: Path | None = var("MLOPS_ROOT", None, "The repository (scripts/env.sh sets it from its own path)", scope="stack")
    mlflow_host: str = var("MLOPS_MLFLOW_HOST", "127.0.0.1", "Host the MLflow server listens on", scope="stack")
    mlflow_port: int = var("MLOPS_MLFLOW_PORT", 5000, "Port of the MLflow server", scope="stack")
    mlflow_workers: int = var("MLOPS_MLFLOW_WORKERS", 1, "Worker processes of the MLflow server (the production profile sets 2)", scope="stack")
    mlflow_artifacts: str = var("MLOPS_MLFLOW_ARTIFACTS", "", "Where the MLflow server keeps artifacts (default: under the Airflow home)", scope="stack")
    start_timeout: int = var("MLOPS_START_TIMEOUT", 240, "Seconds scripts/run.sh waits for each component's health check", scope="stack")
    stop_timeout: int = var("MLOPS_STOP_TIMEOUT", 30, "Seconds scripts/stop.sh waits before it kills a component", scope="stack")
    default_queue: str = var("MLOPS_DEFAULT_QUEUE", "default", "Celery queue of every other task (production profile)", scope="stack")
    default_concurrency: int = var("MLOPS_DEFAULT_CONCURRENCY", 2, "Task slots of the default queue's worker", scope="stack")
    training_concurrency: int = var("MLOPS_TRAINING_CONCURRENCY", 2, "Task slots of the worker of the training and model queues", scope="stack")
    env_file: Path | None = var("MLOPS_ENV_FILE", None, "Settings file of the production profile (default: .env in the repository)", scope="stack")

    # --- profile: .env of the production profile ---------------------------------------------------
    airflow_users: str = var("MLOPS_AIRFLOW_USERS", "", "Airflow users and roles, e.g. alice:admin,bob:viewer", scope="profile")
    airflow_passwords: str = var(
        f"{AIRFLOW_PASSWORD_PREFIX}<USER>", "", "One per Airflow user (upper case), at least 12 characters", scope="profile", secret=True
    )
    fernet_key: SecretStr | None = var("MLOPS_FERNET_KEY", None, "Airflow's Fernet key (the same on every component)", scope="profile", secret=True)
    jwt_secret: SecretStr | None = var("MLOPS_JWT_SECRET", None, "Airflow's JWT secret (the same on every component)", scope="profile", secret=True)
    api_secret_key: SecretStr | None = var("MLOPS_API_SECRET_KEY", None, "Airflow's API secret key (the same on every component)", scope="profile", secret=True)
    airflow_db: str = var("MLOPS_AIRFLOW_DB", "mlops_airflow", "PostgreSQL database of Airflow's metadata", scope="profile")
    mlflow_db: str = var("MLOPS_MLFLOW_DB", "mlops_mlflow", "PostgreSQL database of MLflow's tracking and registry store", scope="profile")
    mlflow_auth_db: str = var("MLOPS_MLFLOW_AUTH_DB", "mlops_mlflow_auth", "PostgreSQL database of MLflow's users and permissions", scope="profile")
    mlflow_auth_db_uri: SecretStr | None = var(
        "MLOPS_MLFLOW_AUTH_DB_URI", None, "URI of MLflow's auth database (derived from the above)", scope="profile", secret=True
    )
    metadata_db: str = var("MLOPS_METADATA_DB", "mlops_metadata", "PostgreSQL database of the product's own tables (alert delivery log)", scope="profile")
    predictions_db: str = var(
        "MLOPS_PREDICTIONS_DB", "mlops_predictions", "PostgreSQL database of the prediction store (predictions, labels, live metrics)", scope="profile"
    )
    mlflow_secret_key: SecretStr | None = var("MLOPS_MLFLOW_SECRET_KEY", None, "MLflow's Flask secret key", scope="profile", secret=True)
    mlflow_admin_user: str = var("MLOPS_MLFLOW_ADMIN_USER", "mlflow-admin", "MLflow's first admin, created with a new auth database", scope="profile")
    mlflow_admin_password: SecretStr | None = var("MLOPS_MLFLOW_ADMIN_PASSWORD", None, "Password of MLflow's first admin", scope="profile", secret=True)
    mlflow_user: str = var("MLOPS_MLFLOW_USER", "mlops-pipeline", "The pipeline's own MLflow user (not an admin)", scope="profile")
    mlflow_password: SecretStr | None = var("MLOPS_MLFLOW_PASSWORD", None, "Password of the pipeline's MLflow user", scope="profile", secret=True)
    postgres_user: str = var("POSTGRES_USER", "mlops", "PostgreSQL role of every database", scope="profile")
    postgres_password: SecretStr | None = var("POSTGRES_PASSWORD", None, "Password of that role", scope="profile", secret=True)
    postgres_host: str = var("POSTGRES_HOST", "127.0.0.1", "PostgreSQL host", scope="profile")
    postgres_port: int = var("POSTGRES_PORT", 5432, "PostgreSQL port", scope="profile")
    redis_host: str = var("REDIS_HOST", "127.0.0.1", "Redis host (Celery's broker)", scope="profile")
    redis_port: int = var("REDIS_PORT", 6379, "Redis port", scope="profile")
    redis_db: int = var("REDIS_DB", 0, "Redis database number", scope="profile")
    redis_password: SecretStr | None = var("REDIS_PASSWORD", None, "Redis password (empty for a local Redis without one)", scope="profile", secret=True)

    # ------------------------------------------------------------------------------------------------
    @classmethod
    def variables(cls) -> dict[str, tuple[str, dict]]:
        """``{environment variable: (field name, its json_schema_extra)}`` of every declared variable."""
        return {f.json_schema_extra["env"]: (name, f.json_schema_extra) for name, f in cls.model_fields.items()}

    @classmethod
    def _parse(cls, name: str, raw: str) -> Any:
        field = cls.model_fields[name]
        try:
            return TypeAdapter(field.annotation).validate_python(raw)
        except ValidationError as e:
            env = field.json_schema_extra["env"]
            raise ConfigError(f"environment variable {env}={raw!r} is not valid: {e.errors()[0]['msg']}; expected {field.description.lower()}") from e

    @classmethod
    def value(cls, name: str, environ: Mapping[str, str] | None = None, *, default: Any = ...) -> Any:
        """One setting from the environment, with its declared type and default (empty counts as unset).

        A required setting that is unset raises ``ConfigError`` unless ``default`` is given.
        """
        env = os.environ if environ is None else environ
        field = cls.model_fields[name]
        raw = env.get(field.json_schema_extra["env"], "")
        if raw == "":
            if not field.is_required():
                return field.default
            if default is not ...:
                return default
            raise ConfigError(f"environment variable {field.json_schema_extra['env']} is not set; expected {field.description.lower()}")
        return cls._parse(name, raw)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Every setting from the environment; ``MLOPS_HOME`` and ``MLFLOW_TRACKING_URI`` must be set."""
        env = os.environ if environ is None else environ
        missing = [k for k in ("MLOPS_HOME", "MLFLOW_TRACKING_URI") if not env.get(k)]
        if missing:
            raise ConfigError(
                f"environment variables {missing} are not set; expected the data folder and the MLflow "
                "tracking URI. Source scripts/env.sh (or set them in the Airflow deployment) and retry."
            )
        values = {}
        for name, field in cls.model_fields.items():
            raw = env.get(field.json_schema_extra["env"], "")
            if raw != "" and name != "airflow_passwords":
                values[name] = cls._parse(name, raw)
        values["home"] = Path(values["home"]).expanduser().resolve()
        return cls(**values)

    # --- where things are -----------------------------------------------------------------------
    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def gx_dir(self) -> Path:
        return self.home / "gx"

    @property
    def data_docs_dir(self) -> Path:
        """The GX file context's local Data Docs site (GX's default location inside ``gx_dir``)."""
        return self.gx_dir / "uncommitted" / "data_docs" / DATA_DOCS_SITE

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"


def reference_markdown() -> str:
    """``docs/settings.md``: every variable, its default and what it does, grouped by scope."""
    titles = {
        "runtime": "Read by the product in Airflow's processes",
        "stack": "Read by the scripts that start and stop the stack (`make run`)",
        "profile": "The production profile's settings file (`.env`; see `.env.example`)",
    }
    lines = [
        "# Settings",
        "",
        "Every environment variable the product reads, from `include/mlops/settings.py` (a test keeps",
        "this page, the scripts, `.env.example` and `docker-compose.yaml` in agreement with it).",
        "`scripts/env.sh` sets each only when it is unset, so any can be overridden by exporting it.",
    ]
    for scope, title in titles.items():
        lines += ["", f"## {title}", "", "| variable | default | what it does |", "| --- | --- | --- |"]
        for name, field in Settings.model_fields.items():
            extra = field.json_schema_extra
            if extra["scope"] != scope:
                continue
            if field.is_required():
                default = "required"
            elif extra["secret"] or field.default in (None, ""):
                default = "–"
            elif name == "preload_modules":
                default = "pandas, scikit-learn, SciPy, MLflow, GX, skops, matplotlib, the DAG-file parser of the task runner"
            else:
                default = f"`{field.default}`"
            secret = " (secret)" if extra["secret"] else ""
            lines.append(f"| `{extra['env']}` | {default} | {field.description}{secret} |")
    return "\n".join(lines) + "\n"
