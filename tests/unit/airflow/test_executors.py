"""The preloading LocalExecutor's import step and the previous-run trigger's serialisation."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

INCLUDE = Path(__file__).resolve().parents[3] / "include"


def test_preload_imports_what_it_can_and_reports_the_rest():
    from mlops.airflow.preload import preload
    from mlops.settings import DEFAULT_PRELOAD_MODULES as DEFAULT_MODULES

    done = preload("json, colorsys ,no_such_module_for_mlops_tests", freeze=False)
    assert isinstance(done["json"], float) and isinstance(done["colorsys"], float)
    assert done["no_such_module_for_mlops_tests"].startswith("ModuleNotFoundError")
    # Every default module is a real module of the environment.
    for name in DEFAULT_MODULES.split(","):
        assert importlib.util.find_spec(name) is not None, name


def _gc_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter (a worker's start-up) and report what the garbage collector still tracks."""
    report = "import gc, json; print(json.dumps({'tracked': len(gc.get_objects()), 'frozen': gc.get_freeze_count()}))"
    env = {**os.environ, "PYTHONPATH": str(INCLUDE), "MLOPS_PRELOAD_MODULES": "decimal,email.mime.text,json"}
    out = subprocess.run([sys.executable, "-c", f"{code}\n{report}"], capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_preloading_freezes_the_workers_objects_so_full_collections_skip_them():
    # A worker's (and its tasks') full collections walked every object the libraries left behind.
    preloaded = _gc_after("from mlops.airflow.preload import preload; preload()")
    assert preloaded["frozen"] > 10_000 and preloaded["tracked"] < 1_000
    plain = _gc_after("from mlops.airflow.preload import preload; preload('decimal,email.mime.text,json', freeze=False)")
    assert plain["frozen"] == 0 and plain["tracked"] > 10_000


def test_a_celery_pool_process_freezes_what_it_inherited_as_it_starts():
    # Airflow unfreezes the Celery main process once the worker is ready; a pool process forked later freezes for itself.
    started = _gc_after(
        "import gc, mlops.airflow.celery_preload\nfrom celery.signals import worker_process_init\ngc.unfreeze()\nworker_process_init.send(sender=None)"
    )
    assert started["frozen"] > 10_000 and started["tracked"] < 1_000


def test_the_executor_is_airflows_local_executor():
    from airflow.executors.local_executor import LocalExecutor

    from mlops.airflow.executors import PreloadingLocalExecutor

    assert issubclass(PreloadingLocalExecutor, LocalExecutor) and PreloadingLocalExecutor.is_local


def test_previous_run_trigger_round_trips():
    from mlops.airflow.triggers import PreviousRunTrigger

    trigger = PreviousRunTrigger("dag", "2024-01-09T00:00:00+00:00", ["decide", "retrain.train"], poke_interval=0.5, idle_interval=2.0)
    path, kwargs = trigger.serialize()
    module, _, name = path.rpartition(".")
    again = getattr(importlib.import_module(module), name)(**kwargs)
    assert again.serialize() == (path, kwargs) and again._chains() == [["decide", "retrain.train"]]


def test_a_previous_run_trigger_stored_by_an_earlier_version_keeps_its_meaning():
    """Deferred before an upgrade: kwargs with task_ids (each must finish), no chain, no idle interval."""
    from mlops.airflow.triggers import PreviousRunTrigger, chain_pending

    stored = {"dag_id": "dag", "logical_date": "2024-01-09T00:00:00+00:00", "task_ids": ["no_retrain", "retrain.register"], "poke_interval": 0.25}
    trigger = PreviousRunTrigger(**stored)
    assert trigger._chains() == [["no_retrain"], ["retrain.register"]]
    # A retraining day: no_retrain skipped, register still running -> not over (as before the upgrade).
    states = {"no_retrain": "skipped", "retrain.register": "running"}
    assert [chain_pending(states, c) for c in trigger._chains()] == [None, ("retrain.register", "running")]
    assert trigger.serialize()[1]["task_ids"] == ["no_retrain", "retrain.register"]


def test_celery_config_keeps_airflows_defaults_and_preloads_in_the_worker():
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

    from mlops.airflow.celery_config import CELERY_CONFIG

    assert {k: v for k, v in CELERY_CONFIG.items() if k != "imports"} == {k: v for k, v in DEFAULT_CELERY_CONFIG.items() if k != "imports"}
    assert "mlops.airflow.celery_preload" in CELERY_CONFIG["imports"]
    assert importlib.util.find_spec("mlops.airflow.celery_preload") is not None
