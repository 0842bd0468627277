"""Clearing a finished nightly run of an old day, on real DAG runs (dag.test).

The re-run finds its old version and must not take ``challenger`` back from the newer one;
the promotion DAG then decides the newest, and re-running the old day again moves nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from e2e.helpers import aliases as model_aliases
from e2e.helpers import run_dag, states, variable, xcom

NIGHTLY, PROMOTION = "mlops_nightly_training_synthetic", "mlops_model_promotion_synthetic"
MODEL = "synthetic_model"
VARIABLE = "mlops_dataset__synthetic"
BASE = {
    "source": {"options": {"rows_per_day": 300, "seed": 5, "drift": []}},
    "training": {"window_days": 4, "holdout_days": 1, "min_train_rows": 500},
    "drift": {"reference_days": 2},
    "promotion": {"latency_budget_ms": 5000, "shadow": {"enabled": False}},
    "labels": {"delay_days": 0},  # labels with the partition: the version's data ends on the run's day
}


@pytest.fixture
def client(stack):
    from mlops import tracking

    with variable(VARIABLE, BASE):
        yield tracking.client(stack)


def aliases(client) -> dict[str, str]:
    return model_aliases(client, MODEL)


def nightly(day: str):
    dr = run_dag(NIGHTLY, day, {"force_retrain": True}, run_after=datetime.fromisoformat(day).replace(hour=3, tzinfo=UTC))
    assert dr.state == "success", states(dr)
    return dr


def undecided(client) -> list[str]:
    return sorted(str(v.version) for v in client.search_model_versions(f"name = '{MODEL}'") if "mlops.decision" not in v.tags)


def test_the_old_version_does_not_take_the_challenger_back(client):
    assert xcom(nightly("2024-01-10"), "retrain.register")["version"] == "1"
    assert xcom(nightly("2024-01-12"), "retrain.register")["version"] == "2"
    assert aliases(client) == {"challenger": "2"} and undecided(client) == ["2"]
    registered = xcom(nightly("2024-01-10"), "retrain.register")  # the same DAG run, cleared and run again
    assert registered["version"] == "1" and registered["created"] is False and registered["alias"] is None
    assert "version 2 (data to 2024-01-13) is newer than version 1 (data to 2024-01-11)" in registered["alias_note"]
    assert aliases(client) == {"challenger": "2"} and undecided(client) == ["2"]


def test_the_promotion_decides_the_newest_and_a_rerun_leaves_the_champion(client):
    dr = run_dag(PROMOTION, "2024-01-13")
    assert dr.state == "success", states(dr)
    assert xcom(dr, "check_gates")["version"] == "2" and aliases(client) == {"champion": "2"}
    nightly("2024-01-10")
    assert aliases(client) == {"champion": "2"} and undecided(client) == []
