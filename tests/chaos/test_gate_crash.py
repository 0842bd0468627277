"""Crashes in the promotion path, on real DAG runs (dag.test).

A primary metric the model does not have, or evaluation data missing from the lake, makes
the gates crash: the DAG run must end ``failed`` with the reason (so three in a row pause the
DAG), the error is recorded on the version, and the version stays the undecided challenger,
so the first run after the cause is fixed decides it.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime

import pytest
import yaml

from e2e.helpers import aliases as model_aliases
from e2e.helpers import delete_variable, run_dag, set_variable, states, xcom
from mlops.config import DEFAULT_DATASETS_DIR

NIGHTLY, PROMOTION = "mlops_nightly_training_synthetic", "mlops_model_promotion_synthetic"
MODEL = "synthetic_model"
VARIABLE = "mlops_dataset__synthetic"
#: The synthetic dataset as a regression task (its file's roc_auc floor taken out: a regression has no roc_auc).
REGRESSION = {
    "task": "regression",
    "source": {"options": {"rows_per_day": 300, "seed": 5, "drift": []}},
    "model": {"estimator": "sklearn.linear_model.Ridge", "params": {}},
    "training": {"window_days": 4, "holdout_days": 1, "min_train_rows": 500, "primary_metric": "rmse", "metric_floors": {}},
    "drift": {"reference_days": 2},
    "promotion": {"latency_budget_ms": 5000, "shadow": {"enabled": False}},
    "labels": {"delay_days": 0},
}
DAY = "2024-02-10"
#: What the first test leaves for the next ones (the module's tests run in order on one stack).
STATE: dict = {}


@pytest.fixture(scope="module")
def client(stack, tmp_path_factory):
    from mlops import tracking

    folder = tmp_path_factory.mktemp("datasets")
    raw = yaml.safe_load((DEFAULT_DATASETS_DIR / "synthetic.yaml").read_text())
    for key, value in REGRESSION.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) and key in raw else value
    raw["training"]["metric_floors"] = {}
    (folder / "synthetic.yaml").write_text(yaml.safe_dump(raw))
    os.environ["MLOPS_DATASETS_DIR"] = str(folder)
    try:
        yield tracking.client(stack)
    finally:
        os.environ.pop("MLOPS_DATASETS_DIR", None)


def aliases(client) -> dict[str, str]:
    return model_aliases(client, MODEL)


def error_of(client, version: str) -> dict:
    return json.loads(client.get_model_version(MODEL, version).tags["mlops.promotion_error"])


def test_a_wrong_primary_metric_fails_the_run_with_the_reason(client):
    dr = run_dag(NIGHTLY, DAY, {"force_retrain": True}, run_after=datetime(2024, 2, 11, 3, tzinfo=UTC))
    assert dr.state == "success", states(dr)
    STATE["version"], STATE["partition_uri"] = xcom(dr, "retrain.register")["version"], xcom(dr, "ingest")["partition_uri"]
    set_variable(VARIABLE, {"training": {"primary_metric": "roc_auc"}})
    try:
        dr = run_dag(PROMOTION, "2024-02-11")
    finally:
        delete_variable(VARIABLE)
    s = states(dr)
    assert dr.state == "failed", s
    assert s["check_gates"] == "failed" and s["finalize"] == "failed" and s["promote"] == "upstream_failed", s
    error = error_of(client, STATE["version"])
    assert error["task"] == "check_gates" and "primary_metric" in error["error"] and "roc_auc" in error["error"], error
    mv = client.get_model_version(MODEL, STATE["version"])
    assert "mlops.decision" not in mv.tags and aliases(client) == {"challenger": STATE["version"]}


def test_missing_evaluation_data_fails_the_run_then_the_fixed_run_decides(client, tmp_path):
    from mlops.lake import uri_to_path

    partition = uri_to_path(STATE["partition_uri"])  # the holdout day of the version
    files = [p for p in partition.parent.iterdir() if p.name.startswith(partition.stem)]
    for p in files:
        shutil.move(p, tmp_path / p.name)
    try:
        dr = run_dag(PROMOTION, "2024-02-12")
    finally:
        for p in files:
            shutil.move(tmp_path / p.name, p)
    assert dr.state == "failed" and states(dr)["check_gates"] == "failed", states(dr)
    error = error_of(client, STATE["version"])
    assert error["error"].startswith("InsufficientData: dataset 'synthetic': window ds=2024-02-10 holds 0 validated rows"), error
    assert "'ds=2024-02-10': 'no partition'" in error["error"], error
    assert "mlops.decision" not in client.get_model_version(MODEL, STATE["version"]).tags

    dr = run_dag(PROMOTION, "2024-02-13")  # the data is back: the same challenger is decided
    assert dr.state == "success", states(dr)
    # No champion yet and every gate passes: the challenger becomes the champion.
    mv = client.get_model_version(MODEL, STATE["version"])
    assert mv.tags["mlops.decision"] == "promoted", mv.tags
    assert aliases(client) == {"champion": STATE["version"]}
