"""CPU the stack burns while nothing runs, with the shipped datasets or many generated ones.

    . .venv/bin/activate && python bench/idle_bench.py [--configs 200] [--idle-sleep 1.0] [--seconds 120]

Starts the stack with ``scripts/run.sh`` in a throw-away home on spare ports (as ``make run``;
DAGs paused at creation, the default), with ``--configs N`` generated dataset configs
(variants of ``synthetic.yaml``, 3 DAGs each, as ``bench/parse_bench.py --configs``) instead of
the shipped ones. It waits until the dag-processor has stored every DAG, lets the stack
settle for ``--settle`` seconds, then reads each component's CPU time (its process and
children, from ``/proc``) over ``--seconds`` and prints it as a share of one core. Then it
times the Models page's index (``GET /mlops/api/datasets`` and the page ``/mlops/models``;
median of ``--repeat``, first request apart). ``--idle-sleep`` sets the scheduler's
``scheduler_idle_sleep_time`` for the run (the stack's default otherwise), so its cost can be
compared. Results go to ``bench/results/idle-<configs>.json``. Never fails on a figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from proc_cpu import CpuSampler  # noqa: E402
from record import save  # noqa: E402

from live.stack import live_stack  # noqa: E402

COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server", "mlflow")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", type=int, default=0, help="generated dataset configs (0: the shipped ones)")
    parser.add_argument("--idle-sleep", type=float, default=None, help="scheduler_idle_sleep_time for this run (seconds)")
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--settle", type=float, default=60)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mlops-idle-bench."))
    extra: dict[str, str] = {}
    if args.configs:
        from parse_bench import generate_configs

        folder = tmp / "datasets"
        folder.mkdir()
        generate_configs(folder, args.configs)
        extra["MLOPS_DATASETS_DIR"] = str(folder)
    if args.idle_sleep is not None:
        extra["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"] = str(args.idle_sleep)
    stack = live_stack(tmp, api_port=38180, mlflow_port=35100, extra_env=extra)
    result: dict = {"configs": args.configs, "idle_sleep": args.idle_sleep or stack.env.get("AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME")}
    t0 = time.perf_counter()
    try:  # a stack that fails to start is stopped too
        stack.start()
        expected = 3 * args.configs if args.configs else None

        def parsed():
            n = stack.ok("GET", "/api/v2/dags", params={"limit": 1, "paused": "true"})["total_entries"]
            return n if (expected is None and n) or (expected is not None and n >= expected) else None

        dags = stack.wait_for("every DAG stored", parsed, timeout=1800, every=5)
        result["dags"] = dags
        result["stack_ready_seconds"] = round(time.perf_counter() - t0, 1)
        time.sleep(args.settle)
        run = stack.home / "airflow" / "run"
        running = [name for name in COMPONENTS if (run / f"{name}.pid").exists()]
        sampler = CpuSampler(run, interval=args.seconds).start()  # one reading at each end: nothing added to the idle load
        t = time.perf_counter()
        time.sleep(args.seconds)
        wall = time.perf_counter() - t
        by_component = sampler.stop()["by_component"]
        result["cpu_share_of_one_core"] = {name: round(by_component.get(name, 0.0) / wall, 3) for name in running}
        result["cpu_share_total"] = round(sum(result["cpu_share_of_one_core"].values()), 3)
        result["load_average"] = os.getloadavg()
        pages = {}
        for label, path in (("datasets_json", "/mlops/api/datasets"), ("models_page", "/mlops/models")):
            times = []
            for _ in range(args.repeat + 1):
                s = time.perf_counter()
                r = stack.call("GET", path)
                times.append(time.perf_counter() - s)
                assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text[:300]}"
            pages[label] = {"first": round(times[0], 3), "median": round(statistics.median(times[1:]), 3), "bytes": len(r.content)}
        result["pages"] = pages
    finally:
        stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result, indent=2))
    save(f"idle-{args.configs}", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
