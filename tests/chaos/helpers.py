"""Child processes for the chaos tests: the real step code, run in a fresh interpreter and killed on cue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

END = datetime(2024, 1, 12, tzinfo=UTC)
#: A forest big enough that logging it takes a moment: the window in which its model is PENDING.
OVERRIDE = {"model": {"estimator": "sklearn.ensemble.RandomForestClassifier", "params": {"n_estimators": 150, "n_jobs": 1}}}
SOURCE = {"rows_per_day": 300, "seed": 4, "drift": []}

TRAIN = """
import json, sys
from datetime import datetime
from mlops.config import Settings, load_dataset
from mlops.sources.synthetic import SyntheticSource
from mlops.training.train import train_model

a = json.loads(sys.argv[1])
result = train_model(
    load_dataset("synthetic", override=a["override"]), Settings(home=a["home"], tracking_uri=a["uri"]),
    end=datetime.fromisoformat(a["end"]), run_key=a["run_key"], source=SyntheticSource(**a["source"]), window_days=5, holdout_days=1,
)
print(json.dumps(result))
"""

REGISTER = """
import json, sys
from mlops import tracking
from mlops.config import Settings
from mlops.registry import register_version

a = json.loads(sys.argv[1])
client = tracking.client(Settings(home=a["home"], tracking_uri=a["uri"]))
print(json.dumps(register_version(client, name=a["name"], model_uri=a["model_uri"], run_id=a["run_id"], run_key=a["run_key"], tags={})))
"""


def start(code: str, args: dict, **env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(args)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if proc.poll() is not None:
            pytest.fail(f"the child process ended ({proc.returncode}) before {what}: {proc.stderr.read()[-2000:]}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"no {what} within {timeout} s")


def pending_models(client, exp: str, run_ids: set[str]):
    from mlflow.entities import LoggedModelStatus

    return [m for m in client.search_logged_models(experiment_ids=[exp]) if m.source_run_id in run_ids and m.status == LoggedModelStatus.PENDING]
