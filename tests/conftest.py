"""Shared fixtures and the test tiers.

Tiers follow the folders: ``tests/unit``, ``tests/dags`` and ``tests/deploy`` are the fast tier
(no servers; ``make test-fast``); ``tests/e2e``, ``tests/chaos``, ``tests/live`` and
``tests/prod`` are marked ``e2e``, ``chaos``, ``live`` and ``prod`` and run with the rest in
``make test``. Unit tests use small in-memory frames and a real SQLite MLflow store.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from mlops.config import DatasetConfig, Settings, load_dataset
from workers import copy_sqlite, own_airflow_home, scope_of

#: Folders whose tests get the marker of the same name (see pyproject's markers).
SLOW_TIERS = ("e2e", "chaos", "live", "prod")


def pytest_configure(config):
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        own_airflow_home(worker)


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` (``make test``): a file's tests on one worker, a stack tier's all on one."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class FilesAndStackTiers(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scope_of(nodeid)

    return FilesAndStackTiers(config, log)


def pytest_collection_modifyitems(config, items):
    root = Path(__file__).resolve().parent
    for item in items:
        parts = Path(str(item.path)).resolve().relative_to(root).parts
        if parts and parts[0] in SLOW_TIERS:
            item.add_marker(getattr(pytest.mark, parts[0]))


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory) -> str:
    """One real SQLite tracking/registry store for the unit tests (creating one takes ~3 s)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def migrated_metadata_db(tmp_path: Path) -> Path:
    """A copy of the Airflow metadata DB as ``airflow db migrate`` left it in ``scripts/test.sh``:
    none of the DAGs, runs or rows the tests before this one wrote (they depend on the order)."""
    source = os.environ.get("TEST_MIGRATED_DB")
    if not source or not Path(source).is_file():
        pytest.fail(f"TEST_MIGRATED_DB={source!r} is not a migrated metadata DB: run the tests through `make test` (scripts/test.sh)")
    return copy_sqlite(Path(source), tmp_path / "airflow.db")


@pytest.fixture
def settings(tmp_path: Path, mlflow_uri: str) -> Settings:
    return Settings(home=tmp_path / "home", tracking_uri=mlflow_uri)


@pytest.fixture
def synthetic_config() -> DatasetConfig:
    """The synthetic dataset, small, without drift, with labels in the partition."""
    return load_dataset("synthetic", override={"source": {"options": {"rows_per_day": 300, "drift": []}}, "labels": {"delay_days": 0}})


@pytest.fixture
def late_labels_config() -> DatasetConfig:
    """The synthetic dataset as shipped: labels arrive 3 days after their partition."""
    return load_dataset("synthetic", override={"source": {"options": {"rows_per_day": 300, "drift": []}}})


@pytest.fixture
def day() -> date:
    return date(2024, 1, 10)


@pytest.fixture
def logged_model(settings):
    """``(client, model_uri, run_id)`` of a tiny real logged model; artifacts under the test's home."""
    import mlflow
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from mlops import tracking

    client = tracking.client(settings)
    with mlflow.start_run(experiment_id=tracking.experiment_id(settings, "unit/models")) as run:
        X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
        info = mlflow.sklearn.log_model(LogisticRegression().fit(X, [0, 0, 1, 1]), name="m", pip_requirements=["scikit-learn"])
    return client, info.model_uri, run.info.run_id


@pytest.fixture
def small_filesystem(tmp_path: Path):
    """A real, nearly full file system: a 256 KiB tmpfs mounted at ``tmp_path / "fs"``.

    Writes past its size fail with ENOSPC as on a full disk. Mounting needs root (CAP_SYS_ADMIN);
    elsewhere the test is skipped with that reason.
    """
    import subprocess

    mount = tmp_path / "fs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
