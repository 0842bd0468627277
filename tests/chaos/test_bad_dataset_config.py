"""A malformed dataset config beside good ones: the good DAGs load, the import error names the file and line.

Checked twice: in a ``DagBag`` (what tests and ``airflow dags list-import-errors`` see) and
under the real ``airflow dag-processor`` writing to a metadata DB, where Airflow 3.3 marks
every DAG of a file with an import error stale (so the DAG files themselves must not raise).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlops.config import DEFAULT_DATASETS_DIR

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
BROKEN = "name: broken\ndag:\n  dag_id: broken_nightly\nsource: {kind: synthetic}\ntarget: y\n  task: classification\n"
GOOD_DAGS = {
    "mlops_nightly_training",
    "mlops_model_promotion",
    "mlops_model_rollback",
    "mlops_nightly_training_synthetic",
    "mlops_model_promotion_synthetic",
    "mlops_model_rollback_synthetic",
    "typo_free_nightly",
    "typo_free_promotion",
    "typo_free_rollback",
    "mlops_batch_scoring",
    "mlops_batch_scoring_synthetic",
    "mlops_batch_scoring_typo_free",  # their configs have a scoring: section
}


@pytest.fixture
def datasets(tmp_path, monkeypatch):
    folder = tmp_path / "datasets"
    folder.mkdir()
    for name in ("flights", "synthetic"):
        shutil.copy(DEFAULT_DATASETS_DIR / f"{name}.yaml", folder)
    raw = yaml.safe_load((DEFAULT_DATASETS_DIR / "synthetic.yaml").read_text())
    raw.update(name="typo_free", dag={"dag_id": "typo_free_nightly", "promotion_dag_id": "typo_free_promotion", "rollback_dag_id": "typo_free_rollback"})
    (folder / "typo_free.yaml").write_text(yaml.safe_dump(raw))
    (folder / "broken.yaml").write_text(BROKEN)
    raw.update(name="typo", dag={"dag_id": "typo_nightly", "promotion_dag_id": "typo_promotion", "rollback_dag_id": "typo_rollback", "shedule": "@hourly"})
    (folder / "typo.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("MLOPS_DATASETS_DIR", str(folder))
    return folder


def assert_names_the_bad_files(error: str, folder: Path) -> None:
    assert f"dataset config {folder / 'broken.yaml'}, line 6, column 7: not valid YAML: mapping values are not allowed" in error
    assert f"dataset config {folder / 'typo.yaml'}, line " in error and "dag: unknown key 'shedule' (did you mean 'schedule'?)" in error
    assert "<unicode string>" not in error


def test_dagbag_keeps_the_good_dags_and_reports_the_bad_file(datasets):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAGS))
    assert set(bag.dag_ids) == GOOD_DAGS
    assert list(bag.import_errors) == [str(DAGS / "mlops_dataset_configs.py")]
    assert_names_the_bad_files(bag.import_errors[str(DAGS / "mlops_dataset_configs.py")], datasets)


def test_dag_processor_keeps_the_good_dags_active(datasets, migrated_metadata_db):
    """The real dag-processor on a freshly migrated metadata DB (other tests' DAGs would be in the session's)."""
    db = migrated_metadata_db
    env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}", "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS)}
    airflow = Path(sys.executable).with_name("airflow")
    proc = subprocess.run([str(airflow), "dag-processor", "--num-runs", "1"], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with sqlite3.connect(db) as con:
        dags = {row[0]: (bool(row[1]), bool(row[2])) for row in con.execute("select dag_id, is_stale, has_import_errors from dag")}
        errors = dict(con.execute("select filename, stacktrace from import_error").fetchall())
    assert {d for d, (stale, broken) in dags.items() if not stale and not broken} == GOOD_DAGS
    assert not {"broken_nightly", "typo_nightly"} & set(dags)
    assert list(errors) == ["mlops_dataset_configs.py"]
    assert_names_the_bad_files(errors["mlops_dataset_configs.py"], datasets)
