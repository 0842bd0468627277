"""Load time of the Models page (the plugin inside Airflow's api-server) with a year of history.

    . .venv/bin/activate && python bench/models_page_bench.py [--days 365] [--versions 120] [--promotions 60] [--repeat 20]

Starts the `make run` stack (scripts/run.sh: MLflow server, api-server, scheduler, ...) in a
throw-away home on spare ports, with one extra dataset, ``benchui``. Then fills a year of
history the way the pipeline leaves it: one drift report per day (the flights replay's 13
features, scores from a seeded random walk, ~10 % drifted days), a validation mark per day,
``--versions`` model versions registered from as many MLflow runs with metrics and gate tags,
``--promotions`` champion moves in the promotion history, aliases ``champion``,
``previous`` and ``challenger``. It then times, through the api-server with an API token:
the page (``GET /mlops/models?dataset=benchui``) and its JSON (``/mlops/api/models/benchui``):
the first request after start-up, then ``--repeat`` more; prints the median and the maximum.
With ``--screenshot PATH`` it also logs in with Chromium and times opening *Models* in the
UI (Airflow's UI, then the embedded page) until the drift charts are drawn, then saves a
screenshot. Goal: under 1 s. Results go to ``bench/results/models-page.json``. Never fails on
a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from record import save  # noqa: E402

from live.browser import launch, log_in  # noqa: E402
from live.stack import live_stack  # noqa: E402

FEATURES = ["dep_delay", "distance", "air_time", "hour", "month_day", "temp", "wind_speed", "precip", "visib", "carrier", "origin", "dest", "weekday"]


def fill_reports(home: Path, days: int, rng: random.Random) -> date:
    first = date(2013, 1, 1)
    walk = {f: 0.03 for f in FEATURES}
    for i in range(days):
        day = first + timedelta(days=i)
        features = []
        for f in FEATURES:
            walk[f] = min(max(walk[f] + rng.gauss(0, 0.01), 0.0), 0.3)
            categorical = f in ("carrier", "origin", "dest", "weekday")
            features.append(
                {
                    "feature": f,
                    "kind": "categorical" if categorical else "numeric",
                    "method": "shares_chi2" if categorical else "wasserstein_ks",
                    "score": walk[f],
                    "threshold": 0.1,
                    "drifted": walk[f] > 0.1,
                    "p_value": None,
                }
            )
        drifted = [f["feature"] for f in features if f["drifted"]]
        out = home / "reports" / "benchui" / "drift" / f"ds={day}"
        out.mkdir(parents=True, exist_ok=True)
        (out / "drift.json").write_text(
            json.dumps(
                {
                    "title": f"bench {day}",
                    "dataset_drift": len(drifted) > 6,
                    "drift_share": len(drifted) / len(FEATURES),
                    "drifted_features": drifted,
                    "tested": len(FEATURES),
                    "features": features,
                }
            )
        )
        (out / "drift.html").write_text(f"<html><body>drift {day}</body></html>")
        lake = home / "lake" / "benchui"
        lake.mkdir(parents=True, exist_ok=True)
        (lake / f"ds={day}.validation.json").write_text(
            json.dumps({"success": True, "evaluated_expectations": 43, "failed_expectations": [], "suite": "benchui.partition"})
        )
    return first


def fill_registry(client, versions: int, promotions: int, first: date, days: int, rng: random.Random) -> str:
    name = "benchui_model"
    exp = client.create_experiment("mlops/benchui")
    client.create_registered_model(name)
    for v in range(1, versions + 1):
        run = client.create_run(exp)
        for metric in ("roc_auc", "average_precision", "log_loss", "f1", "precision", "recall", "fit_seconds"):
            client.log_metric(run.info.run_id, metric, rng.uniform(0.5, 0.95))
        client.set_terminated(run.info.run_id)
        mv = client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
        end = first + timedelta(days=int(v * days / versions))
        for gate in ("lineage", "floors", "beats_champion", "serving"):
            client.set_model_version_tag(name, mv.version, f"mlops.gate.{gate}", json.dumps({"passed": True, "detail": "bench"}))
        client.set_model_version_tag(name, mv.version, "mlops.gates_passed", "true")
        client.set_model_version_tag(
            name, mv.version, "mlops.training_window", json.dumps([f"{end - timedelta(days=28)}T00:00:00+00:00", f"{end}T00:00:00+00:00"])
        )
    step = max(versions // promotions, 1)
    for seq in range(1, promotions + 1):
        entry = {
            "seq": seq,
            "time": f"{first + timedelta(days=int(seq * days / promotions))}T03:00:00+00:00",
            "kind": "promotion",
            "version": str(min(seq * step, versions)),
            "from_version": str(max((seq - 1) * step, 1)),
            "approved_by": "alice",
            "comment": "bench",
        }
        client.set_registered_model_tag(name, f"mlops.history.{seq:06d}", json.dumps(entry))
    client.set_registered_model_alias(name, "champion", str(versions - 1))
    client.set_registered_model_alias(name, "previous", str(versions - 2))
    client.set_registered_model_alias(name, "challenger", str(versions))
    return name


def browser_load(stack, screenshot: Path, loads: int) -> dict:
    """Log in, open Models in the UI, time the embedded page until its charts are there; screenshot."""
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1250})
        log_in(page, stack)
        for _ in range(loads):
            t = time.perf_counter()
            page.goto(f"{stack.api}/plugin/models")  # Airflow's UI, then the page in its frame
            page.frame_locator("iframe").locator('#drift-charts [data-feature="wind_speed"] svg').wait_for()
            times.append(time.perf_counter() - t)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot))
        browser.close()
    return {"ui_to_charts_seconds": [round(x, 3) for x in times], "median_seconds": round(statistics.median(times), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--versions", type=int, default=120)
    parser.add_argument("--promotions", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--screenshot", type=Path, help="also save a screenshot of the page inside the Airflow UI (Debian's chromium)")
    parser.add_argument("--browser-loads", type=int, default=5, help="page loads timed in the browser (with --screenshot)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mlops-models-bench."))
    datasets = tmp / "datasets"
    datasets.mkdir()
    spec = yaml.safe_load((ROOT / "include" / "datasets" / "synthetic.yaml").read_text())
    spec.update(
        {
            "name": "benchui",
            "registered_model_name": "benchui_model",
            "dag": {
                "dag_id": "bench_ui",
                "promotion_dag_id": "bench_ui_promotion",
                "rollback_dag_id": "bench_ui_rollback",
                "schedule": None,
                "start_date": "2013-01-01",
            },
        }
    )
    (datasets / "benchui.yaml").write_text(yaml.safe_dump(spec))
    stack = live_stack(tmp, api_port=38180, mlflow_port=35100, extra_env={"MLOPS_DATASETS_DIR": str(datasets)})
    rng = random.Random(7)
    result: dict = {"days": args.days, "versions": args.versions, "promotions": args.promotions}
    try:
        stack.start()
        from mlflow import MlflowClient

        t = time.perf_counter()
        first = fill_reports(tmp / "airflow" / "data", args.days, rng)
        fill_registry(MlflowClient(tracking_uri=stack.mlflow, registry_uri=stack.mlflow), args.versions, args.promotions, first, args.days, rng)
        result["fill_seconds"] = round(time.perf_counter() - t, 1)
        stack.wait_for("the bench DAG", lambda: stack.call("GET", "/api/v2/dags/bench_ui").status_code == 200, timeout=180)
        for label, path in (("page", "/mlops/models?dataset=benchui"), ("json", "/mlops/api/models/benchui")):
            times, size = [], 0
            for _ in range(args.repeat + 1):
                t = time.perf_counter()
                r = stack.call("GET", path)
                times.append(time.perf_counter() - t)
                assert r.status_code == 200, (path, r.status_code, r.text[:300])
                size = len(r.content)
            result[label] = {
                "first_seconds": round(times[0], 3),
                "median_seconds": round(statistics.median(times[1:]), 3),
                "max_seconds": round(max(times[1:]), 3),
                "bytes": size,
            }
        if args.screenshot:
            result["browser"] = browser_load(stack, args.screenshot, args.browser_loads)
        data = stack.ok("GET", "/mlops/api/models/benchui")
        result["check"] = {"drift_days": len(data["drift"]["days"]), "history": len(data["history"]), "champion": data["aliases"]["champion"]["version"]}
        result["load_average"] = os.getloadavg()
    finally:
        stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result, indent=2))
    save("models-page", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
