"""Sensors: the promotion DAG's wait for a challenger, the nightly DAG's wait for the previous run."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.sensor import BaseSensorOperator, PokeReturnValue
from airflow.triggers.base import StartTriggerArgs

from mlops.airflow.triggers import ChallengerTrigger, PreviousRunTrigger, find_pending_challenger, unfinished_tasks

if TYPE_CHECKING:
    from airflow.sdk import Context


class ChallengerSensor(BaseSensorOperator):
    """Wait for an undecided ``challenger`` version of a registered model; return its version.

    Deferrable by default: while it waits, the trigger polls MLflow in the triggerer and no
    worker slot is taken. ``deferrable=False`` pokes from a worker (``mode="reschedule"``
    frees the slot between pokes).

    Parameters
    ----------
    model_name : str
        Registered model to watch (templated).
    poke_interval, timeout : float
        Seconds between look-ups; seconds before giving up (``soft_fail`` to skip instead of fail).
    """

    template_fields: Sequence[str] = ("model_name",)
    ui_color = "#e8e0f5"

    def __init__(self, *, model_name: str, deferrable: bool = True, tracking_uri: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_name = model_name
        self.deferrable = deferrable
        self.tracking_uri = tracking_uri

    def poke(self, context: Context) -> PokeReturnValue:
        version = find_pending_challenger(self.model_name, self.tracking_uri)
        if version:
            self.log.info("%s version %s waits for a decision", self.model_name, version)
        return PokeReturnValue(is_done=version is not None, xcom_value=version)

    def execute(self, context: Context) -> Any:
        if not self.model_name or not isinstance(self.model_name, str):
            raise ValueError(f"ChallengerSensor: model_name must be a non-empty string, got {self.model_name!r}")
        if not self.deferrable:
            return super().execute(context=context)
        found = self.poke(context)
        if found.is_done:
            return found.xcom_value
        self.defer(
            trigger=ChallengerTrigger(model_name=self.model_name, poke_interval=self.poke_interval, tracking_uri=self.tracking_uri),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        if not event or event.get("status") != "found":
            raise RuntimeError(f"ChallengerSensor: the trigger ended without a challenger for {self.model_name!r}: {event!r}")
        return str(event["version"])


class PreviousRunSensor(BaseSensorOperator):
    """Wait until the previous interval's run is through ``task_ids`` (its model steps, in order).

    Starts in the triggerer (``start_from_trigger``; the trigger reads the previous interval's
    logical date from its task's run there): ``PreviousRunTrigger`` polls every
    ``poke_interval`` seconds and ends this task there, so no worker process ever starts for
    it, whether it waits or not (the nightly DAG has it in every run; in a backfill that is one
    task process a day less). ``start_in_triggerer=False`` checks once in a worker process and
    defers only if it has to wait. (``dag.test`` runs it in its process, the second way.) The default, 0.25 s, costs one small
    API call per waiting run and poll, only while runs wait on each other (a backfill); a
    backfill's days follow each other about 0.75 s sooner than with 1 s. A run whose previous
    run has not scheduled its decision yet (it waits in turn) is looked at every
    ``idle_interval`` seconds.

    Parameters
    ----------
    task_ids : list[str]
        The previous run's model steps, each downstream of the one before; waits until the
        chain is over (``mlops.airflow.triggers.chain_pending``): all ended, or one skipped or
        failed, after which the rest will not run (a failed previous run is reported by its
        own DAG run, and this run still needs to move on).
    idle_interval : float
        Seconds between looks while the previous run waits on the one before it.
    backfill_task_ids : list[str], optional
        The chain of a previous run that is a backfill run, where it differs (its train step
        runs the model steps after it: ``mlops.airflow.operators.run_backfill_model_steps``).
    """

    ui_color = "#e8e0f5"

    def __init__(
        self,
        *,
        task_ids: Sequence[str],
        idle_interval: float = 1.0,
        backfill_task_ids: Sequence[str] | None = None,
        start_in_triggerer: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", 0.25)
        super().__init__(**kwargs)
        self.task_ids = list(task_ids)
        self.backfill_task_ids = list(backfill_task_ids or [])
        self.idle_interval = idle_interval
        if start_in_triggerer:
            # The scheduler hands the task straight to the triggerer: no worker process starts
            # for it, whether it waits or not (every run of the nightly DAG has this task).
            self.start_from_trigger = True
            self.start_trigger_args = StartTriggerArgs(
                trigger_cls="mlops.airflow.triggers.PreviousRunTrigger",
                trigger_kwargs={
                    "dag_id": self.dag_id,
                    "logical_date": None,  # the trigger looks it up from its task's run (previous_interval_start)
                    "chain": self.task_ids,
                    "poke_interval": self.poke_interval,
                    "idle_interval": self.idle_interval,
                    "backfill_chain": self.backfill_task_ids,
                },
                next_method="execute_complete",
                timeout=timedelta(seconds=self.timeout),
            )

    def _previous(self, context: Context):
        from mlops.airflow.runtime import previous_interval_start

        return previous_interval_start(context)

    def poke(self, context: Context) -> bool:
        pending = unfinished_tasks(context["dag"].dag_id, self._previous(context), self.task_ids, backfill_chain=self.backfill_task_ids)
        if pending:
            self.log.info("waiting for the previous interval's run: %s", pending)
        return not pending

    def execute(self, context: Context) -> None:
        if self.poke(context):
            return
        self.defer(
            trigger=PreviousRunTrigger(
                context["dag"].dag_id,
                self._previous(context).isoformat(),
                chain=self.task_ids,
                poke_interval=self.poke_interval,
                idle_interval=self.idle_interval,
                backfill_chain=self.backfill_task_ids,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        """Not reached when the trigger ends the task itself; kept for triggerers that resume instead."""
