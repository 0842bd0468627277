"""The shadow soak gate end to end (``dag.test``): synthetic with late labels, real MLflow, real prediction store.

Each night runs the nightly DAG and then the scoring DAG for its partition (the asset schedule
needs the real scheduler; here the scoring runs are triggered with the partition's date), so
a waiting challenger is scored in shadow beside the champion and its labels arrive a day
later. The promotion DAG runs when its soak can decide from the days labelled so far (under
``dag.test`` a deferred task would wait in-process; tests/live/test_shadow_soak.py waits in
the real triggerer):

1. a constant predictor is the first champion (no champion to compare with: the soak lets
   the offline gates decide);
2. a logistic regression, truly better, is promoted after two labelled shadow days;
3. a logistic regression trained while the relation of x0 to the label was flipped (03-05 ..
   03-07) beats the champion on its own holdout (the last flipped day) but is worse on the
   days after: rejected early (two days of at most four);
4. a retrain of the same pipeline on ordinary days, as good as the champion, is inconclusive
   at ``max_days`` (2 for this one) and rejected (``on_inconclusive: reject``).

The champion never moves before the soak decides.
"""

from __future__ import annotations

import json

import pytest

from e2e.helpers import Story, aliases, run_dag, set_variable, states, variable, xcom

pytestmark = pytest.mark.e2e

NIGHTLY, SCORING, PROMOTION = "mlops_nightly_training_synthetic", "mlops_batch_scoring_synthetic", "mlops_model_promotion_synthetic"
MODEL, VARIABLE = "synthetic_model", "mlops_dataset__synthetic"
SOAK = {"enabled": True, "min_days": 2, "max_days": 4, "min_rows": 500, "alpha": 0.05, "on_inconclusive": "reject", "poke_seconds": 1}
#: The label weight of x0 flips sign on 03-05 .. 03-07, then returns: a model trained on those days
#: looks better than the champion on its own holdout (03-07) and is worse on the days after.
FLIP = {"features": ["x0"], "start": "2024-03-05", "end": "2024-03-08", "concept": True}
BASE = {
    "source": {"options": {"rows_per_day": 500, "seed": 41, "drift": [FLIP]}},
    "training": {"window_days": 4, "holdout_days": 1, "min_train_rows": 300, "metric_floors": {"roc_auc": 0.0}},
    "drift": {"reference_days": 2},
    "labels": {"delay_days": 1},
    # Offline gates that let a challenger through when it is at least as good on its holdout; only
    # forced retrains in this scenario (the flip would otherwise trigger the decay rule).
    "promotion": {"latency_budget_ms": 5000, "min_improvement": -1.0, "shadow": SOAK},
    "retrain": {"performance_tolerance_relative": 0.9, "drift_share": 1.0},
}
CONSTANT = {**BASE, "model": {"estimator": "sklearn.dummy.DummyClassifier", "params": {"strategy": "prior"}}}


def night(day: str, *, retrain: bool = False, override: dict | None = None) -> str | None:
    """The nightly run of ``day`` (retraining when asked, with a config override), then the scoring of its partition."""
    if override is not None:
        set_variable(VARIABLE, override)
    try:
        nightly = run_dag(NIGHTLY, day, {"force_retrain": retrain})
    finally:
        set_variable(VARIABLE, BASE)
    assert nightly.state == "success", (day, states(nightly))
    assert (states(nightly)["retrain.register"] == "success") == retrain, (day, states(nightly))
    scoring = run_dag(SCORING, day, {"partition_date": day})
    assert scoring.state == "success", (day, states(scoring))  # a day with no champion yet: its one task skipped
    return xcom(nightly, "retrain.register")["version"] if retrain else None


def nights(first: str, last: str, client) -> list[str | None]:
    """Nights ``first`` .. ``last`` without retraining; the champion after each."""
    from datetime import date, timedelta

    out, day = [], date.fromisoformat(first)
    while day <= date.fromisoformat(last):
        night(day.isoformat())
        out.append(aliases(client, MODEL).get("champion"))
        day += timedelta(days=1)
    return out


def promote(day: str):
    dr = run_dag(PROMOTION, day)
    assert dr.state == "success", states(dr)
    return dr


@pytest.fixture(scope="module")
def client(stack):
    from mlops import tracking

    with variable(VARIABLE, BASE):
        yield tracking.client(stack)


