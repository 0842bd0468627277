"""Imported by a Celery worker at start-up (``CELERY_CONFIG["imports"]``): preloads the ML libraries.

The line it writes to the worker's stderr (its component log) says how long it took and what
was imported; the production-profile test reads it.

Airflow's Celery integration unfreezes the garbage collector in the main process once the worker
is ready (``gc.unfreeze`` on ``worker_ready``), so a pool process forked after that (one that
replaces a process that died) would walk the libraries' objects again on every full collection:
each pool process freezes what it inherited as it starts (``worker_process_init``).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time

from celery.signals import worker_process_init

from mlops.airflow.preload import preload

_started = time.perf_counter()
IMPORTED = preload()
sys.stderr.write(f"mlops: Celery worker {os.getpid()} preloaded modules in {time.perf_counter() - _started:.1f} s: {json.dumps(IMPORTED)}\n")
sys.stderr.flush()


@worker_process_init.connect
def freeze_inherited(**_kwargs) -> None:
    gc.freeze()
