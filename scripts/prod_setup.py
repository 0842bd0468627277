"""Checks and one-off set-up of the production profile (MLOPS_PROFILE=prod).

Run with the profile's environment (``MLOPS_PROFILE=prod . scripts/env.sh``); ``scripts/run.sh``
and docker-compose.yaml's init job call it::

    python scripts/prod_setup.py check [--create-databases]   # settings, PostgreSQL, Redis; writes
                                                              # the Airflow passwords file and the
                                                              # MLflow auth config (both mode 600)
    python scripts/prod_setup.py mlflow-user                  # once MLflow answers: the pipeline's
                                                              # MLflow user exists, with its password

Every problem is reported at once, with the variable or server it concerns and what to do.
Secrets are never printed.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import time
from pathlib import Path

MIN_PASSWORD = 12
URL_SAFE = re.compile(r"^[A-Za-z0-9._~-]*$")
ROLES = {"admin", "op", "user", "viewer"}


class SetupError(Exception):
    pass


def env(name: str) -> str:
    return os.environ.get(name, "").strip()


def airflow_users() -> dict[str, str]:
    """``MLOPS_AIRFLOW_USERS=name:role,...`` -> {name: role}."""
    users = {}
    for item in filter(None, (s.strip() for s in env("MLOPS_AIRFLOW_USERS").split(","))):
        name, _, role = item.partition(":")
        users[name.strip()] = role.strip().lower()
    return users


def password_var(user: str) -> str:
    return "MLOPS_AIRFLOW_PASSWORD_" + re.sub(r"[^A-Za-z0-9]", "_", user).upper()


def settings_problems() -> list[str]:
    """What is missing or unusable in the profile's settings (names only, never values)."""
    problems: list[str] = []
    users = airflow_users()
    if not users:
        problems.append("MLOPS_AIRFLOW_USERS is empty: list the Airflow users and roles, e.g. MLOPS_AIRFLOW_USERS=alice:admin,bob:viewer")
    for name, role in users.items():
        if role not in ROLES:
            problems.append(f"MLOPS_AIRFLOW_USERS: user {name!r} has role {role!r}; expected one of {sorted(ROLES)}")
        var = password_var(name)
        if len(env(var)) < MIN_PASSWORD:
            problems.append(f"{var} (password of Airflow user {name!r}) is {'missing' if not env(var) else f'shorter than {MIN_PASSWORD} characters'}")
    for var, what in (
        ("MLOPS_FERNET_KEY", "encrypts connections and variables in the metadata DB"),
        ("MLOPS_JWT_SECRET", "signs Airflow's API and task tokens; the same on every component"),
        ("MLOPS_API_SECRET_KEY", "signs Airflow's sessions; the same on every component"),
        ("MLOPS_MLFLOW_SECRET_KEY", "MLflow's CSRF secret"),
        ("MLOPS_MLFLOW_ADMIN_USER", "MLflow's first admin user"),
        ("MLOPS_MLFLOW_ADMIN_PASSWORD", "MLflow's first admin user's password"),
        ("MLOPS_MLFLOW_USER", "the pipeline's MLflow user"),
        ("MLOPS_MLFLOW_PASSWORD", "the pipeline's MLflow password"),
        ("POSTGRES_USER", "PostgreSQL role of Airflow and MLflow"),
    ):
        if not env(var):
            problems.append(f"{var} is missing ({what})")
    for var in ("MLOPS_MLFLOW_ADMIN_PASSWORD", "MLOPS_MLFLOW_PASSWORD"):
        if env(var) and len(env(var)) < MIN_PASSWORD:
            problems.append(f"{var} is shorter than {MIN_PASSWORD} characters")
    if env("MLOPS_FERNET_KEY"):
        try:
            from cryptography.fernet import Fernet

            Fernet(env("MLOPS_FERNET_KEY").encode())
        except Exception:
            problems.append("MLOPS_FERNET_KEY is not a Fernet key (32 url-safe base64-encoded bytes)")
    if env("MLOPS_JWT_SECRET") and len(env("MLOPS_JWT_SECRET")) < 32:
        problems.append("MLOPS_JWT_SECRET is shorter than 32 characters")
    for var in ("POSTGRES_USER", "POSTGRES_PASSWORD", "REDIS_PASSWORD"):
        if not URL_SAFE.match(env(var)):
            problems.append(f"{var} contains characters that need URL-encoding; use letters, digits and . _ ~ - only")
    return problems


def check_postgres(create: bool) -> list[str]:
    import sqlalchemy as sa

    host, port, user = env("POSTGRES_HOST"), env("POSTGRES_PORT"), env("POSTGRES_USER")
    dbs = [
        d
        for d in (
            env("MLOPS_AIRFLOW_DB"),
            env("MLOPS_MLFLOW_DB"),
            env("MLOPS_MLFLOW_AUTH_DB"),
            env("MLOPS_METADATA_DB") or "mlops_metadata",
            env("MLOPS_PREDICTIONS_DB"),
        )
        if d
    ]
    url = sa.URL.create("postgresql+psycopg2", username=user, password=env("POSTGRES_PASSWORD") or None, host=host, port=int(port), database="postgres")
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 10})
    try:
        with engine.connect() as conn:
            existing = set(conn.execute(sa.text("select datname from pg_database")).scalars())
            missing = [d for d in dbs if d not in existing]
            if missing and create:
                for name in missing:
                    conn.execute(sa.text(f'create database "{name}"'))
                    print(f"prod_setup: created database {name}")
                missing = []
    except sa.exc.OperationalError as e:
        reason = str(e.orig).strip().splitlines()[0] if e.orig else str(e)
        return [f"PostgreSQL at {host}:{port} as {user!r}: cannot connect ({reason}). Is it running, and are POSTGRES_* right?"]
    finally:
        engine.dispose()
    return [f"PostgreSQL at {host}:{port}: database {d!r} does not exist; create it or run with --create-databases" for d in missing]


