from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from mlops.airflow.runtime import backfill_model_name, interval_of, is_backfill, run_config
from mlops.errors import ConfigError


def _ctx(run_type: str, **params):
    return {"dag_run": SimpleNamespace(run_type=SimpleNamespace(value=run_type)), "params": params}


def test_backfill_runs_use_their_own_registered_model(monkeypatch):
    monkeypatch.setattr("mlops.airflow.runtime.dataset_config", lambda name: __import__("mlops.config").config.load_dataset(name))
    assert run_config("flights", _ctx("scheduled")).model_name == "flights_late_arrival"
    assert run_config("flights", _ctx("manual")).model_name == "flights_late_arrival"
    assert run_config("flights", _ctx("backfill")).model_name == "flights_late_arrival__backfill"
    assert run_config("flights", _ctx("backfill", backfill_label="q1")).model_name == "flights_late_arrival__backfill__q1"
    assert is_backfill(_ctx("backfill")) and not is_backfill({})
    assert backfill_model_name("m", "  ") == "m__backfill"


def test_interval_of_a_run_without_interval_is_its_day():
    d = datetime(2024, 1, 10, 7, tzinfo=UTC)
    iv = interval_of({"data_interval_start": d, "data_interval_end": d, "run_id": "r"})
    assert iv.key == "ds=2024-01-10"
    with pytest.raises(ConfigError, match="neither a data interval nor a logical date"):
        interval_of({"run_id": "r"})
