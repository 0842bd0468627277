"""The product's Airflow plugin.

- the ``PartitionIntervalTimetable`` (the scheduler and API server must know it by name);
- a listener that writes each finished scoring run's note (``mlops.airflow.listeners``);
- the *Models* page: a FastAPI app under ``/mlops`` (``mlops.airflow.ui_app``; Airflow's
  login and DAG permissions apply) shown inside the UI as the navigation entry *Models*.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from mlops.airflow import listeners as mlops_listeners
from mlops.airflow.timetables import PartitionIntervalTimetable
from mlops.airflow.ui_app import app as models_app


class MlopsPlugin(AirflowPlugin):
    name = "mlops"
    timetables = [PartitionIntervalTimetable]
    listeners = [mlops_listeners]
    fastapi_apps = [{"app": models_app, "url_prefix": "/mlops", "name": "MLOps models"}]
    external_views = [
        {
            "name": "Models",
            "href": "mlops/models",
            "url_route": "models",
            "destination": "nav",
            "icon": "mlops/icon.svg",
        }
    ]
