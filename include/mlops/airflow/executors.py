"""``PreloadingLocalExecutor``: the LocalExecutor whose worker processes import the heavy libraries once.

Airflow's LocalExecutor keeps ``parallelism`` worker processes; each task runs in a process
forked from one of them. A fork inherits the worker's imported modules, so a worker that has
already imported pandas, scikit-learn, MLflow and Great Expectations starts every task with
them loaded: measured on the flights replay, these imports are most of a task's duration
(see bench/README.md, "Backfill under the scheduler").

    AIRFLOW__CORE__EXECUTOR=mlops.airflow.executors.PreloadingLocalExecutor
    MLOPS_PRELOAD_MODULES="pandas,pyarrow.parquet,sklearn.ensemble,scipy.stats,mlflow,great_expectations"

Each worker imports the modules (``mlops.airflow.preload``) right after it starts, before it
takes its first task. Nothing else about the executor changes. The embedded default
(`make run`) uses it; the Celery workers of the production profile preload the same modules
through ``mlops.airflow.celery_config``.
"""

from __future__ import annotations

import os
import time

from airflow.executors import local_executor
from airflow.executors.local_executor import LocalExecutor

from mlops.airflow.preload import preload


def _run_preloaded_worker(**kwargs) -> None:
    import structlog

    log = structlog.get_logger(kwargs["logger_name"])
    t = time.perf_counter()
    imported = preload()
    log.info("Worker preloaded modules", pid=os.getpid(), seconds=round(time.perf_counter() - t, 1), modules=imported)
    local_executor._run_worker(**kwargs)


class PreloadingLocalExecutor(LocalExecutor):
    """LocalExecutor whose workers import ``MLOPS_PRELOAD_MODULES`` before their first task."""

    def _spawn_worker(self) -> None:
        import multiprocessing

        p = multiprocessing.Process(
            target=_run_preloaded_worker,
            kwargs={
                "logger_name": self.log.name,
                "input": self.activity_queue,
                "output": self.result_queue,
                "unread_messages": self._unread_messages,
                "team_conf": self.conf,
            },
        )
        p.start()
        self.workers[p.pid] = p
