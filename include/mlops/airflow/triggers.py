"""Triggers run in the triggerer: async, light, and importable from the installed package."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


def find_pending_challenger(model_name: str, tracking_uri: str | None = None) -> str | None:
    """Version behind ``<model_name>@challenger`` that has no decision yet (blocking; MLflow client)."""
    from mlflow import MlflowClient

    from mlops.promotion.history import pending_challenger

    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
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
