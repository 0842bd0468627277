"""Triggers run in the triggerer: async, light, and importable from the installed package."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


def find_pending_challenger(model_name: str, tracking_uri: str | None = None) -> str | None:
    """Version behind ``<model_name>@challenger`` that has no decision yet (blocking; MLflow client)."""
    from mlflow import MlflowClient

    from mlops.promotion.history import pending_challenger
    from mlops.settings import Settings

    uri = tracking_uri or Settings.value("tracking_uri", default=None)
    if not uri:
        raise RuntimeError("MLFLOW_TRACKING_URI is not set in the triggerer's environment; set it where Airflow runs")
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    return pending_challenger(client, model_name)


class ChallengerTrigger(BaseTrigger):
    """Fires once a model version of ``model_name`` carries the alias ``challenger`` and no decision.

    The tracking URI is read from the triggerer's environment (``MLFLOW_TRACKING_URI``)
    unless given, so credentials in it never go into Airflow's database.

    Parameters
    ----------
    model_name : str
        Registered model to watch.
    poke_interval : float
        Seconds between two look-ups.
    tracking_uri : str, optional
        Override of the environment's tracking URI (tests, or a registry without credentials).
    """

    def __init__(self, model_name: str, poke_interval: float = 60.0, tracking_uri: str | None = None):
        super().__init__()
        self.model_name = model_name
        self.poke_interval = poke_interval
        self.tracking_uri = tracking_uri

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "mlops.airflow.triggers.ChallengerTrigger",
            {"model_name": self.model_name, "poke_interval": self.poke_interval, "tracking_uri": self.tracking_uri},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            try:
                version = await asyncio.to_thread(find_pending_challenger, self.model_name, self.tracking_uri)
            except Exception as e:  # a registry that is briefly down must not kill the wait
                self.log.warning("look-up of %s@challenger failed (%s: %s); retrying in %ss", self.model_name, type(e).__name__, e, self.poke_interval)
                version = None
            if version is not None:
                self.log.info("challenger found: %s version %s", self.model_name, version)
                yield TriggerEvent({"status": "found", "model_name": self.model_name, "version": version})
                return
            await asyncio.sleep(self.poke_interval)


#: Task instance states of a task that ended without doing its work.
FAILED_STATES = frozenset({"failed", "upstream_failed", "removed"})
#: Task instance states after which a task will not run again by itself.
FINISHED_STATES = FAILED_STATES | {"success", "skipped"}


def unfinished_tasks(dag_id: str, logical_date: Any, task_ids: list[str]) -> dict[str, str]:
    """``{"<run_id>:<task_id>": state}`` of the given tasks of the run(s) at ``logical_date`` that have not finished.

    Uses the Task SDK's supervisor channel, which task processes and the triggerer both have.
    """
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    runs = RuntimeTaskInstance.get_task_states(dag_id=dag_id, task_ids=list(task_ids), logical_dates=[logical_date]) or {}
    return {f"{run}:{task}": str(state) for run, tasks in runs.items() for task, state in tasks.items() if str(state) not in FINISHED_STATES}


class PreviousRunTrigger(BaseTrigger):
    """Ends the waiting task successfully once the run at ``logical_date`` has finished ``task_ids``.

    It ends the task in the triggerer (``TaskSuccessEvent``): no worker process is started
    to resume it, so the next step of a chain of runs starts within about ``poke_interval``
    plus one scheduler loop of the previous run's last step.
    """

    def __init__(self, dag_id: str, logical_date: str, task_ids: list[str], poke_interval: float = 1.0):
        super().__init__()
        self.dag_id, self.logical_date, self.task_ids, self.poke_interval = dag_id, logical_date, list(task_ids), poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "mlops.airflow.triggers.PreviousRunTrigger",
            {"dag_id": self.dag_id, "logical_date": self.logical_date, "task_ids": self.task_ids, "poke_interval": self.poke_interval},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from datetime import datetime

        from airflow.triggers.base import TaskSuccessEvent

        when = datetime.fromisoformat(self.logical_date)
        while True:
            pending = await asyncio.to_thread(unfinished_tasks, self.dag_id, when, self.task_ids)
            if not pending:
                self.log.info("the run of %s at %s has finished %s", self.dag_id, self.logical_date, self.task_ids)
                yield TaskSuccessEvent()
                return
            await asyncio.sleep(self.poke_interval)
