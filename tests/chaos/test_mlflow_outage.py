"""The MLflow server stops in the middle of a training run, then comes back.

A real ``mlflow server`` (started as ``scripts/run.sh`` starts it) on a free loopback port;
``train`` runs against it in a child process and the server is killed by its process group
once the run shows ``RUNNING``. The step must fail with an error that names the server, leave
nothing that looks finished, and its retry against the restarted server must succeed with one
finished run, the dead attempt closed, and no model ``PENDING``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from chaos.helpers import END, OVERRIDE, SOURCE, TRAIN, pending_models, start, wait_for
from mlops import schema


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    def __init__(self, home: Path, port: int):
        self.home, self.port, self.proc = home, port, None
        self.url = f"http://127.0.0.1:{port}"

    def start(self, timeout: float = 120) -> None:
        cmd = [
            Path(sys.executable).parent / "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{self.home / 'mlflow.db'}",
            "--artifacts-destination",
            str(self.home / "artifacts"),
        ]
        log = open(self.home / "server.log", "a")  # noqa: SIM115 - closed with the process
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.proc = subprocess.Popen([str(c) for c in cmd], stdout=log, stderr=log, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                pytest.fail(f"mlflow server exited: {(self.home / 'server.log').read_text()[-2000:]}")
            time.sleep(0.3)
        pytest.fail(f"mlflow server not healthy within {timeout} s")

    def kill(self) -> None:
        """Kill the server and its workers (its own process group), as a crash or an OOM kill would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)


@pytest.fixture
def server(tmp_path):
    s = MlflowServer(tmp_path, free_port())
    s.start()
    yield s
    s.kill()


def test_training_survives_the_tracking_server_going_away(server, tmp_path):
    from mlflow import MlflowClient

    from mlops.config import Settings, load_dataset
    from mlops.sources.synthetic import SyntheticSource
    from mlops.training.train import experiment_name, train_model

    run_key = "mlops_nightly_training_synthetic/scheduled__2024-01-11"
    settings = Settings(home=tmp_path / "home", tracking_uri=server.url)
    args = {"override": OVERRIDE, "home": str(settings.home), "uri": server.url, "end": END.isoformat(), "run_key": run_key, "source": SOURCE}
    proc = start(TRAIN, args, MLFLOW_HTTP_REQUEST_MAX_RETRIES="2", MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR="1", MLFLOW_HTTP_REQUEST_TIMEOUT="10")
    client = MlflowClient(tracking_uri=server.url)

    def running():
        exp = client.get_experiment_by_name(experiment_name(load_dataset("synthetic", override=OVERRIDE)))
        found = exp and client.search_runs([exp.experiment_id], f"tags.`{schema.RUN_KEY}` = '{run_key}'")
        return found and found[0].info.status == "RUNNING" and (exp.experiment_id, found[0].info.run_id)

    exp_id, first_run = wait_for(running, proc, "the training run RUNNING on the server")
    server.kill()
    out, err = proc.communicate(timeout=240)
    assert proc.returncode != 0, out[-1000:]
    last = err.strip().splitlines()[-1]
    assert "MlflowException" in last and f"{server.url}/api/" in last, last  # says which server it could not reach

    server.start()
    assert client.get_run(first_run).info.status == "RUNNING"  # the killed attempt could not close it
    retry = train_model(
        load_dataset("synthetic", override=OVERRIDE),
        settings,
        end=END,
        run_key=run_key,
        source=SyntheticSource(**SOURCE),
        window_days=5,
        holdout_days=1,
    )
    runs = {r.info.run_id: r for r in client.search_runs([exp_id], f"tags.`{schema.RUN_KEY}` = '{run_key}'")}
    assert sorted(r.info.status for r in runs.values()) == ["FAILED", "FINISHED"]
    assert schema.CLOSED_BY_RETRY.name in runs[first_run].data.tags
    assert runs[retry["run_id"]].data.tags[schema.TRAIN_COMPLETE.name] == "true" and not retry["reused"]
    assert pending_models(client, exp_id, set(runs)) == []