@pytest.fixture(scope="module")
def story(client) -> Story:
    def better():
        version = night("2024-03-02", retrain=True)
        before = nights("2024-03-03", "2024-03-04", client)  # the labels of 03-02 and 03-03 arrive with these nights
        return version, before, promote("2024-03-04")

    def worse():
        nights("2024-03-05", "2024-03-07", client)  # the flip: the champion is wrong on these days, no challenger waits
        version = night("2024-03-08", retrain=True)  # trained mostly on the flip, evaluated on its last day
        before = nights("2024-03-09", "2024-03-10", client)
        return version, before, promote("2024-03-10")

    def equal():
        short = {**BASE, "promotion": {**BASE["promotion"], "shadow": {**SOAK, "max_days": 2}}}
        nights("2024-03-11", "2024-03-11", client)
        version = night("2024-03-12", retrain=True)  # the same pipeline on days like the champion's
        set_variable(VARIABLE, short)
        try:
            for d in ("2024-03-13", "2024-03-14"):
                night(d, override=short)
            set_variable(VARIABLE, short)
            return version, promote("2024-03-14")
        finally:
            set_variable(VARIABLE, BASE)

    return (
        Story()
        .add("first", lambda: (night("2024-03-01", retrain=True, override=CONSTANT), promote("2024-03-01")))
        .add("better", better)
        .add("worse", worse)
        .add("equal", equal)
    )


def _gate(client, version: str) -> dict:
    return json.loads(client.get_model_version(MODEL, version).tags["mlops.gate.shadow"])


def test_the_first_champion_needs_no_soak(story, client):
    version, dr = story.upto("first")
    assert version == "1" and states(dr)["shadow_soak"] == "success" and states(dr)["promote"] == "success"
    assert xcom(dr, "shadow_soak")["detail"] == "no champion to compare with in shadow: the offline gates decide"
    assert aliases(client, MODEL) == {"champion": "1"}


def test_a_truly_better_challenger_is_promoted_after_its_shadow_days(story, client):
    from mlops.predictions.store import PredictionStore, embedded_url
    from mlops.promotion.history import history
    from mlops.settings import Settings

    version, before, dr = story.upto("better")
    assert version == "2"
    assert before == ["1", "1"], "the champion moved before the soak decided"
    s = states(dr)
    assert s["shadow_soak"] == "success" and s["after_soak"] == "success" and s["promote"] == "success" and s["approve"] == "skipped"
    soak = xcom(dr, "shadow_soak")
    assert soak["decision"] == "promote" and soak["days"] == 2 and soak["lower"] > 0, soak
    assert [row[0] for row in soak["looks"]] == ["2024-03-02", "2024-03-03"]  # the shadow days, each labelled a day later
    assert soak["rows"] == 1000 and soak["champion_version"] == "1"
    assert aliases(client, MODEL) == {"champion": "2", "previous": "1"}
    entry = history(client, MODEL)[-1]
    assert entry["version"] == "2" and entry["gates"]["shadow"] is True and entry["shadow"]["decision"] == "promote"
    assert "shadow soak: challenger significantly better" in entry["reason"]
    assert _gate(client, "2")["decision"] == "promote"
    looks = PredictionStore(embedded_url(Settings.from_env().home)).shadow_looks("synthetic", MODEL, 2)
    assert [str(d) for d in looks["partition_date"]] == ["2024-03-02", "2024-03-03"] and set(looks["champion_version"]) == {1}


def test_a_worse_challenger_is_rejected_early_and_the_champion_stays(story, client):
    version, before, dr = story.upto("worse")
    assert version == "3" and before == ["2", "2"]
    s = states(dr)
    beats = xcom(dr, "check_gates")["gates"]["beats_champion"]
    assert beats["passed"] and beats["challenger"] > beats["champion"], "better than the champion on its own holdout (the flip)"
    assert s["shadow_soak"] == "success" and s["promote"] == "skipped" and s["finalize"] == "success"
    soak = xcom(dr, "shadow_soak")
    assert soak["decision"] == "reject" and soak["days"] == 2 < SOAK["max_days"] and soak["upper"] < 0, soak
    tags = client.get_model_version(MODEL, "3").tags
    assert tags["mlops.decision"] == "rejected" and tags["mlops.gates_passed"] == "false"
    (reason,) = json.loads(tags["mlops.rejection_reasons"])
    assert reason.startswith("shadow: challenger significantly worse: mean loss difference (champion − challenger) -")
    assert aliases(client, MODEL) == {"champion": "2", "previous": "1"}


def test_an_equal_challenger_is_rejected_at_max_days_per_the_config(story, client):
    version, dr = story.upto("equal")
    assert version == "4"
    soak = xcom(dr, "shadow_soak")
    assert soak["decision"] == "reject" and soak["days"] == 2 and soak["lower"] < 0 < soak["upper"], soak
    assert soak["detail"].startswith("inconclusive after 2 days (on_inconclusive=reject)")
    assert states(dr)["promote"] == "skipped"
    assert client.get_model_version(MODEL, "4").tags["mlops.decision"] == "rejected"
    assert aliases(client, MODEL) == {"champion": "2", "previous": "1"}
