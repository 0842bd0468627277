"""The batch scoring DAG in real runs (``dag.test``): the nightly DAG's validated partition, scored with the
champion into the embedded SQL store and the lake. (Its asset schedule needs the real scheduler:
tests/live/test_scoring.py.)"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from e2e.helpers import run_dag, states, variable, xcom

pytestmark = pytest.mark.e2e

NIGHTLY, SCORING, MODEL = "mlops_nightly_training_synthetic", "mlops_batch_scoring_synthetic", "synthetic_model"
VARIABLE = "mlops_dataset__synthetic"
OVERRIDE = {
    "source": {"options": {"rows_per_day": 500, "seed": 21, "drift": []}},
    "training": {"window_days": 5, "holdout_days": 1, "min_train_rows": 800},
    "drift": {"reference_days": 3},
    "labels": {"delay_days": 0},
}


@pytest.fixture(scope="module")
def env(stack):
    with variable(VARIABLE, OVERRIDE):
        yield stack


def _store(settings):
    from mlops.predictions.store import PredictionStore, embedded_url

    return PredictionStore(embedded_url(settings.home))


def _asset_events(day: str) -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = (
            session.execute(
                select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id).where(AssetModel.name == "mlops_validated_partition__synthetic")
            )
            .scalars()
            .all()
        )
        return [dict(e.extra) for e in rows if (e.extra or {}).get("partition") == day]


def _note(dag_run) -> str | None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.query(DagRun).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).one().note


def test_no_champion_yet_the_partition_is_skipped_with_the_reason_in_the_note(env):
    nightly = run_dag(NIGHTLY, "2024-02-05")
    assert nightly.state == "success", states(nightly)
    (event,) = _asset_events("2024-02-05")
    partition = xcom(nightly, "ingest")
    assert event == {
        "dataset": "synthetic",
        "partition": "2024-02-05",
        "interval_start": partition["interval_start"],
        "interval_end": partition["interval_end"],
        "content_hash": partition["content_hash"],
        "rows": 500,
        "run_key": f"{NIGHTLY}/{nightly.run_id}",
        "run_type": "manual",
    }
    dr = run_dag(SCORING, "2024-02-05", {"partition_date": "2024-02-05"})
    assert dr.state == "success" and states(dr)["score"] == "skipped", states(dr)
    assert _note(dr).startswith("Batch scoring\nds=2024-02-05: skipped: no champion yet: models:/synthetic_model@champion does not exist")
    assert xcom(dr, "score", "run_note").startswith("ds=2024-02-05: skipped: no champion yet")


def test_the_champion_scores_the_partition_and_a_rescore_replaces_it(env):
    from mlops import tracking

    client = tracking.client(env)
    client.set_registered_model_alias(MODEL, "champion", "1")
    nightly = run_dag(NIGHTLY, "2024-02-06")
    assert nightly.state == "success", states(nightly)
    run_after = datetime(2024, 2, 7, 2, tzinfo=UTC)
    dr = run_dag(SCORING, "2024-02-06", {"partition_date": "2024-02-06"}, run_after=run_after)
    assert dr.state == "success", states(dr)
    out = xcom(dr, "score")
    assert out["models"] == [{"model_name": MODEL, "version": 1, "role": "champion"}]
    (result,) = out["results"]
    assert result["status"] == "scored" and result["rows"] == 500
    store = _store(env)
    assert store.count("synthetic", datetime(2024, 2, 6).date(), model_name=MODEL, version=1, role="champion") == 500
    rows = store.predictions("synthetic", datetime(2024, 2, 6).date())
    assert set(rows["dag_id"]) == {SCORING} and set(rows["run_id"]) == {dr.run_id}
    assert _note(dr) == "Batch scoring\nds=2024-02-06: scored by v1 (champion, 500 rows)"
    assert (env.lake_dir / "predictions" / "synthetic" / "ds=2024-02-06" / "version=1" / "role=champion" / "part-0.parquet").is_file()

    again = run_dag(SCORING, "2024-02-06", {"partition_date": "2024-02-06"}, run_after=run_after)
    assert again.run_id == dr.run_id and again.state == "success", states(again)
    assert store.count("synthetic") == 500
