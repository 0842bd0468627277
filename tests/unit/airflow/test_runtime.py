from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException  # imported before caplog attaches: Airflow sets up logging on import

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


def test_fail_fast_keeps_retries_only_for_errors_a_retry_can_fix(tmp_path, caplog):
    from mlops.airflow.runtime import fail_fast
    from mlops.errors import SourceError
    from mlops.sources.base import Interval
    from mlops.sources.files import FilesSource

    # A missing source path: a configuration/data error, failed at once with the path named.
    with pytest.raises(AirflowFailException, match=r"^SourceDataError: files source: .*/gone does not exist"), fail_fast():
        FilesSource(path=str(tmp_path / "gone"), timestamp_column="ts").read(Interval.parse("2024-01-01", "2024-01-02"))
    # The message is the task log's first line about the failure, above the traceback Airflow prints.
    assert caplog.records[-1].levelname == "ERROR" and caplog.records[-1].getMessage().startswith("SourceDataError: files source:")
    # A database that does not answer may come back: Airflow's retries stay.
    with pytest.raises(SourceError, match="connection refused"), fail_fast():
        raise SourceError("sql source: connection refused")


def test_a_backfills_steps_ahead_yield_the_cpu_and_nightly_runs_keep_it():
    """Checked in a fresh interpreter: niceness only ever goes up in a process."""
    import subprocess
    import sys

    code = (
        "import os; from types import SimpleNamespace as N; from mlops.airflow.runtime import yield_cpu_to_model_steps as y, AHEAD_NICENESS;"
        "ctx = lambda t: {'dag_run': N(run_type=N(value=t))}; start = os.nice(0);"
        "assert y(ctx('scheduled')) is None and y(ctx('manual')) is None and os.nice(0) == start;"
        "assert y(ctx('backfill')) == start + AHEAD_NICENESS == os.nice(0); print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
