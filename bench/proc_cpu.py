"""CPU seconds of a stack's processes while a benchmark runs, by component, read from ``/proc``.

``CpuSampler`` reads every process's ``utime + stime`` every ``interval`` seconds in a thread
and keeps each process's last reading under the component it belongs to:

- a process whose command line names a task (``airflow worker -- <task instance id>``, or
  Airflow's ``supervisor``) counts under ``tasks``: the embedded executor's forked tasks, and
  a Celery pool process with the task it supervises;
- otherwise, the component whose PID file (``<home>/run/<component>.pid``, written by
  ``scripts/run.sh``) holds the process or one of its ancestors (the embedded executor's
  workers count under ``scheduler``, MLflow's server workers under ``mlflow``);
- otherwise ``postgres`` for PostgreSQL's backends, or ``other`` (the machine's own services
  and the benchmark itself; listed apart, never in ``stack``).

A process that ends between two readings loses its CPU after the last one (at most
``interval`` seconds of it), so short task processes are slightly under-counted; the same for
every column of a comparison. Linux only.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _read(pid: str) -> tuple[int, float, str, int] | None:
    """``(ppid, cpu seconds, command line, start tick)`` of a process, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK, cmd, int(fields[19])


def is_task(cmd: str) -> bool:
    return (cmd.startswith("airflow worker -- ") and "LocalExecutor" not in cmd) or cmd.startswith("airflow supervisor")


class CpuSampler:
    """Samples ``/proc`` in a thread between ``start()`` and ``stop()``; ``totals()`` by component (seconds)."""

    def __init__(self, run_dir: Path, interval: float = 0.5):
        self.run_dir, self.interval = Path(run_dir), interval
        self.last: dict[tuple[int, int], tuple[str, float]] = {}  # (pid, start tick) -> (component, cpu)
        self.baseline: dict[tuple[int, int], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def _components(self) -> dict[int, str]:
        found = {}
        for f in self.run_dir.glob("*.pid"):
            try:
                found[int(f.read_text().strip())] = f.stem
            except (OSError, ValueError):
                continue
        return found

    def sample(self, first: bool = False) -> None:
        components = self._components()
        procs = {}
        for pid in os.listdir("/proc"):
            if pid.isdigit() and (info := _read(pid)):
                procs[int(pid)] = info
        for pid, (_, cpu, cmd, started) in procs.items():
            key = (pid, started)
            if first:
                self.baseline[key] = cpu
            component = "tasks" if is_task(cmd) else None
            walk, seen = pid, 0
            while component is None and walk in procs and seen < 64:
                component = components.get(walk)
                walk, seen = procs[walk][0], seen + 1
            if component is None:
                component = "postgres" if cmd.startswith("postgres") else "other"
            if not cmd and key in self.last:  # an ended process not yet reaped has no command line: keep where it was counted
                component = self.last[key][0]
            self.last[key] = (component, cpu)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> CpuSampler:
        self.sample(first=True)
        self._thread.start()
        return self

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        self.sample()
        return self.totals()

    def totals(self) -> dict:
        """``{"by_component": {name: seconds}, "stack": seconds}`` since ``start()``; ``stack`` leaves out ``other``."""
        by: dict[str, float] = {}
        for key, (component, cpu) in self.last.items():
            by[component] = by.get(component, 0.0) + cpu - self.baseline.get(key, 0.0)
        by = {k: round(v, 1) for k, v in sorted(by.items(), key=lambda kv: -kv[1])}
        return {"by_component": by, "stack": round(sum(v for k, v in by.items() if k != "other"), 1), "interval_s": self.interval}


if __name__ == "__main__":  # a quick look: python bench/proc_cpu.py <run dir> <seconds>
    import json
    import sys

    sampler = CpuSampler(Path(sys.argv[1])).start()
    time.sleep(float(sys.argv[2]))
    print(json.dumps(sampler.stop(), indent=2))
