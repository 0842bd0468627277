"""A real Airflow + MLflow stack for tests: `scripts/run.sh` in a throw-away home on spare ports.

The same script and settings as `make run` (api-server, scheduler, dag-processor, triggerer,
MLflow server), so what passes here is what a user starts. Stopped by PID with
`scripts/stop.sh` at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
#: A viewer limited to the backfill dataset's DAGs by the live stack's auth manager (tests/live/authz).
SCOPED_USER = "scoped"
SCOPED_DAGS = ["live_backfill", "live_backfill_promotion", "live_backfill_rollback"]


@dataclass
class LiveStack:
    home: Path
    env: dict[str, str]
    api: str
    mlflow: str
    _tokens: dict[str, str] = field(default_factory=dict, repr=False)
    #: Ports, secrets and TLS files of the alert receivers (tests/live/conftest.py).
    alerts: dict = field(default_factory=dict, repr=False)

    def start(self) -> LiveStack:
        proc = subprocess.run(["bash", "scripts/run.sh"], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"scripts/run.sh failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return self

    def stop(self) -> None:
        subprocess.run(["bash", "scripts/stop.sh"], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=300)

    @property
    def password(self) -> str:
        return self.password_of("admin")

    def password_of(self, user: str) -> str:
        return json.loads((self.home / "airflow" / "passwords.json").read_text())[user]

    def token(self, user: str = "admin") -> str:
        if user not in self._tokens:
            r = httpx.post(f"{self.api}/auth/token", json={"username": user, "password": self.password_of(user)}, timeout=30)
            r.raise_for_status()
            self._tokens[user] = r.json()["access_token"]
        return self._tokens[user]

    def call(self, method: str, path: str, *, user: str = "admin", timeout: float = 60, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(user)}"}
        return httpx.request(method, f"{self.api}{path}", headers=headers, timeout=timeout, **kwargs)

    def stop_component(self, name: str, timeout: float = 60) -> None:
        """SIGTERM one component started by scripts/run.sh (its whole session) and wait until it is gone.

        ``start()`` brings it back: run.sh starts whatever is not running.
        """
        pid_file = self.home / "airflow" / "run" / f"{name}.pid"
        pid = int(pid_file.read_text())
        os.killpg(pid, signal.SIGTERM)  # run.sh starts each component as a session (and group) leader
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                pid_file.unlink(missing_ok=True)
                return
            time.sleep(0.5)
        os.killpg(pid, signal.SIGKILL)
        pid_file.unlink(missing_ok=True)

    def ok(self, method: str, path: str, **kwargs) -> dict:
        r = self.call(method, path, **kwargs)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text[:500]}"
        return r.json() if r.content else {}

    def every(self, path: str, key: str, params: dict | None = None, page: int = 100) -> list[dict]:
        """Every item of a paged REST list (``limit``/``offset``; Airflow caps ``limit`` at 100 by default)."""
        items: list[dict] = []
        while True:
            got = self.ok("GET", path, params={**(params or {}), "limit": page, "offset": len(items)})
            items += got[key]
            if not got[key] or len(items) >= got["total_entries"]:
                return items

    def create_backfill(self, body: dict, attempts: int = 10) -> dict:
        """``POST /api/v2/backfills`` once the DAG has no queued or running run and the scheduler
        has had a few seconds for its bookkeeping; a 503 ("Database is locked") is tried again.

        On SQLite, Airflow 3.3 used to refuse a backfill when another process committed while
        it created the runs ("database is locked" at once, whatever the busy timeout), deleting
        the runs it had created under the scheduler; ``mlops.airflow.db`` now makes that
        write wait for its lock (``bench/backfill_bench.py`` creates a year's runs that way).
        Waiting for a quiet DAG keeps the tests' run order simple, and a 503 is still retried.
        """
        dag_id = body["dag_id"]
        self.wait_for(
            f"{dag_id} to have no queued or running run",
            lambda: not self.ok("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"state": ["queued", "running"]})["dag_runs"],
            timeout=900,
        )
        time.sleep(5)
        for _ in range(attempts):
            r = self.call("POST", "/api/v2/backfills", json=body)
            if r.status_code != 503 or "Database is locked" not in r.text:
                break
            time.sleep(3)
        assert r.status_code < 300, f"POST /api/v2/backfills: {r.status_code} {r.text[:500]}"
        return r.json()

    def wait_for(self, what: str, probe, timeout: float = 600, every: float = 3):
        """Poll ``probe()`` until it returns a truthy value; fail with the last value and the logs' tails."""
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            last = probe()
            if last:
                return last
            time.sleep(every)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; last seen: {last}\n{self.log_tails()}")

    def log_tails(self, n: int = 15) -> str:
        logs = self.home / "airflow" / "logs"
        return "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-n:]) for p in sorted(logs.glob("*.log")))

    def unpause(self, dag_id: str) -> None:
        self.wait_for(f"{dag_id} to be parsed", lambda: self.call("GET", f"/api/v2/dags/{dag_id}").status_code == 200, timeout=180)
        self.ok("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, logical_date: str | None, conf: dict | None = None) -> str:
        body = {"logical_date": logical_date, "conf": conf or {}}
        return self.ok("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.ok("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 900) -> str:
        state = self.wait_for(
            f"{dag_id}/{run_id} to finish",
            lambda: (s := self.run_state(dag_id, run_id)) in ("success", "failed") and s,
            timeout=timeout,
        )
        return state

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        tis = self.ok("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {t["task_id"]: t["state"] for t in tis}


def live_stack(tmp: Path, *, api_port: int = 18080, mlflow_port: int = 15000, extra_env: dict | None = None) -> LiveStack:
    airflow_home = tmp / "airflow"
    api = f"http://127.0.0.1:{api_port}"
    env = dict(os.environ)
    env.pop("AIRFLOW__CORE__EXECUTOR", None)  # the stack's own default (scripts/env.sh), not the test run's
    env.pop("MLOPS_DEADLINE_ALERTS", None)  # off for dag.test() runs only (scripts/test.sh); the stack has its deadlines
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home}/airflow.db",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(airflow_home / "passwords.json"),
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": api,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "MLOPS_HOME": str(airflow_home / "data"),
            "MLOPS_MLFLOW_PORT": str(mlflow_port),
            "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{mlflow_port}",
            **(extra_env or {}),
        }
    )
    env.pop("MLOPS_MLFLOW_UI_URL", None)
    return LiveStack(home=tmp, env=env, api=api, mlflow=f"http://127.0.0.1:{mlflow_port}")
