"""SIGKILL of the train and register steps, run as real processes, then their retry.

The step runs in a child process on the test's real MLflow store and is killed at a known
point: ``train`` when its model shows up ``PENDING`` in the store (an observable state, no
hook), ``register`` at the fault-injection point between creating the model version and
setting its alias (``mlops.faults``; that gap lasts milliseconds). The retry, in a fresh
process like Airflow's, must leave exactly one finished run, one model version, and no run
``RUNNING`` or model ``PENDING``.
"""

from __future__ import annotations

import json
import signal

from chaos.helpers import END, OVERRIDE, REGISTER, SOURCE, TRAIN, pending_models, start, wait_for
from mlops import schema


def runs_of(settings, run_key: str):
    import mlflow

    from mlops import tracking
    from mlops.training.train import experiment_name

    tracking.client(settings)
    exp = tracking.experiment_id(settings, experiment_name(_config()))
    return exp, mlflow.search_runs(experiment_ids=[exp], filter_string=f"tags.`{schema.RUN_KEY}` = '{run_key}'", output_format="list")


def _config():
    from mlops.config import load_dataset

    return load_dataset("synthetic", override=OVERRIDE)


def test_a_killed_train_is_closed_by_its_retry_and_registers_once(settings):
    from mlops import tracking
    from mlops.registry import register_version
    from mlops.sources.synthetic import SyntheticSource
    from mlops.training.train import train_model

    client = tracking.client(settings)
    run_key = "mlops_nightly_training_synthetic/scheduled__2024-01-11"
    args = {"override": OVERRIDE, "home": str(settings.home), "uri": settings.tracking_uri, "end": END.isoformat(), "run_key": run_key, "source": SOURCE}
    proc = start(TRAIN, args)

    def model_pending():
        exp, runs = runs_of(settings, run_key)
        return runs and pending_models(client, exp, {r.info.run_id for r in runs})

    wait_for(model_pending, proc, "a PENDING model of the run")
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    exp, (orphan,) = runs_of(settings, run_key)
    assert orphan.info.status == "RUNNING" and pending_models(client, exp, {orphan.info.run_id})  # what the kill left

    retry = train_model(_config(), settings, end=END, run_key=run_key, source=SyntheticSource(**SOURCE), window_days=5, holdout_days=1)
    _, runs = runs_of(settings, run_key)
    by_id = {r.info.run_id: r for r in runs}
    assert sorted(r.info.status for r in runs) == ["FAILED", "FINISHED"]
    assert by_id[orphan.info.run_id].info.status == "FAILED" and schema.CLOSED_BY_RETRY.name in by_id[orphan.info.run_id].data.tags
    assert by_id[retry["run_id"]].data.tags[schema.TRAIN_COMPLETE.name] == "true"
    assert pending_models(client, exp, set(by_id)) == []
    name = "chaos_killed_train"
    for _ in range(2):  # the register step, and its retry
        register_version(client, name=name, model_uri=retry["model_uri"], run_id=retry["run_id"], run_key=run_key, tags={})
    assert [str(v.version) for v in client.search_model_versions(f"name = '{name}'")] == ["1"]


def test_a_register_killed_between_version_and_alias_converges_on_one_version(settings, logged_model, tmp_path):
    from mlops.registry import CHALLENGER, alias_version

    client, model_uri, run_id = logged_model
    name, run_key = "chaos_killed_register", "mlops_nightly_training_synthetic/scheduled__2024-01-12"
    args = {"home": str(settings.home), "uri": settings.tracking_uri, "name": name, "model_uri": model_uri, "run_id": run_id, "run_key": run_key}
    proc = start(REGISTER, args, MLOPS_FAULT_PAUSE_AT="register.version_created", MLOPS_FAULT_DIR=str(tmp_path))
    wait_for(lambda: list(tmp_path.glob("register.version_created.*.paused")), proc, "the pause after creating the version")
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert [str(v.version) for v in client.search_model_versions(f"name = '{name}'")] == ["1"]
    assert alias_version(client, name, CHALLENGER) is None  # killed before the alias

    retry = start(REGISTER, args)  # Airflow's retry: a fresh process, no fault
    out, err = retry.communicate(timeout=180)
    assert retry.returncode == 0, err[-2000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["version"] == "1" and result["created"] is False and result["alias"] == CHALLENGER
    assert [str(v.version) for v in client.search_model_versions(f"name = '{name}'")] == ["1"]
    assert str(alias_version(client, name, CHALLENGER).version) == "1"
