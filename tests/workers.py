"""Test harness: each pytest-xdist worker of ``make test`` works in its own Airflow home."""

from __future__ import annotations

import os
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

#: Tiers whose tests share one stack per pytest process, on fixed ports.
ONE_WORKER_TIERS = ("live", "prod")


def scope_of(nodeid: str) -> str:
    """The unit of work a worker takes (``--dist loadfile``): a test file, so its module-scoped
    fixtures (an e2e scenario, say) run once; or a whole stack tier, so it starts one stack."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    if len(parts) > 2 and parts[0] == "tests" and parts[1] in ONE_WORKER_TIERS:
        return f"tests/{parts[1]}"
    return path


def copy_sqlite(source: Path, dest: Path) -> Path:
    """A consistent copy of a SQLite database (SQLite's backup API), even while others write to it."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(dest)) as copy:
        src.backup(copy)
    return dest


def own_airflow_home(worker: str) -> None:
    """Give this pytest-xdist worker its own copy of the throw-away Airflow home.

    ``scripts/test.sh`` migrates one SQLite metadata DB; the e2e and chaos tiers run the same
    DAGs on the same days, so two workers sharing it would re-run each other's DAG runs. Each
    worker gets a copy of the migrated DB (SQLite's backup API), its own data folder and MLflow
    store, before anything imports Airflow. Only a home laid out by scripts/test.sh is copied.
    """
    home = Path(os.environ.get("AIRFLOW_HOME", ""))
    db = home / "airflow.db"
    if not home.name or os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") != f"sqlite:///{db}" or not db.is_file():
        return
    own = home.with_name(f"{home.name}-{worker}")
    (own / "data").mkdir(parents=True, exist_ok=True)
    copy_sqlite(db, own / "airflow.db")
    passwords = home / "passwords.json"
    if passwords.is_file():
        shutil.copy2(passwords, own / "passwords.json")
    os.environ |= {
        "AIRFLOW_HOME": str(own),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{own / 'airflow.db'}",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(own / "passwords.json"),
        "MLOPS_HOME": str(own / "data"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{own.with_name(f'mlflow-{worker}.db')}",
    }
