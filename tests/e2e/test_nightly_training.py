"""The nightly training DAG over consecutive days, on the real stack.

Synthetic source (``mlops_nightly_training_synthetic``) with drift injected from day 3 and a
data-quality incident on day 5; days are 2024-01-10 … 2024-01-14.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from e2e.helpers import Story, delete_variable, run_dag, set_variable, states, xcom
from mlops.lake import uri_to_path

pytestmark = pytest.mark.e2e

DAG_ID = "mlops_nightly_training_synthetic"
VARIABLE = "mlops_dataset__synthetic"
OVERRIDE = {
    "source": {
        "options": {
            "rows_per_day": 600,
            "seed": 11,
            "drift": [
                {"features": ["x0", "x1", "x2"], "start": "2024-01-12", "shift": 1.5},
                {"features": ["c0"], "start": "2024-01-12", "category_mass": 0.6},
            ],
            "incidents": [
                {"kind": "nulls", "feature": "x3", "start": "2024-01-14", "end": "2024-01-15", "fraction": 0.3},
                {"kind": "missing_column", "feature": "c1", "start": "2024-01-14", "end": "2024-01-15"},
            ],
        }
    },
    "training": {"window_days": 6, "holdout_days": 2, "min_train_rows": 1000},
    "drift": {"reference_days": 4},
    "labels": {"delay_days": 0},  # labels with the partition (tests/e2e/test_late_labels.py covers late ones)
}


@pytest.fixture(scope="module")
def env(stack):
    set_variable(VARIABLE, OVERRIDE)
    yield stack
    delete_variable(VARIABLE)


@pytest.fixture(scope="module")
def client(env):
    from mlops import tracking

    return tracking.client(env)


DAY3_RUN_AFTER = datetime(2024, 1, 13, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def days(env, client) -> Story:
    """The five days, run in order once, whichever test asks first."""

    def day2():
        # Stand-in for the promotion DAG: make version 1 the champion.
        client.set_registered_model_alias("synthetic_model", "champion", "1")
        return run_dag(DAG_ID, "2024-01-11")

    return (
        Story()
        .add("day1", lambda: run_dag(DAG_ID, "2024-01-10"))
        .add("day2", day2)
        .add("day3", lambda: run_dag(DAG_ID, "2024-01-12", run_after=DAY3_RUN_AFTER))
        # Re-running the same DAG run (same run id) re-executes every task, register included.
        .add("day3 again", lambda: run_dag(DAG_ID, "2024-01-12", run_after=DAY3_RUN_AFTER))
        .add("day5", lambda: run_dag(DAG_ID, "2024-01-14", {"force_retrain": True}))
    )


def _versions(client):
    # search results carry no aliases: read each version whole.
    found = sorted(int(v.version) for v in client.search_model_versions("name = 'synthetic_model'"))
    return [client.get_model_version("synthetic_model", str(v)) for v in found]


def test_day1_no_champion_registers_a_challenger(days, client):
    dr = days.upto("day1")
    assert dr.state == "success", states(dr)
    s = states(dr)
    assert s["retrain.register"] == "success" and s["no_retrain"] == "skipped"
    assert s["wait_for_previous_run"] == "success"
    assert s["retrain.replay_promotion"] == "skipped"  # only backfills replay promotions

    partition = xcom(dr, "ingest")
    path = uri_to_path(partition["partition_uri"])
    assert path.is_file() and path.name == "ds=2024-01-10.parquet" and partition["rows"] == 600
    assert len(partition["content_hash"]) == 64

    validation = xcom(dr, "validate")
    assert validation["success"] and uri_to_path(validation["docs_uri"]).is_file()

    drift = xcom(dr, "detect_drift")
    assert drift["drift_share"] == 0.0 and drift["reference"]["why"].startswith("trailing 4 days")
    logged = {a.path for a in client.list_artifacts(drift["monitoring_run_id"], "drift")}
    assert logged == {"drift/drift.json", "drift/drift.html", "drift/drift.png"}

    assert xcom(dr, "decide", "decision") == {
        "retrain": True,
        "reasons": ["no champion: nothing serves yet"],
        "watched_drift_share": 0.0,
        "watched_drifted": [],
    }
    registered = xcom(dr, "retrain.register")
    assert registered["version"] == "1" and registered["alias"] == "challenger" and registered["created"]

    (v1,) = _versions(client)
    assert v1.aliases == ["challenger"]
    tags = v1.tags
    assert tags["mlops.dag_id"] == DAG_ID and tags["mlops.run_id"] == dr.run_id
    assert tags["mlops.run_key"] == f"{DAG_ID}/{dr.run_id}"
    assert tags["mlops.data_interval_end"] == "2024-01-11T00:00:00+00:00"
    assert json.loads(tags["mlops.training_window"]) == ["2024-01-05T00:00:00+00:00", "2024-01-09T00:00:00+00:00"]
    assert json.loads(tags["mlops.validation"])["success"] is True
    assert tags["mlops.drift_report_uri"].endswith("ds=2024-01-10/drift.html")
    assert "roc_auc" in json.loads(tags["mlops.metrics"])
    assert json.loads(tags["mlops.retrain_reasons"]) == ["no champion: nothing serves yet"]
    assert len(json.loads(tags["mlops.data_hashes"])) == 6
    run = client.get_run(v1.run_id)
    assert run.data.tags["mlops.code_version"].startswith(("git:", "src:"))
    assert {i.dataset.name for i in run.inputs.dataset_inputs} == {"synthetic-train", "synthetic-holdout"}


def test_day2_quiet_day_does_not_retrain(days, client):
    dr = days.upto("day2")
    assert dr.state == "success", states(dr)
    s = states(dr)
    assert s["no_retrain"] == "success" and s["retrain.train"] == "skipped" and s["retrain.register"] == "skipped"
    assert xcom(dr, "decide", "decision") == {"retrain": False, "reasons": [], "watched_drift_share": 0.0, "watched_drifted": []}
    drift = xcom(dr, "detect_drift")
    assert drift["reference"]["why"] == "training window of champion v1"
    assert len(_versions(client)) == 1


def test_day3_drift_retrains_once_even_when_rerun(days, client):
    dr = days.upto("day3")
    assert dr.state == "success", states(dr)
    drift = xcom(dr, "detect_drift")
    assert set(drift["drifted_features"]) == {"x0", "x1", "x2", "c0"}
    reasons = xcom(dr, "decide", "decision")["reasons"]
    assert len(reasons) == 1 and reasons[0].startswith("drift: 57% of features drifted")
    assert xcom(dr, "retrain.register")["version"] == "2"
    evaluation = xcom(dr, "retrain.evaluate")
    assert evaluation["champion_version"] == "1" and evaluation["champion_metrics"] is not None

    again = days.upto("day3 again")
    assert again.run_id == dr.run_id and again.state == "success", states(again)
    assert xcom(again, "retrain.train")["reused"] is True
    assert xcom(again, "retrain.register") == {**xcom(dr, "retrain.register"), "created": False}
    assert [str(v.version) for v in _versions(client)] == ["1", "2"]
    assert str(client.get_model_version_by_alias("synthetic_model", "champion").version) == "1"


def test_day5_bad_partition_is_quarantined_and_nothing_trains(days, env, client):
    dr = days.upto("day5")
    assert dr.state == "failed"
    s = states(dr)
    assert s["ingest"] == "success" and s["validate"] == "failed"
    assert s["retrain.train"] == "upstream_failed" and s["retrain.register"] == "upstream_failed"
    quarantined = list((env.quarantine_dir / "synthetic" / "ds=2024-01-14").glob("*.validation.json"))
    assert len(quarantined) == 1
    failed = json.loads(quarantined[0].read_text())["failed_expectations"]
    assert {(f["expectation"], f["column"]) for f in failed} >= {
        ("expect_table_columns_to_match_set", None),
        ("expect_column_values_to_not_be_null", "x3"),
    }
    assert not (env.lake_dir / "synthetic" / "ds=2024-01-14.parquet").exists()
    assert len(_versions(client)) == 2
    assert str(client.get_model_version_by_alias("synthetic_model", "champion").version) == "1"
