"""Fault injection for resilience tests: hold a process at a named point so a test can kill it there.

Some failures happen between two writes that follow each other within milliseconds (a model
version created, its alias not set yet). A test cannot hit that gap by timing, so the code
marks such gaps with ``reach("<point>")``. Off by default: ``reach`` returns at once unless
the environment variable ``MLOPS_FAULT_PAUSE_AT`` names the point (comma-separated names),
and it is ignored in the production profile (``MLOPS_PROFILE=prod``).

When enabled, ``reach`` writes ``<MLOPS_FAULT_DIR>/<point>.<pid>.paused`` and waits until the
file is deleted (the test lets it go on) or the process is killed (the test's SIGKILL),
at most ``MLOPS_FAULT_PAUSE_SECONDS`` (default 300), then goes on.

Points: ``register.version_created`` (a model version exists, no alias or supersession yet).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PAUSE_AT = "MLOPS_FAULT_PAUSE_AT"
FOLDER = "MLOPS_FAULT_DIR"
MAX_SECONDS = "MLOPS_FAULT_PAUSE_SECONDS"


def reach(point: str) -> None:
    """Pause here when a test asked for it (see the module docstring); no effect otherwise."""
    from mlops.settings import Settings

    names = Settings.value("fault_pause_at")
    if not names or point not in {n.strip() for n in names.split(",")} or Settings.value("profile") == "prod":
        return
    folder = Path(Settings.value("fault_dir") or ".")
    marker = folder / f"{point}.{os.getpid()}.paused"
    marker.write_text(f"{point} reached by process {os.getpid()}\n")
    deadline = time.monotonic() + Settings.value("fault_pause_seconds")
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
