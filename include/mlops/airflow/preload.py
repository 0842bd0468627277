"""Import the heavy libraries once in a long-lived worker process, so every task forked from it starts with them.

Both executors of the product fork a process per task from a long-lived worker: the embedded
default's ``PreloadingLocalExecutor`` and, in the production profile, Celery's prefork pool
(``mlops.airflow.celery_config``). A fork inherits the worker's imported modules; importing
pandas, scikit-learn, MLflow and Great Expectations once there saves seconds per task.

``MLOPS_PRELOAD_MODULES`` (comma-separated) overrides the list; an empty value turns it off.
A module that fails to import is reported and skipped: the task imports it again and reports
the error where it belongs.
"""

from __future__ import annotations

import importlib
import time

from mlops.settings import Settings


def preload(modules: str | None = None) -> dict[str, float | str]:
    """Import each module of the comma-separated list; return seconds per module, or the error."""
    done: dict[str, float | str] = {}
    wanted = modules if modules is not None else Settings.value("preload_modules")
    for name in filter(None, (m.strip() for m in wanted.split(","))):
        t = time.perf_counter()
        try:
            importlib.import_module(name)
            done[name] = round(time.perf_counter() - t, 2)
        except Exception as e:
            done[name] = f"{type(e).__name__}: {e}"
    return done
