"""The product's Airflow plugin: registers what the scheduler and API server must know by name."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from mlops.airflow.timetables import PartitionIntervalTimetable


class MlopsPlugin(AirflowPlugin):
    name = "mlops"
    timetables = [PartitionIntervalTimetable]
