"""scripts/prod_setup.py: the production profile's settings check names every problem and never a secret."""

from __future__ import annotations

import importlib.util
import json
import stat
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("prod_setup", ROOT / "scripts" / "prod_setup.py")
prod_setup = importlib.util.module_from_spec(spec)
spec.loader.exec_module(prod_setup)

COMPLETE = {
    "MLOPS_AIRFLOW_USERS": "alice:admin, bob.smith:viewer",
    "MLOPS_AIRFLOW_PASSWORD_ALICE": "a" * 16,
    "MLOPS_AIRFLOW_PASSWORD_BOB_SMITH": "b" * 16,
    "MLOPS_FERNET_KEY": "0" * 43 + "=",
    "MLOPS_JWT_SECRET": "j" * 40,
    "MLOPS_API_SECRET_KEY": "k" * 20,
    "MLOPS_MLFLOW_SECRET_KEY": "m" * 20,
    "MLOPS_MLFLOW_ADMIN_USER": "mlflow-admin",
    "MLOPS_MLFLOW_ADMIN_PASSWORD": "p" * 16,
    "MLOPS_MLFLOW_USER": "mlops-pipeline",
    "MLOPS_MLFLOW_PASSWORD": "q" * 16,
    "POSTGRES_USER": "mlops",
    "POSTGRES_PASSWORD": "pg-pass_1.~",
}


@pytest.fixture
def complete(monkeypatch):
    for key in list(__import__("os").environ):
        if key.startswith(("MLOPS_", "POSTGRES_", "REDIS_")):
            monkeypatch.delenv(key)
    for key, value in COMPLETE.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


def test_complete_settings_have_no_problems(complete):
    assert prod_setup.settings_problems() == []


def test_every_missing_or_weak_setting_is_named_once_and_no_value_is_shown(complete):
    complete.delenv("MLOPS_AIRFLOW_PASSWORD_BOB_SMITH")
    complete.setenv("MLOPS_AIRFLOW_PASSWORD_ALICE", "short-pw")
    complete.setenv("MLOPS_AIRFLOW_USERS", "alice:admin,bob.smith:viewer,carol:root")
    complete.setenv("MLOPS_FERNET_KEY", "not-a-key")
    complete.setenv("MLOPS_JWT_SECRET", "j" * 10)
    complete.delenv("MLOPS_MLFLOW_SECRET_KEY")
    complete.setenv("POSTGRES_PASSWORD", "p@ss/word")
    problems = prod_setup.settings_problems()
    text = "\n".join(problems)
    for expected in (
        "MLOPS_AIRFLOW_PASSWORD_ALICE (password of Airflow user 'alice') is shorter than 12 characters",
        "MLOPS_AIRFLOW_PASSWORD_BOB_SMITH (password of Airflow user 'bob.smith') is missing",
        "user 'carol' has role 'root'",
        "MLOPS_AIRFLOW_PASSWORD_CAROL (password of Airflow user 'carol') is missing",
        "MLOPS_FERNET_KEY is not a Fernet key",
        "MLOPS_JWT_SECRET is shorter than 32 characters",
        "MLOPS_MLFLOW_SECRET_KEY is missing",
        "POSTGRES_PASSWORD contains characters that need URL-encoding",
    ):
        assert expected in text
    assert len(problems) == 8
    for secret in ("short-pw", "not-a-key", "p@ss/word", "j" * 10):
        assert secret not in text


def test_no_users_is_a_problem(complete):
    complete.setenv("MLOPS_AIRFLOW_USERS", " ")
    assert any(p.startswith("MLOPS_AIRFLOW_USERS is empty") for p in prod_setup.settings_problems())


def test_files_are_written_private_from_the_environment(complete, tmp_path):
    from cryptography.fernet import Fernet

    complete.setenv("MLOPS_FERNET_KEY", Fernet.generate_key().decode())
    complete.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(tmp_path / "a" / "passwords.json"))
    complete.setenv("MLFLOW_AUTH_CONFIG_PATH", str(tmp_path / "run" / "auth.ini"))
    complete.setenv("MLOPS_MLFLOW_AUTH_DB_URI", "postgresql://mlops:x@db:5432/auth")
    prod_setup.write_files()
    passwords = tmp_path / "a" / "passwords.json"
    assert json.loads(passwords.read_text()) == {"alice": "a" * 16, "bob.smith": "b" * 16}
    ini = (tmp_path / "run" / "auth.ini").read_text()
    assert "default_permission = READ" in ini and "database_uri = postgresql://mlops:x@db:5432/auth" in ini
    # MLflow itself reads it: successful password checks are cached (each costs a slow hash).
    from mlflow.server.auth.config import read_auth_config

    assert read_auth_config().auth_cache_ttl_seconds == prod_setup.MLFLOW_AUTH_CACHE_TTL > 0
    for path in (passwords, tmp_path / "run" / "auth.ini"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_unreachable_servers_are_named(complete):
    complete.setenv("POSTGRES_HOST", "127.0.0.1")
    complete.setenv("POSTGRES_PORT", "1")
    complete.setenv("REDIS_HOST", "127.0.0.1")
    complete.setenv("REDIS_PORT", "1")
    complete.setenv("MLOPS_AIRFLOW_DB", "a")
    complete.setenv("MLOPS_MLFLOW_DB", "b")
    complete.setenv("MLOPS_MLFLOW_AUTH_DB", "c")
    (pg,) = prod_setup.check_postgres(create=False)
    assert pg.startswith("PostgreSQL at 127.0.0.1:1 as 'mlops': cannot connect")
    (redis,) = prod_setup.check_redis()
    assert redis.startswith("Redis at 127.0.0.1:1: cannot connect")


def test_worker_hostname(monkeypatch):
    from mlops.airflow.hostname import worker_hostname

    monkeypatch.setenv("MLOPS_WORKER_NAME", "worker-training")
    assert worker_hostname() == "worker-training"
    monkeypatch.delenv("MLOPS_WORKER_NAME")
    assert worker_hostname() and worker_hostname() != "worker-training"
