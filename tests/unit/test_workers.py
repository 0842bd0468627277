"""The test harness: each pytest-xdist worker of ``make test`` gets its own Airflow home."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing

from workers import own_airflow_home, scope_of

KEYS = ("AIRFLOW_HOME", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", "MLOPS_HOME", "MLFLOW_TRACKING_URI")


def _throwaway_home(tmp_path, monkeypatch):
    home = tmp_path / "airflow"
    home.mkdir()
    with closing(sqlite3.connect(home / "airflow.db")) as db:
        db.execute("create table dag_run (run_id text)")
        db.execute("insert into dag_run values ('manual__1')")
        db.commit()
    (home / "passwords.json").write_text('{"admin": "demo"}')
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "MLOPS_HOME": str(home / "data"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return home


def test_a_worker_works_on_its_own_copy_of_the_migrated_metadata_db(tmp_path, monkeypatch):
    home = _throwaway_home(tmp_path, monkeypatch)
    own_airflow_home("gw1")
    own = tmp_path / "airflow-gw1"
    assert os.environ["AIRFLOW_HOME"] == str(own)
    assert os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{own / 'airflow.db'}"
    assert os.environ["MLOPS_HOME"] == str(own / "data") and (own / "data").is_dir()
    assert os.environ["MLFLOW_TRACKING_URI"] == f"sqlite:///{tmp_path / 'mlflow-gw1.db'}"
    assert (own / "passwords.json").read_text() == '{"admin": "demo"}'
    with closing(sqlite3.connect(own / "airflow.db")) as db:
        assert db.execute("select run_id from dag_run").fetchall() == [("manual__1",)]
        db.execute("insert into dag_run values ('manual__2')")
        db.commit()
    with closing(sqlite3.connect(home / "airflow.db")) as db:
        assert db.execute("select count(*) from dag_run").fetchone() == (1,), "the worker's writes reached the shared DB"


def test_a_home_not_laid_out_by_the_test_script_is_left_alone(tmp_path, monkeypatch):
    _throwaway_home(tmp_path, monkeypatch)
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql+psycopg2://127.0.0.1/airflow")
    before = {k: os.environ[k] for k in KEYS}
    own_airflow_home("gw0")
    assert {k: os.environ[k] for k in KEYS} == before
    assert not (tmp_path / "airflow-gw0").exists()


def test_a_worker_takes_a_whole_file_or_a_whole_stack_tier():
    assert scope_of("tests/e2e/test_promotion.py::test_better_challenger_replaces_champion") == "tests/e2e/test_promotion.py"
    assert scope_of("tests/unit/drift/test_psi.py::test_x[a-b]") == "tests/unit/drift/test_psi.py"
    assert scope_of("tests/live/test_alerts.py::test_late_run_down_channel_and_approval") == "tests/live"
    assert scope_of("tests/live/authz/test_roles.py::test_viewer") == "tests/live"
    assert scope_of("tests/prod/test_prod_profile.py::test_anonymous_requests_are_refused") == "tests/prod"
