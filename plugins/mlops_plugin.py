"""The product's Airflow plugin.

- the ``PartitionIntervalTimetable`` (the scheduler and API server must know it by name);
- the *Models* page: a FastAPI app under ``/mlops`` (``mlops.airflow.ui_app``; Airflow's
  login and DAG permissions apply) shown inside the UI as the navigation entry *Models*;
- the run conf guard of the API server (``mlops.airflow.runconf.RunConfGuard``): a trigger
  or backfill of a product DAG whose conf holds an undeclared key or is too large is refused
  with HTTP 400/413 before Airflow creates a run.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from mlops.airflow.runconf import RunConfGuard
from mlops.airflow.timetables import PartitionIntervalTimetable
from mlops.airflow.ui_app import app as models_app


class MlopsPlugin(AirflowPlugin):
    name = "mlops"
    timetables = [PartitionIntervalTimetable]
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
