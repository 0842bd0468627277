"""Where the benchmarks keep their figures, and on what machine they were taken.

Each benchmark writes one JSON file under ``bench/results/`` (not in git) through ``save``,
which adds a ``machine`` entry: CPU count, Python, and the time of a fixed pure-Python loop.
Machines of the same kind have differed by 2-3x in Python speed, and so do most figures here: compare a
before and an after only when their ``machine.python_loop_s`` agree.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

#: Additions in the speed probe (0.20 s on the machine of 1 Dec 2026).
LOOP = 10**7


def python_loop_seconds() -> float:
    """Seconds for ``LOOP`` integer additions in pure Python (the best of two)."""
    best = float("inf")
    for _ in range(2):
        start, total = time.perf_counter(), 0
        for i in range(LOOP):
            total += i
        best = min(best, time.perf_counter() - start)
    return round(best, 3)


@functools.cache
def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "python_loop_s": python_loop_seconds(),
        "loop": f"{LOOP:,} additions",
    }


def save(where: str | Path, data: dict, *, indent: int = 2, quiet: bool = False) -> Path:
    """Write ``data`` with the machine's description to ``where``: a path, or a name under ``RESULTS``.

    Returns the path. An existing ``machine`` entry in ``data`` (a result read back and written
    again) is kept: the figures were taken there.
    """
    path = Path(where) if isinstance(where, Path) or os.sep in str(where) else RESULTS / f"{where}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data if "machine" in data else {"machine": machine(), **data}
    path.write_text(json.dumps(payload, indent=indent, default=str) + "\n")
    if not quiet:
        print(f"results in {path}")
    return path
