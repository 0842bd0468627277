"""The drift demos on the real stack (``dag.test()`` runs of the nightly DAG).

* ``flights``: a quiet replayed week (2013-04-09 .. 2013-04-15) raises no drift-driven
  retrain: day one trains (no champion), a stand-in for the promotion DAG makes it the
  champion, and the next six days are compared with its training window.
* ``synthetic``: with the dataset's own config, the drift injected from 2024-01-20 is
  caught on that day (and the quiet day before it raises nothing).
"""

from __future__ import annotations

import pytest

from e2e.helpers import run_dag, states, xcom

pytestmark = pytest.mark.e2e

FLIGHTS_DAG, FLIGHTS_MODEL = "mlops_nightly_training", "flights_late_arrival"
SYNTHETIC_DAG, SYNTHETIC_MODEL = "mlops_nightly_training_synthetic", "synthetic_model"
QUIET_WEEK = ["2013-04-10", "2013-04-11", "2013-04-12", "2013-04-13", "2013-04-14", "2013-04-15"]


@pytest.fixture(scope="module")
def client(stack):
    from mlops import tracking

    return tracking.client(stack)


def _drift_reasons(dag_run) -> list[str]:
    return [r for r in xcom(dag_run, "decide", "decision")["reasons"] if r.startswith("drift:")]


def test_quiet_replayed_week_of_flights_raises_no_drift_driven_retrain(client):
    first = run_dag(FLIGHTS_DAG, "2013-04-09")
    assert first.state == "success", states(first)
    assert xcom(first, "decide", "decision")["reasons"] == ["no champion: nothing serves yet"]
    client.set_registered_model_alias(FLIGHTS_MODEL, "champion", "1")
    seen = {}
    for day in QUIET_WEEK:
        dr = run_dag(FLIGHTS_DAG, day)
        assert dr.state == "success", (day, states(dr))
        drift = xcom(dr, "detect_drift")
        assert drift["reference"]["why"] == "training window of champion v1"
        assert {"missing_drifted_features", "missing_drift_share", "warnings"} <= set(drift)
        seen[day] = (xcom(dr, "decide", "decision")["watched_drifted"], drift["drifted_features"])
        assert _drift_reasons(dr) == [], (day, seen[day])
    # Delays differ from day to day (weather), so dep_delay may drift on its own; the traffic mix does not.
    assert all(set(watched) <= {"dep_delay"} for watched, _ in seen.values()), seen


def test_synthetic_injected_drift_is_caught_on_its_first_day(client):
    first = run_dag(SYNTHETIC_DAG, "2024-01-18")
    assert first.state == "success", states(first)
    client.set_registered_model_alias(SYNTHETIC_MODEL, "champion", "1")

    quiet = run_dag(SYNTHETIC_DAG, "2024-01-19")
    assert quiet.state == "success", states(quiet)
    assert xcom(quiet, "detect_drift")["drifted_features"] == [] and _drift_reasons(quiet) == []

    drifted = run_dag(SYNTHETIC_DAG, "2024-01-20")
    assert drifted.state == "success", states(drifted)
    drift = xcom(drifted, "detect_drift")
    assert set(drift["drifted_features"]) == {"x0", "x1", "x2", "c0"}
    assert drift["method_by_feature"] == {
        "x0": "wasserstein_ks",
        "x1": "wasserstein_ks",
        "x2": "wasserstein_ks",
        "x3": "wasserstein_ks",
        "x4": "wasserstein_ks",
        "c0": "shares_chi2",
        "c1": "shares_chi2",
    }
    assert _drift_reasons(drifted) == ["drift: 57% of features drifted (threshold 30%): x0, x1, x2, c0"]
    assert states(drifted)["retrain.register"] == "success"
