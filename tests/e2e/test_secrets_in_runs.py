"""A database password in a dataset config never lands anywhere: a real nightly run reads a
PostgreSQL table through ``source.options.url`` (with a password; the server trusts local
connections, so any password works), then every artifact, tag, param, XCom and log is searched."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from e2e.helpers import run_dag, states, xcom
from mlops.config import DEFAULT_DATASETS_DIR
from mlops.sources.base import Interval
from mlops.sources.synthetic import SyntheticSource

pytestmark = pytest.mark.e2e

FIRST, DAYS = date(2024, 3, 1), 7
PASSWORD = "pw-" + secrets.token_hex(12)
ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="module")
def sql_dataset(stack, tmp_path_factory):
    db = f"mlops_e2e_secret_{secrets.token_hex(4)}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{db}"'))
    url = f"postgresql+psycopg2://postgres:{PASSWORD}@127.0.0.1:5432/{db}"
    engine = sa.create_engine(url)
    for k in range(DAYS):
        SyntheticSource(rows_per_day=300, seed=7).read(Interval.days(FIRST + timedelta(days=k))).to_sql("events", engine, index=False, if_exists="append")
    engine.dispose()
    folder = tmp_path_factory.mktemp("datasets")
    config = yaml.safe_load((DEFAULT_DATASETS_DIR / "synthetic.yaml").read_text())
    config.update(name="sqlurl", source={"kind": "sql", "options": {"url": url, "table": "events"}}, dag={"dag_id": "e2e_sqlurl", "schedule": None})
    config["training"].update(window_days=5, holdout_days=1, min_train_rows=500)
    config["drift"] = {"reference_days": 3}
    config["labels"] = {"delay_days": 0}  # labels in the same table as the features
    (folder / "sqlurl.yaml").write_text(yaml.safe_dump(config))
    os.environ["MLOPS_DATASETS_DIR"] = str(folder)
    yield stack
    os.environ.pop("MLOPS_DATASETS_DIR", None)
    shutil.rmtree(folder, ignore_errors=True)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
    admin.dispose()


def _files_holding(root: Path, secret: bytes) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if p.is_file() and secret in p.read_bytes())


def test_a_database_password_is_nowhere_after_a_run(sql_dataset, capfd):
    from mlflow import MlflowClient

    dr = run_dag("e2e_sqlurl", "2024-03-06")
    assert dr.state == "success", states(dr)
    out, err = capfd.readouterr()
    run_id = xcom(dr, "retrain.train")["run_id"]
    client = MlflowClient()
    stored = json.loads(Path(client.download_artifacts(run_id, "lineage/dataset_config.json")).read_text())
    assert stored["source"]["options"]["url"].startswith("postgresql+psycopg2://postgres:***@127.0.0.1:5432/mlops_e2e_secret_")
    run = client.get_run(run_id)
    secret = PASSWORD.encode()
    assert PASSWORD not in json.dumps({"tags": run.data.tags, "params": run.data.params}), "in the run's tags or params"
    # Artifacts, the MLflow store (tags, params), the lake, reports and Data Docs of this module's stack;
    # the Airflow metadata DB (XComs, rendered fields) and task logs; what the run printed.
    assert _files_holding(Path(os.environ["MLOPS_HOME"]).parent, secret) == []
    assert _files_holding(Path(os.environ["AIRFLOW_HOME"]), secret) == []
    assert PASSWORD not in out and PASSWORD not in err
