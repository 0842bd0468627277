"""Promotion and rollback DAGs on the real stack (dag.test), fed by the nightly DAG.

Synthetic data with concept drift from 2024-01-14: the champion trained before it loses
to a challenger trained after it on the same evaluation data.
"""

from __future__ import annotations

import json

import pytest

from e2e.helpers import Story, run_dag, set_variable, states, variable, xcom
from e2e.helpers import aliases as model_aliases

pytestmark = pytest.mark.e2e

NIGHTLY, PROMOTION, ROLLBACK = "mlops_nightly_training_synthetic", "mlops_model_promotion_synthetic", "mlops_model_rollback_synthetic"
MODEL = "synthetic_model"
VARIABLE = "mlops_dataset__synthetic"
BASE = {
    "source": {"options": {"rows_per_day": 500, "seed": 21, "drift": [{"features": ["x0"], "start": "2024-01-14", "concept": True}]}},
    "training": {"window_days": 5, "holdout_days": 2, "min_train_rows": 800},
    "drift": {"reference_days": 3},
    "promotion": {"latency_budget_ms": 2000, "shadow": {"enabled": False}},
    "labels": {"delay_days": 0},
}
# A constant predictor: registered (its run had no floors), then stopped by the gates.
WORSE = {
    **BASE,
    "model": {"estimator": "sklearn.dummy.DummyClassifier", "params": {"strategy": "prior"}},
    "training": {**BASE["training"], "metric_floors": {}},
}


@pytest.fixture(scope="module")
def client(stack):
    from mlops import tracking

    with variable(VARIABLE, BASE):
        yield tracking.client(stack)


def aliases(client) -> dict[str, str]:
    return model_aliases(client, MODEL)


def history(client) -> list[dict]:
    from mlops.promotion.history import history as h

    return h(client, MODEL)


def nightly(day: str, conf: dict | None = None) -> str:
    dr = run_dag(NIGHTLY, day, conf or {"force_retrain": True})
    assert dr.state == "success", states(dr)
    return xcom(dr, "retrain.register")["version"]


def _worse_challenger() -> str:
    set_variable(VARIABLE, WORSE)
    try:
        return nightly("2024-01-21")
    finally:
        set_variable(VARIABLE, BASE)


@pytest.fixture(scope="module")
def story(client) -> Story:
    """Challengers and champion moves in order, each run once, whichever test asks first."""
    return (
        Story()
        .add("first", lambda: (nightly("2024-01-10"), run_dag(PROMOTION, "2024-01-11")))
        .add("better", lambda: (nightly("2024-01-20"), run_dag(PROMOTION, "2024-01-21")))  # its whole window is after the change
        .add("worse", lambda: (_worse_challenger(), run_dag(PROMOTION, "2024-01-22")))
        .add("rollback", lambda: run_dag(ROLLBACK, "2024-01-22", {"target_version": "previous", "reason": "incident 42: bad scores in prod"}))
        .add("rollback to a rejected version", lambda: run_dag(ROLLBACK, "2024-01-22", {"target_version": "3", "reason": "try the rejected one"}))
        .add("forward", lambda: run_dag(ROLLBACK, "2024-01-22", {"target_version": "previous", "reason": "incident 42 resolved"}))
        .add("two challengers", lambda: (nightly("2024-01-22"), nightly("2024-01-23"), run_dag(PROMOTION, "2024-01-24")))
    )


def test_first_challenger_is_promoted_without_champion(story, client):
    version, dr = story.upto("first")
    assert version == "1"
    assert dr.state == "success", states(dr)
    s = states(dr)
    assert s["approve"] == "skipped" and s["promote"] == "success"
    gates = xcom(dr, "check_gates")
    assert gates["passed"] and gates["champion_version"] is None
    assert gates["gates"]["serving"]["enforces_signature"] is True
    assert aliases(client) == {"champion": "1"}
    v1 = client.get_model_version(MODEL, "1")
    assert v1.tags["mlops.decision"] == "promoted" and v1.tags["mlops.gates_passed"] == "true"
    assert json.loads(v1.tags["mlops.gate.beats_champion"])["detail"] == "no champion: the floors decide"
    (entry,) = history(client)
    assert entry["kind"] == "promotion" and entry["version"] == "1" and entry["from_version"] is None
    assert entry["gates"] == {"lineage": True, "floors": True, "beats_champion": True, "serving": True}


