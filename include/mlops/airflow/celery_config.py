"""Celery settings of the production profile: Airflow's defaults, plus the ML libraries preloaded.

    AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=mlops.airflow.celery_config.CELERY_CONFIG

Celery imports the modules named in ``imports`` in the worker's main process before it forks
its pool, so every pool process, and every task process the pool forks, starts with pandas,
scikit-learn, MLflow and Great Expectations loaded (``mlops.airflow.preload``), as the
embedded default's ``PreloadingLocalExecutor`` does.
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

CELERY_CONFIG = {
    **DEFAULT_CELERY_CONFIG,
    "imports": (*DEFAULT_CELERY_CONFIG.get("imports", ()), "mlops.airflow.celery_preload"),
}
