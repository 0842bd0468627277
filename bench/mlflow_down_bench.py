"""How long the Models page takes to say that MLflow is down.

    . .venv/bin/activate && python bench/mlflow_down_bench.py [--repeat 5] [--api-port 18080] [--mlflow-port 15000]

Starts the `make run` stack (scripts/run.sh) in a throw-away home on spare ports, times the
page (``GET /mlops/models?dataset=synthetic``) and its JSON (``/mlops/api/models/synthetic``)
with MLflow up, with the MLflow server frozen (SIGSTOP: connections are accepted, nothing
answers), and with it stopped; each time until they answer (503 with the reason). MLflow's own client would retry for ~4 minutes; the page's calls are
bounded (5 s per request, one retry, ``MLOPS_UI_MLFLOW_TIMEOUT``). Prints the median and the
maximum; results go to ``bench/results/mlflow-down.json``. Never fails on a timing.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from record import save  # noqa: E402

from live.stack import live_stack  # noqa: E402

PATHS = {"page": ("/mlops/models", {"dataset": "synthetic"}), "json": ("/mlops/api/models/synthetic", {})}


def timed(stack, path: str, params: dict) -> tuple[float, int]:
    started = time.perf_counter()
    r = stack.call("GET", path, params=params, timeout=600)
    return time.perf_counter() - started, r.status_code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--api-port", type=int, default=18080)
    parser.add_argument("--mlflow-port", type=int, default=15000)
    args = parser.parse_args()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="mlflow-down-bench-") as tmp:
        stack = live_stack(Path(tmp), api_port=args.api_port, mlflow_port=args.mlflow_port)
        print("starting the stack (scripts/run.sh) ...", flush=True)
        frozen = False
        try:  # a stack that fails to start is stopped too
            stack.start()
            pid = int((Path(tmp) / "airflow" / "run" / "mlflow.pid").read_text())
            for state in ("up", "hung", "down"):
                if state == "hung":
                    os.killpg(pid, signal.SIGSTOP)  # its session: the server and its workers
                    frozen = True
                if state == "down":
                    os.killpg(pid, signal.SIGCONT)
                    frozen = False
                    stack.stop_component("mlflow")
                for name, (path, params) in PATHS.items():
                    runs = [timed(stack, path, params) for _ in range(args.repeat)]
                    seconds = [s for s, _ in runs]
                    results[f"{name}, MLflow {state}"] = {
                        "median_s": round(statistics.median(seconds), 3),
                        "max_s": round(max(seconds), 3),
                        "status": sorted({code for _, code in runs}),
                    }
                    print(
                        f"{name:5s} MLflow {state:4s}: median {statistics.median(seconds):.3f} s, max {max(seconds):.3f} s, "
                        f"HTTP {sorted({code for _, code in runs})}",
                        flush=True,
                    )
        finally:
            if frozen:
                os.killpg(pid, signal.SIGCONT)
            stack.stop()
    save("mlflow-down", {"repeat": args.repeat, "results": results})


if __name__ == "__main__":
    try:
        main()
    except httpx.HTTPError as e:
        sys.exit(f"mlflow_down_bench: {type(e).__name__}: {e}")
