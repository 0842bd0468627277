"""The product's Airflow plugin, registered by the installed package (entry point ``airflow.plugins``).

- the ``PartitionIntervalTimetable`` (the scheduler and API server must know it by name);
- a listener that writes each finished scoring run's note (``mlops.airflow.listeners``);
- the deadline reference of the ``nightly_late`` alert (``DataIntervalEndDeadline``: the
  scheduler looks custom Deadline Alert references up among plugins);
- the *Models* page: a FastAPI app under ``/mlops`` (``mlops.airflow.ui_app``; Airflow's
  login and DAG permissions apply) shown inside the UI as the navigation entry *Models*;
- the run conf guard of the API server (``mlops.airflow.runconf.RunConfGuard``): a trigger
  or backfill of a product DAG whose conf holds an undeclared key or is too large is refused
  with HTTP 400/413 before Airflow creates a run.

Because the package registers it, ``pip install`` of the product into any Airflow deployment
brings the plugin along; nothing needs to be copied into the deployment's plugins folder.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from mlops.airflow import listeners as mlops_listeners
from mlops.airflow.runconf import RunConfGuard
from mlops.airflow.timetables import PartitionIntervalTimetable
from mlops.airflow.ui_app import app as models_app
from mlops.alerts.deadline import DataIntervalEndDeadline


class MlopsPlugin(AirflowPlugin):
    name = "mlops"
    timetables = [PartitionIntervalTimetable]
    listeners = [mlops_listeners]
    deadline_references = [DataIntervalEndDeadline]
    fastapi_apps = [{"app": models_app, "url_prefix": "/mlops", "name": "MLOps models"}]
    fastapi_root_middlewares = [{"middleware": RunConfGuard, "args": [], "kwargs": {}, "name": "MLOps run conf guard"}]
    external_views = [
        {
            "name": "Models",
            "href": "mlops/models",
            "url_route": "models",
            "destination": "nav",
            "icon": "mlops/icon.svg",
        }
    ]
