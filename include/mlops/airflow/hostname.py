"""``[core] hostname_callable`` of the production profile: which worker ran a task.

Airflow records the result as the task instance's hostname. Where several Celery workers
share a host, ``MLOPS_WORKER_NAME`` (set per worker) tells them apart; elsewhere it is the
host's fully qualified name, as Airflow's default gives.
"""

from __future__ import annotations


def worker_hostname() -> str:
    from mlops.settings import Settings

    name = Settings.value("worker_name").strip()
    if name:
        return name
    from airflow.utils.net import getfqdn

    return getfqdn()
