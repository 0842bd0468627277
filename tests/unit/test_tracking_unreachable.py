"""A tracking server that does not answer: a real MLflow client against a closed port and a
port that accepts connections but never replies."""

from __future__ import annotations

import os
import socket

import pytest

from mlops import tracking
from mlops.errors import ConfigError, TrackingUnavailable


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_port():
    """A port whose connections are accepted by the kernel (backlog) and never answered."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


def _client(port: int):
    from mlflow import MlflowClient

    uri = f"http://127.0.0.1:{port}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@pytest.fixture
def no_retries(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")


def test_a_refused_connection_says_which_server_what_call_and_what_to_do(closed_port, no_retries):
    with pytest.raises(TrackingUnavailable) as e, tracking.reachable(doing="registering version 3 of model 'm'"):
        _client(closed_port).get_registered_model("m")
    assert str(e.value) == (
        f"MLflow tracking server at http://127.0.0.1:{closed_port} is not reachable (connection refused: nothing listens there) "
        "while registering version 3 of model 'm'. Check that it runs and answers: `make status` (its /health line) and the "
        "mlflow component's log ($AIRFLOW_HOME/logs/mlflow.log with `make run`); start it with `make run`, then clear the task "
        "(Airflow retries it on its own meanwhile)."
    )


def test_the_call_is_named_when_the_step_is_not(closed_port, no_retries):
    import mlflow

    mlflow.set_tracking_uri(f"http://127.0.0.1:{closed_port}")
    try:
        with pytest.raises(Exception) as raw:
            mlflow.search_runs(experiment_ids=["1"])
    finally:
        mlflow.set_tracking_uri(None)
    error = tracking.unreachable_error(raw.value)
    assert error is not None and "while calling its API 'runs/search'" in str(error)
    assert tracking.unreachable_error(ValueError("Connection refused")) is None  # not a client error
    assert tracking.unreachable_error(ConfigError("bad config")) is None


def test_tasks_keep_their_retries_when_mlflow_is_down(closed_port, no_retries):
    """``fail_fast`` turns product errors into no-retry failures, but not a server that may come back."""
    from airflow.sdk.exceptions import AirflowFailException

    from mlops.airflow.runtime import fail_fast

    with pytest.raises(TrackingUnavailable, match=rf"^MLflow tracking server at http://127.0.0.1:{closed_port} is not reachable"), fail_fast():
        _client(closed_port).get_registered_model("m")
    with pytest.raises(AirflowFailException, match="ConfigError: bad config"), fail_fast():
        raise ConfigError("bad config")


def test_interactive_limits_bound_a_silent_server(silent_port, monkeypatch):
    for key in tracking.INTERACTIVE_HTTP:
        monkeypatch.setenv(key, "7")  # so that the test's end restores what was there before
    monkeypatch.setenv("MLOPS_UI_MLFLOW_TIMEOUT", "1")
    tracking.use_interactive_limits()
    # One request and one immediate retry of 1 s each, instead of MLflow's 7 retries with back-off (~4 minutes).
    assert {k: os.environ[k] for k in tracking.INTERACTIVE_HTTP} == {
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "1",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
    }
    with (
        pytest.raises(TrackingUnavailable, match=r"is not reachable \(no answer in time\) while reading"),
        tracking.reachable(doing="reading", then="then reload this page"),
    ):
        _client(silent_port).get_registered_model("m")
