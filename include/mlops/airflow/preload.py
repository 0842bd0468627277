"""Import the heavy libraries once in a long-lived worker process, so every task forked from it starts with them.

Both executors of the product fork a process per task from a long-lived worker: the embedded
default's ``PreloadingLocalExecutor`` and, in the production profile, Celery's prefork pool
(``mlops.airflow.celery_config``). A fork inherits the worker's imported modules; importing
pandas, scikit-learn, MLflow and Great Expectations once there saves seconds per task.

``MLOPS_PRELOAD_MODULES`` (comma-separated) overrides the list; an empty value turns it off.
A module that fails to import is reported and skipped: the task imports it again and reports
the error where it belongs.

After importing, the worker's objects are moved out of the garbage collector's reach
(``gc.freeze``): the libraries leave some 400,000 long-lived objects, and every full collection
in the worker (the task's supervisor) or in a task forked from it walked all of them, about
0.5 s each on two busy cores, and wrote to each object's header, so that a task's first full
collection also copied the worker's memory pages it had shared. Frozen objects are never
collected; modules live as long as the process anyway.
"""

from __future__ import annotations

import gc
import importlib
import time

from mlops.settings import Settings


def preload(modules: str | None = None, *, freeze: bool = True) -> dict[str, float | str]:
    """Import each module of the comma-separated list; return seconds per module, or the error.

    ``freeze``: then collect once and freeze every object the process holds (see above).
    """
    done: dict[str, float | str] = {}
    wanted = modules if modules is not None else Settings.value("preload_modules")
    for name in filter(None, (m.strip() for m in wanted.split(","))):
        t = time.perf_counter()
        try:
            importlib.import_module(name)
            done[name] = round(time.perf_counter() - t, 2)
        except Exception as e:
            done[name] = f"{type(e).__name__}: {e}"
    if freeze:
        gc.collect()
        gc.freeze()
    return done
