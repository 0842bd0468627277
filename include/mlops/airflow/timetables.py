"""Timetables. Registered with Airflow by the product plugin (``mlops.airflow.plugin``)."""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.timetables.base import DataInterval
from airflow.timetables.interval import CronDataIntervalTimetable


class PartitionIntervalTimetable(CronDataIntervalTimetable):
    """Cron data intervals in which a run's logical date names its partition, manual runs included.

    Scheduled runs and backfills behave as with ``CronDataIntervalTimetable``: the run of
    logical date ``D`` processes ``[D, next(D))``. A manual run (trigger form, REST API,
    ``airflow dags test``) for a logical date on a schedule boundary processes that same
    interval, instead of the one that *ends* at ``D``; a manual run at any other time (e.g.
    "trigger now") processes the last complete interval. So "2013-03-01" always means the
    partition ``ds=2013-03-01``.
    """

    @property
    def summary(self) -> str:
        return f"{self._expression} (partition intervals)"

    def infer_manual_data_interval(self, *, run_after) -> DataInterval:
        start = self._align_to_prev(run_after)
        end = self._get_next(start)
        if end > datetime.now(UTC):  # not complete yet: the last complete interval
            end, start = start, self._get_prev(start)
        return DataInterval(start=start, end=end)
