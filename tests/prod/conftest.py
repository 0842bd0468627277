"""The production profile, started natively by `scripts/run.sh` with MLOPS_PROFILE=prod.

PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) are the machine's; the test creates its
own databases (dropped afterwards) and uses its own Redis database number (flushed afterwards).
Secrets are generated per run into a settings file in the temporary home. Everything the
profile starts is stopped by PID (`scripts/stop.sh`).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from pathlib import Path

import pytest

from live.stack import ROOT, LiveStack

PG = {"host": "127.0.0.1", "port": 5432, "user": os.environ.get("MLOPS_TEST_PG_USER", "postgres")}
REDIS_DB = int(os.environ.get("MLOPS_TEST_REDIS_DB", "11"))
USERS = "admin:admin,viewer:viewer"


def settings(prefix: str, api_port: int, mlflow_port: int) -> dict[str, str]:
    from cryptography.fernet import Fernet

    token = lambda: secrets.token_urlsafe(24)  # noqa: E731
    return {
        "MLOPS_AIRFLOW_USERS": USERS,
        "MLOPS_AIRFLOW_PASSWORD_ADMIN": token(),
        "MLOPS_AIRFLOW_PASSWORD_VIEWER": token(),
        "MLOPS_FERNET_KEY": Fernet.generate_key().decode(),
        "MLOPS_JWT_SECRET": secrets.token_urlsafe(48),
        "MLOPS_API_SECRET_KEY": token(),
        "POSTGRES_USER": PG["user"],
        "POSTGRES_PASSWORD": "",
        "POSTGRES_HOST": PG["host"],
        "POSTGRES_PORT": str(PG["port"]),
        "MLOPS_AIRFLOW_DB": f"{prefix}_airflow",
        "MLOPS_MLFLOW_DB": f"{prefix}_mlflow",
        "MLOPS_MLFLOW_AUTH_DB": f"{prefix}_mlflow_auth",
        "MLOPS_PREDICTIONS_DB": f"{prefix}_predictions",
        "MLOPS_METADATA_DB": f"{prefix}_metadata",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": "6379",
        "REDIS_DB": str(REDIS_DB),
        "MLOPS_MLFLOW_SECRET_KEY": token(),
        "MLOPS_MLFLOW_ADMIN_USER": "mlflow-admin",
        "MLOPS_MLFLOW_ADMIN_PASSWORD": token(),
        "MLOPS_MLFLOW_USER": "mlops-pipeline",
        "MLOPS_MLFLOW_PASSWORD": token(),
        "MLOPS_MLFLOW_PORT": str(mlflow_port),
        "AIRFLOW__API__PORT": str(api_port),
    }


def write_env_file(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    path.chmod(0o600)
    return path


def profile_env(home: Path, env_file: Path, **extra: str) -> dict[str, str]:
    """The test process's environment without its own Airflow/MLflow/pipeline settings, plus the profile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLOPS_", "MLFLOW_"))}
    airflow_home = home / "airflow"
    env.update(
        {
            "MLOPS_PROFILE": "prod",
            "MLOPS_ENV_FILE": str(env_file),
            "AIRFLOW_HOME": str(airflow_home),
            "MLOPS_HOME": str(airflow_home / "data"),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            **extra,
        }
    )
    return env


def sql(statement: str, database: str = "postgres") -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(
        sa.URL.create("postgresql+psycopg2", username=PG["user"], host=PG["host"], port=PG["port"], database=database), isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def flush_redis_db(db: int) -> None:
    with socket.create_connection(("127.0.0.1", 6379), timeout=5) as s:
        s.sendall(f"SELECT {db}\r\nFLUSHDB\r\n".encode())
        s.recv(64)


#: The profile's own PostgreSQL databases (names in its settings).
DATABASE_KEYS = ("MLOPS_AIRFLOW_DB", "MLOPS_MLFLOW_DB", "MLOPS_MLFLOW_AUTH_DB", "MLOPS_PREDICTIONS_DB", "MLOPS_METADATA_DB")


def production_stack(home: Path, *, prefix: str, api_port: int, mlflow_port: int, redis_db: int = REDIS_DB, **extra_env: str) -> LiveStack:
    """The production profile in ``home``, not started: generated secrets in ``home/prod.env``,
    databases ``<prefix>_*`` and Redis database ``redis_db`` of its own (``drop_profile_data``
    removes them). ``stack.settings`` holds the generated settings."""
    values = settings(prefix, api_port, mlflow_port) | {"REDIS_DB": str(redis_db)}
    env = profile_env(home, write_env_file(home / "prod.env", values), **extra_env)
    stack = LiveStack(home=home, env=env, api=f"http://127.0.0.1:{api_port}", mlflow=f"http://127.0.0.1:{mlflow_port}")
    stack.settings, stack.databases, stack.redis_db = values, [values[k] for k in DATABASE_KEYS], redis_db
    return stack


def drop_profile_data(stack: LiveStack) -> None:
    """Drop the databases and flush the Redis database of a stack made by ``production_stack``."""
    for db in stack.databases:
        sql(f'drop database if exists "{db}" with (force)')
    flush_redis_db(stack.redis_db)


@pytest.fixture(scope="module")
def prod_stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("prod")
    datasets = home / "datasets"
    datasets.mkdir()
    shutil.copy(ROOT / "include" / "datasets" / "synthetic.yaml", datasets / "synthetic.yaml")
    stack = production_stack(
        home,
        prefix=f"mlops_t{os.getpid()}",
        api_port=int(os.environ.get("MLOPS_TEST_PROD_API_PORT", "28080")),
        mlflow_port=int(os.environ.get("MLOPS_TEST_PROD_MLFLOW_PORT", "25000")),
        MLOPS_DATASETS_DIR=str(datasets),
    )
    values = stack.settings
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    try:
        stack.start()
        # The test's own MLflow clients sign in as the pipeline does.
        os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = values["MLOPS_MLFLOW_USER"], values["MLOPS_MLFLOW_PASSWORD"]
        yield stack
    finally:
        stack.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        drop_profile_data(stack)