def check_redis() -> list[str]:
    host, port, password = env("REDIS_HOST"), int(env("REDIS_PORT") or 6379), env("REDIS_PASSWORD")
    try:
        with socket.create_connection((host, port), timeout=5) as s:
            if password:
                s.sendall(f"AUTH {password}\r\n".encode())
                if not s.recv(64).startswith(b"+OK"):
                    return [f"Redis at {host}:{port} refused REDIS_PASSWORD"]
            s.sendall(b"PING\r\n")
            answer = s.recv(64)
    except OSError as e:
        return [f"Redis at {host}:{port}: cannot connect ({e}). Is it running, and are REDIS_HOST/REDIS_PORT right?"]
    return [] if answer.startswith(b"+PONG") else [f"Redis at {host}:{port} answered {answer[:40]!r} to PING"]


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


#: Seconds MLflow's basic auth keeps a successful credential check (see write_files).
MLFLOW_AUTH_CACHE_TTL = 60


def write_files() -> None:
    """Airflow's passwords file (SimpleAuthManager) and MLflow's basic-auth config, from the environment."""
    passwords = {name: env(password_var(name)) for name in airflow_users()}
    write_private(Path(os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]), json.dumps(passwords) + "\n")
    write_private(
        Path(os.environ["MLFLOW_AUTH_CONFIG_PATH"]),
        "\n".join(
            [
                "[mlflow]",
                "default_permission = READ",
                f"database_uri = {env('MLOPS_MLFLOW_AUTH_DB_URI')}",
                f"admin_username = {env('MLOPS_MLFLOW_ADMIN_USER')}",
                f"admin_password = {env('MLOPS_MLFLOW_ADMIN_PASSWORD')}",
                "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
                # MLflow checks the password hash (PBKDF2, deliberately slow) on every request
                # unless a success is cached: without the cache each call of the pipeline took
                # about 1 s on two busy cores and a backfill day took five times the embedded
                # default's. A password changed or a user removed through another MLflow worker,
                # or in the database directly, is refused at the latest after this TTL.
                f"auth_cache_ttl_seconds = {MLFLOW_AUTH_CACHE_TTL}",
                "",
            ]
        ),
    )


def cmd_check(create: bool) -> int:
    problems = settings_problems()
    if not problems:
        problems = check_postgres(create) + check_redis()
    if problems:
        print(f"prod_setup: the production profile cannot start (settings from the environment and {env('MLOPS_ENV_FILE')}):", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        print("  See .env.example for every setting and how to generate the secrets.", file=sys.stderr)
        return 1
    write_files()
    print(f"prod_setup: settings complete; PostgreSQL and Redis answer; {len(airflow_users())} Airflow user(s)")
    return 0


def cmd_mlflow_user(timeout: float = 120) -> int:
    """Create the pipeline's MLflow user (or reset its password to the configured one); not an admin."""
    import httpx

    base = os.environ["MLFLOW_TRACKING_URI"].rstrip("/")
    admin = (env("MLOPS_MLFLOW_ADMIN_USER"), env("MLOPS_MLFLOW_ADMIN_PASSWORD"))
    user, password = env("MLOPS_MLFLOW_USER"), env("MLOPS_MLFLOW_PASSWORD")
    deadline = time.monotonic() + timeout
    while True:
        try:
            r = httpx.get(f"{base}/api/2.0/mlflow/users/get", params={"username": user}, auth=admin, timeout=10)
            break
        except httpx.TransportError as e:
            if time.monotonic() > deadline:
                print(f"prod_setup: MLflow at {base} did not answer in {timeout:.0f} s ({e})", file=sys.stderr)
                return 1
            time.sleep(2)
    if r.status_code == 401:
        print(
            f"prod_setup: MLflow at {base} refused MLOPS_MLFLOW_ADMIN_USER/PASSWORD. The admin password is set when MLflow's "
            "auth database is first created; change it there (MLflow UI or API) or start from an empty auth database.",
            file=sys.stderr,
        )
        return 1
    if r.status_code == 200:
        r = httpx.patch(f"{base}/api/2.0/mlflow/users/update-password", json={"username": user, "password": password}, auth=admin, timeout=10)
        state = "exists, password set"
    else:
        r = httpx.post(f"{base}/api/2.0/mlflow/users/create", json={"username": user, "password": password}, auth=admin, timeout=10)
        state = "created"
    if r.status_code >= 300:
        print(f"prod_setup: MLflow user {user!r}: {r.status_code} {r.text[:300]}", file=sys.stderr)
        return 1
    print(f"prod_setup: MLflow user {user!r} {state}")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["check"]:
        return cmd_check(create="--create-databases" in argv[1:])
    if argv[:1] == ["mlflow-user"]:
        return cmd_mlflow_user()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
