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
        "dataset drift on 2013-03-01: 62% of all features drifted (temp, dewp, humid); the watched features stay below the retraining threshold (0% < 40%)"
    )


def test_watched_drift_names_the_features():
    config = load_dataset("flights")
    decided = {"retrain": True, "reasons": ["drift"], "watched_drift_share": 0.6, "watched_drifted": ["dep_delay", "carrier", "origin"]}
    drift = {"drift_share": 0.3, "dataset_drift": False, "drifted_features": ["dep_delay", "carrier", "origin", "temp"]}
    events = {e.type: e for e in decision(_context(decided, drift), config)}
    assert events["drift_alarm"].summary == "60% of the watched features drifted on 2013-03-01 (threshold 40%): dep_delay, carrier, origin"
    assert "retrain_decided" in events


def _promotion_context(task_id: str, values: dict) -> dict:
    ti = _TaskInstance(values)
    ti.task_id, ti.dag_id, ti.run_id = task_id, "mlops_model_promotion_synthetic", "manual__2024-03-04"
    day = datetime(2024, 3, 4, tzinfo=UTC)
    return {"ti": ti, "run_id": ti.run_id, "logical_date": day, "data_interval_start": day, "data_interval_end": day}


def test_the_shadow_soak_is_named_in_the_approval_request_and_the_rejection():
    from mlops.alerts.build import approval_waiting, gate_rejected

    config = load_dataset("synthetic")
    gates = {"version": "2", "passed": True, "champion_version": "1", "gates": {"floors": {"passed": True, "detail": "ok"}}}
    better = {"decision": "promote", "detail": "challenger significantly better: mean loss difference (champion − challenger) +0.10000"}
    (waiting,) = approval_waiting(_promotion_context("approve", {("check_gates", "return_value"): gates, ("shadow_soak", "return_value"): better}), config)
    assert waiting.details == ["floors: pass: ok", f"shadow: promote: {better['detail']}"]
    rejected = {"decision": "rejected", "version": "2", "reasons": ["shadow: challenger significantly worse: mean loss difference -0.1"]}
    (event,) = gate_rejected(_promotion_context("finalize", {("check_gates", "return_value"): gates, ("finalize", "return_value"): rejected}), config)
    assert event.summary == "synthetic_model version 2 rejected by its shadow soak; the champion stays"
    assert (
        gate_rejected(
            _promotion_context("finalize", {("check_gates", "return_value"): gates, ("finalize", "return_value"): {"decision": "superseded", "version": "2"}}),
            config,
        )
        == []
    )
