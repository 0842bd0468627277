"""``nightly_late``: an Airflow Deadline Alert measured from a run's data interval end.

Airflow's built-in references are a run's logical date (the *start* of its interval) and when it
was queued. A nightly run is due when its interval ends, so ``DataIntervalEndDeadline`` measures
from there, or from when the run was asked for if that is later (a manual run of a past day is
not late at birth). Backfill runs get no deadline: they rebuild history, nobody waits for them.

The scheduler evaluates the reference when it creates a run and, once the deadline has passed
with the run unfinished, queues the callback; the triggerer runs it (``AsyncCallback``). The
product plugin registers the class (Airflow looks custom references up among plugins).

``dag.test()`` (and so ``airflow dags test``) in Airflow 3.3.2 cannot finish a *successful* run
of a DAG that has a Deadline Alert: it looks the DAG's in-memory alert definitions up as
database ids and raises. ``deadline_alerts_enabled`` therefore leaves the deadline out when
the DAG file is parsed by ``airflow dags test``, or when ``MLOPS_DEADLINE_ALERTS`` is false
(``scripts/test.sh`` sets it: the e2e tests run DAGs with ``dag.test()``).
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import AsyncCallback, DeadlineAlert
from airflow.sdk.definitions.deadline import BaseDeadlineReference

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


class DataIntervalEndDeadline(BaseDeadlineReference):
    """The later of a run's data interval end and its ``run_after``; none for backfill runs."""

    required_kwargs = {"dag_id", "run_id"}

    def _evaluate_with(self, *, session: Session, **kwargs: Any) -> datetime | None:
        from airflow.models import DagRun
        from sqlalchemy import select

        row = session.execute(
            select(DagRun.run_type, DagRun.data_interval_end, DagRun.run_after, DagRun.logical_date).where(
                DagRun.dag_id == kwargs["dag_id"], DagRun.run_id == kwargs["run_id"]
            )
        ).one_or_none()
        if row is None:
            return None
        run_type, interval_end, run_after, logical_date = row
        if str(getattr(run_type, "value", run_type)) == "backfill":
            return None
        candidates = [d for d in (interval_end, run_after, logical_date) if d is not None]
        return max(candidates) if candidates else None


def nightly_deadline(dataset: str, late_after_hours: float) -> DeadlineAlert:
    """The nightly DAG's Deadline Alert: ``nightly_late`` once a run is ``late_after_hours`` past its interval end."""
    return DeadlineAlert(
        reference=DataIntervalEndDeadline(),
        interval=timedelta(hours=late_after_hours),
        callback=AsyncCallback("mlops.alerts.notifiers.AlertNotifier", kwargs={"event": "nightly_late", "dataset": dataset}),
        name="nightly_late",
    )


def deadline_alerts_enabled(environ: dict[str, str] | None = None, argv: list[str] | None = None) -> bool:
    """Whether DAG files attach Deadline Alerts: ``MLOPS_DEADLINE_ALERTS`` if set, else not under ``airflow dags test``."""
    from mlops.settings import Settings

    value = Settings.value("deadline_alerts", environ)
    if value is not None:
        return value
    return list(sys.argv if argv is None else argv)[1:3] != ["dags", "test"]
