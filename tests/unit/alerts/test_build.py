"""Events built from a run's results: the summary says what actually happened."""

from __future__ import annotations

from datetime import UTC, datetime

from mlops.alerts.build import decision
from mlops.config import load_dataset


class _TaskInstance:
    """The two XComs the decide step's callback reads, as a finished run holds them."""

    task_id = "decide"
    dag_id = "mlops_nightly_training"
    run_id = "scheduled__2013-03-01"

    def __init__(self, values: dict):
        self.values = values

    def xcom_pull(self, task_ids: str, key: str = "return_value"):
        return self.values.get((task_ids, key))


def _context(decided: dict, drift: dict) -> dict:
    day = datetime(2013, 3, 1, tzinfo=UTC)
    ti = _TaskInstance({("decide", "decision"): decided, ("detect_drift", "return_value"): drift})
    return {"ti": ti, "run_id": ti.run_id, "logical_date": day, "data_interval_start": day, "data_interval_end": day.replace(day=2)}


def test_dataset_drift_without_watched_drift_says_so():
    config = load_dataset("flights")
    decided = {"retrain": False, "reasons": [], "watched_drift_share": 0.0, "watched_drifted": []}
    drift = {"drift_share": 0.62, "dataset_drift": True, "drifted_features": ["temp", "dewp", "humid"], "reference": {"why": "trailing 14 days"}}
    (event,) = [e for e in decision(_context(decided, drift), config) if e.type == "drift_alarm"]
    assert event.summary == (
        "dataset drift on 2013-03-01: 62% of all features drifted (temp, dewp, humid); "
        "the watched features stay below the retraining threshold (0% < 40%)"
    )


def test_watched_drift_names_the_features():
    config = load_dataset("flights")
    decided = {"retrain": True, "reasons": ["drift"], "watched_drift_share": 0.6, "watched_drifted": ["dep_delay", "carrier", "origin"]}
    drift = {"drift_share": 0.3, "dataset_drift": False, "drifted_features": ["dep_delay", "carrier", "origin", "temp"]}
    events = {e.type: e for e in decision(_context(decided, drift), config)}
    assert events["drift_alarm"].summary == "60% of the watched features drifted on 2013-03-01 (threshold 40%): dep_delay, carrier, origin"
    assert "retrain_decided" in events
