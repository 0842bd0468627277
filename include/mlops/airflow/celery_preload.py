"""Imported by a Celery worker at start-up (``CELERY_CONFIG["imports"]``): preloads the ML libraries.

The line it writes to the worker's stderr (its component log) says how long it took and what
was imported; the production-profile test reads it.
"""

from __future__ import annotations

import json
import os
import sys
import time

from mlops.airflow.preload import preload

_started = time.perf_counter()
IMPORTED = preload()
sys.stderr.write(f"mlops: Celery worker {os.getpid()} preloaded modules in {time.perf_counter() - _started:.1f} s: {json.dumps(IMPORTED)}\n")
sys.stderr.flush()