def test_better_challenger_replaces_champion(story, client):
    version, dr = story.upto("better")
    assert version == "2"
    assert dr.state == "success", states(dr)
    beats = xcom(dr, "check_gates")["gates"]["beats_champion"]
    assert beats["passed"] and beats["challenger"] > beats["champion"] + 0.1, beats
    assert aliases(client) == {"champion": "2", "previous": "1"}
    assert [e["version"] for e in history(client)] == ["1", "2"] and history(client)[-1]["from_version"] == "1"


def test_worse_challenger_is_rejected_and_champion_stays(story, client):
    version, dr = story.upto("worse")
    assert version == "3"
    assert dr.state == "success", states(dr)
    s = states(dr)
    assert s["promote"] == "skipped" and s["approve"] == "skipped" and s["finalize"] == "success"
    v3 = client.get_model_version(MODEL, "3")
    assert v3.tags["mlops.decision"] == "rejected" and v3.tags["mlops.gates_passed"] == "false"
    reasons = json.loads(v3.tags["mlops.rejection_reasons"])
    assert reasons[0] == "floors: roc_auc=0.5000 is below the floor 0.6"
    assert reasons[1].startswith("beats_champion: roc_auc (higher is better): challenger 0.5000 vs champion 0.")
    assert aliases(client) == {"champion": "2", "previous": "1"}
    assert len(history(client)) == 2


def test_rollback_to_previous_and_forward_again(story, client):
    dr = story.upto("rollback")
    assert dr.state == "success", states(dr)
    assert aliases(client) == {"champion": "1", "previous": "2"}
    entry = history(client)[-1]
    assert entry["kind"] == "rollback" and entry["version"] == "1" and entry["from_version"] == "2"
    assert entry["reason"] == "incident 42: bad scores in prod"
    # A rejected version can never be rolled to.
    bad = story.upto("rollback to a rejected version")
    assert bad.state == "failed" and aliases(client)["champion"] == "1"
    forward = story.upto("forward")
    assert forward.state == "success" and aliases(client) == {"champion": "2", "previous": "1"}


def test_two_challengers_in_quick_succession(story, client):
    fourth, fifth, dr = story.upto("two challengers")
    assert (fourth, fifth) == ("4", "5")
    assert dr.state == "success", states(dr)
    assert xcom(dr, "check_gates")["version"] == "5"
    v4 = client.get_model_version(MODEL, "4")
    assert v4.tags["mlops.decision"] == "superseded" and v4.tags["mlops.superseded_by"] == "5"
    champion = aliases(client)["champion"]
    entries = history(client)
    assert entries[-1]["version"] == champion and [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    if champion == "5":
        assert aliases(client)["previous"] == "2"
    else:  # the gates rejected 5: the champion did not move
        assert champion == "2" and client.get_model_version(MODEL, "5").tags["mlops.decision"] == "rejected"
    # Nothing is left waiting.
    from mlops.promotion.history import pending_challenger

    assert pending_challenger(client, MODEL) is None


def test_cli_answers_which_version_served_when(story, client, capsys):
    from mlops.cli import main

    story.upto("two challengers")
    entries = history(client)
    assert main(["champion", "synthetic"]) == 0
    now = capsys.readouterr().out
    assert f"was version {entries[-1]['version']}" in now
    first_promotion_time = entries[0]["time"]
    assert main(["champion", "synthetic", "--at", first_promotion_time[:26]]) == 0
    assert "was version 1" in capsys.readouterr().out
    assert main(["champion", "synthetic", "--at", "2000-01-01"]) == 1
    assert "no champion at 2000-01-01" in capsys.readouterr().out
    assert main(["history", "synthetic"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(entries) and "rollback: v2 -> v1" in lines[2] and "incident 42" in lines[2]
    assert main(["versions", "synthetic"]) == 0
    assert "decision=rejected" in capsys.readouterr().out
